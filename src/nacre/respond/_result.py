"""What the responder produces, and the plan it works from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nacre.respond._chain import SafetyChain
from nacre.respond._contracts import ContractReport
from nacre.strategy import Strategy


@dataclass(frozen=True, slots=True)
class ResponseResult:
    """A reply and how it was produced.

    Attributes:
        text: The reply to show the user.
        chain: The reasoning chain that steered generation.
        strategy: The strategy the reply was written under.
        checks: The contract report of the final text.
        attempts: Model calls made (0 if the model was never reached).
        repaired: Whether the final text needed fixing: a regeneration, or a curated sentence appended.
        fallback_used: Whether the text was composed from curated snippets instead of generated.
        timings: Milliseconds per stage (``chain``, ``generate``, ``check``, ``total``).
        resources_appended: Whether the locale's crisis contacts were appended to a generated reply.
        appended: The required elements supplied by a curated sentence after a generated reply
            (``crisis_resources``, ``care_note``).
        interrupted: For streams: whether generation was stopped because the growing text tripped a check.
        locale: The locale whose crisis contacts applied.
        model_id: The generator.
        attempt_reports: The contract report of each generated draft, in order.
        error: The model error that forced the fallback, if any.
    """

    text: str
    chain: SafetyChain
    strategy: Strategy
    checks: ContractReport
    attempts: int
    repaired: bool
    fallback_used: bool
    timings: Mapping[str, float] = field(default_factory=dict)
    resources_appended: bool = False
    appended: tuple[str, ...] = ()
    interrupted: bool = False
    locale: str = "default"
    model_id: str = ""
    attempt_reports: tuple[ContractReport, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "text": self.text,
            "chain": self.chain.to_dict(),
            "strategy": self.strategy,
            "checks": self.checks.to_dict(),
            "attempts": self.attempts,
            "repaired": self.repaired,
            "fallback_used": self.fallback_used,
            "resources_appended": self.resources_appended,
            "appended": list(self.appended),
            "interrupted": self.interrupted,
            "locale": self.locale,
            "model_id": self.model_id,
            "attempt_reports": [r.to_dict() for r in self.attempt_reports],
            "error": self.error,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything fixed before generation: strategy, language, locale, chain, system prompt, crisis contacts.

    ``offers_resources`` says whether the system prompt hands the generator the crisis contacts (a ``support`` reply,
    or a person who seems at risk): a curated reply that replaces the generator's must then carry them too.
    """

    strategy: Strategy
    category: str
    lang: str
    locale: str | None
    locale_key: str
    chain: SafetyChain
    system: str
    resources: str
    offers_resources: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a run of drafts: the accepted text (``None`` if every draft failed) and what it took."""

    text: str | None
    report: ContractReport | None
    reports: tuple[ContractReport, ...]
    attempts: int
    appended: tuple[str, ...] = ()
    error: str | None = None
    generate_ms: float = 0.0
    check_ms: float = 0.0

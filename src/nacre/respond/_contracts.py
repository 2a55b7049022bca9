"""Response contracts: what a reply under each strategy must and must not contain, checked deterministically.

The contracts live in ``data/respond/contracts.json``: lexicons of regular expressions (English and Chinese), checks
built on them, and per strategy the list of required and forbidden checks. Everything here is fast and
deterministic; the only optional, slower check is the reply's own risk through an injected assessor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from nacre.assess import ConversationAssessment
from nacre.conversation import Conversation
from nacre.judge import PatternRefusalJudge
from nacre.respond._chain import SafetyChain
from nacre.respond._contract_spec import CheckSpec, Contracts
from nacre.respond._leaks import DEFAULT_MIN_WORDS, chain_leaks
from nacre.respond._prompt import prompt_instructions
from nacre.respond._snippets import CrisisDirectory, CrisisResource, LocaleResources, load_crisis_directory
from nacre.strategy import Strategy

logger = logging.getLogger(__name__)

CheckRole = Literal["required", "forbidden"]
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_CJK = re.compile(r"[\u3400-\u9fff]")
_COMPLYING = ("comply", "comply_with_care")
RISK_CHECK = "reply_risk"


def word_count(text: str) -> int:
    """Words in a text: Latin-script words plus one per two Chinese characters."""
    return len(_WORD.findall(text)) + (len(_CJK.findall(text)) + 1) // 2


def _normalize(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check on one reply.

    Attributes:
        id: The check id.
        role: ``required`` (an element the reply must contain) or ``forbidden`` (one it must not).
        passed: Whether the reply satisfies the check.
        detail: What was found or missing, for a person to read.
        description: What the check means.
    """

    id: str
    role: CheckRole
    passed: bool
    detail: str = ""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"id": self.id, "role": self.role, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ContractReport:
    """Every check of a strategy's contract on one reply.

    Attributes:
        strategy: The strategy whose contract was checked.
        checks: Each check, required ones first.
    """

    strategy: Strategy
    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if not c.passed)

    @property
    def missing(self) -> tuple[str, ...]:
        """Ids of required elements the reply lacks."""
        return tuple(c.id for c in self.failures if c.role == "required")

    @property
    def violations(self) -> tuple[str, ...]:
        """Ids of forbidden elements the reply contains."""
        return tuple(c.id for c in self.failures if c.role == "forbidden")

    @property
    def over_refusal(self) -> bool:
        """Whether a reply that should have helped refused or hedged instead."""
        return self.strategy in _COMPLYING and "no_over_refusal" in self.violations

    def get(self, check_id: str) -> CheckResult | None:
        """The result of one check, if it ran."""
        return next((c for c in self.checks if c.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "strategy": self.strategy,
            "passed": self.passed,
            "over_refusal": self.over_refusal,
            "checks": [c.to_dict() for c in self.checks],
        }


class ReplyAssessor(Protocol):
    """Anything that assesses a conversation's risk, such as :class:`nacre.assess.Assessor`."""

    async def assess(self, conversation: Conversation) -> ConversationAssessment:
        """Assess the conversation."""
        ...


def _contact_patterns(resource: CrisisResource) -> tuple[re.Pattern[str], ...]:
    out: list[re.Pattern[str]] = []
    for group in re.findall(r"\+?\d[\d\s().-]*\d", resource.contact):
        digits = re.sub(r"\D", "", group)
        if len(digits) >= 3:
            # Accept the number however it is spaced or punctuated, but not inside a longer number.
            out.append(re.compile(r"(?<!\d)" + r"[\s().-]*".join(digits) + r"(?!\d)"))
    if resource.kind == "web":
        address = re.sub(r"^(?:https?://)?(?:www\.)?", "", resource.contact.strip().lower()).rstrip("/")
        out.append(re.compile(re.escape(address), re.IGNORECASE))
    if not out:
        # No number or address (e.g. "your local emergency number"): the service's name has to appear, in any of
        # the languages it is listed in.
        for full in resource.names():
            name = re.sub(r"\s*[（(][^)）]*[)）]\s*$", "", full).strip()
            out.append(re.compile(re.escape(name), re.IGNORECASE))
    return tuple(out)


def _snippet(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ContractChecker:
    """Checks replies against their strategy's contract.

    Args:
        contracts: The contracts; ``None`` loads the shipped ones.
        directory: Crisis services for the ``crisis_resources`` check; ``None`` loads the shipped ones.
        assessor: Optional: also assess each reply's own risk (``reply_risk``) in :meth:`acheck`.
        min_leak_words: Shortest run of copied chain words that counts as a leak.

    Raises:
        ConfigError: If shipped data is needed and cannot be loaded.
    """

    def __init__(
        self,
        contracts: Contracts | None = None,
        directory: CrisisDirectory | None = None,
        *,
        assessor: ReplyAssessor | None = None,
        min_leak_words: int = DEFAULT_MIN_WORDS,
    ) -> None:
        self.contracts = contracts or Contracts.load()
        self.directory = directory or load_crisis_directory()
        self.assessor = assessor
        self.min_leak_words = min_leak_words
        # The assessor reads text as a request; a refusal names the harm it declines ("it could seriously hurt
        # people") and reads as risky, so a reply the refusal patterns call a refusal is not failed for that.
        self.refusals = PatternRefusalJudge() if assessor is not None else None

    def _hits(self, spec: CheckSpec, text: str) -> list[str]:
        found: list[str] = []
        for name in spec.lexicons:
            for pattern in self.contracts.lexicons[name]:
                matches = [m.group(0) for m in pattern.regex.finditer(text)]
                if len(matches) >= pattern.min_count:
                    found.extend(matches)
        return found

    def _resources_present(self, spec: CheckSpec, text: str, resources: LocaleResources) -> tuple[bool, str]:
        for resource in resources.resources:
            for pattern in _contact_patterns(resource):
                if pattern.search(text):
                    return True, f"{resource.name} ({resources.locale})"
        if not resources.resources:
            # No reviewed list for this locale: accept any clear pointer to crisis help.
            hits = self._hits(spec, text)
            if hits:
                return True, f"generic crisis pointer {_snippet(hits[0])!r}; no reviewed list for this locale"
            return False, "no crisis pointer; no reviewed list for this locale"
        return False, f"none of the {resources.locale} crisis contacts"

    def _run(
        self,
        spec: CheckSpec,
        role: CheckRole,
        text: str,
        chain: SafetyChain,
        resources: LocaleResources,
        lang: str,
        strategy: Strategy,
    ) -> CheckResult:
        description = spec.text(spec.description, lang)
        passed, detail = True, ""
        if spec.kind == "present":
            hits = self._hits(spec, text)
            words = word_count(text)
            passed = bool(hits) and words >= spec.min_words
            if spec.max_count is not None and len(hits) > spec.max_count:
                passed, detail = False, f"{len(hits)} matches, at most {spec.max_count} allowed"
            elif not hits:
                detail = "not found"
            elif not passed:
                detail = f"only {words} words, at least {spec.min_words} needed"
            else:
                detail = f"found {_snippet(hits[0])!r}"
        elif spec.kind == "absent":
            hits = self._hits(spec, text)
            passed = not hits
            if hits:
                detail = (f"{spec.label}: " if spec.label else "") + f"found {_snippet(hits[0])!r}"
        elif spec.kind == "substance":
            words = word_count(text)
            passed = words >= spec.min_words
            detail = f"{words} words" + ("" if passed else f", at least {spec.min_words} needed")
        elif spec.kind == "resources":
            passed, detail = self._resources_present(spec, text, resources)
        else:
            instructions = prompt_instructions(strategy, lang=lang)
            leaks = chain_leaks(text, chain, min_words=self.min_leak_words, prompt_text=instructions)
            passed, detail = not leaks, "; ".join(leaks)
        return CheckResult(spec.id, role, passed, detail, description)

    def check(
        self, reply: str, strategy: Strategy, chain: SafetyChain, *, lang: str, locale: str | None = None
    ) -> ContractReport:
        """Check a reply against its strategy's contract (deterministic; no model calls).

        Args:
            reply: The reply text.
            strategy: The strategy it was written under.
            chain: The chain that steered it (for the leak check).
            lang: The reply language, for descriptions.
            locale: Region for the crisis-contacts check.

        Returns:
            One result per check, required ones first.
        """
        contract = self.contracts.contracts[strategy]
        text = _normalize(reply)
        resources = self.directory.resolve(locale, lang)
        roles: tuple[tuple[CheckRole, tuple[str, ...]], ...] = (
            ("required", contract.required),
            ("forbidden", contract.forbidden),
        )
        results = [
            self._run(self.contracts.checks[cid], role, text, chain, resources, lang, strategy)
            for role, ids in roles
            for cid in ids
        ]
        return ContractReport(strategy, tuple(results))

    async def acheck(
        self, reply: str, strategy: Strategy, chain: SafetyChain, *, lang: str, locale: str | None = None
    ) -> ContractReport:
        """Like :meth:`check`, plus the reply's own risk when an assessor was given.

        The reply is assessed on its own, as a single message; ``reply_risk`` fails if the assessor calls it
        harmful at severity 2 or more, unless the fast refusal patterns call it a (whole, not partial) refusal:
        the assessor reads the harm a refusal names as if it were asked for. An assessor error is logged and the
        check is skipped.
        """
        report = self.check(reply, strategy, chain, lang=lang, locale=locale)
        if self.assessor is None or not reply.strip():
            return report
        try:
            risk = (await self.assessor.assess(Conversation.from_text(reply))).conversation
        except Exception:  # the risk check is an extra; its failure must not block a reply
            logger.exception("respond: assessing the reply's own risk failed; skipping that check")
            return report
        passed = not (risk.harmful and risk.severity >= 2)
        detail = f"{risk.category}, severity {risk.severity}, p(harm)={risk.harm_probability:.2f}"
        if not passed and self.refusals is not None:
            verdict = self.refusals.score("", reply)
            if verdict.label == "refusal" and not verdict.details.get("partial"):
                passed, detail = True, f"{detail}, but it declines (refusal patterns)"
        result = CheckResult(RISK_CHECK, "forbidden", passed, detail, "The reply itself is not harmful.")
        return ContractReport(report.strategy, (*report.checks, result))

    def forbidden_failures(self, text: str, strategy: Strategy, chain: SafetyChain, *, lang: str) -> list[CheckResult]:
        """Run only the lexicon and leak checks of forbidden elements (for checking a stream as it grows).

        Returns:
            The failed checks; empty if the text is clean.
        """
        contract = self.contracts.contracts[strategy]
        normalized = _normalize(text)
        empty = LocaleResources("default", lang, ())
        out = []
        for cid in contract.forbidden:
            spec = self.contracts.checks[cid]
            if spec.kind in ("absent", "leak"):
                result = self._run(spec, "forbidden", normalized, chain, empty, lang, strategy)
                if not result.passed:
                    out.append(result)
        return out

    def repair_instructions(self, failures: Sequence[CheckResult], *, lang: str, resources: str) -> list[str]:
        """The instructions that tell the generator how to fix the failed checks.

        Args:
            failures: Failed checks.
            lang: Language of the instructions.
            resources: The formatted crisis contacts, for the ``crisis_resources`` instruction.
        """
        out: list[str] = []
        for failure in failures:
            spec = self.contracts.checks.get(failure.id)
            text = spec.text(spec.repair, lang) if spec is not None else ""
            if not text:
                text = failure.description or failure.id
            out.append(text.replace("{resources}", resources))
        return list(dict.fromkeys(out))


def check(
    reply: str, strategy: Strategy, chain: SafetyChain, *, lang: str, locale: str | None = None
) -> ContractReport:
    """Check a reply against its strategy's contract with the shipped contracts and crisis resources.

    This loads the data on every call; keep a :class:`ContractChecker` for repeated checks.

    Args:
        reply: The reply text.
        strategy: The strategy it was written under.
        chain: The chain that steered it.
        lang: The reply language.
        locale: Region for the crisis-contacts check.
    """
    return ContractChecker().check(reply, strategy, chain, lang=lang, locale=locale)

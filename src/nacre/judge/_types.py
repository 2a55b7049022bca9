"""Value types shared by every judge: one audited LLM call, and a score."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nacre.store import ScoreRecord

RefusalLabel = Literal["refusal", "compliance", "unsure"]
RubricLabel = Literal["success", "failure", "error"]


@dataclass(frozen=True, slots=True)
class JudgeCall:
    """One LLM call made by a judge, kept whole for audits.

    Attributes:
        model_id: The judge model's full id, e.g. ``openai/gpt-4o-mini``.
        prompt: The OpenAI chat messages sent.
        raw: The model's raw output (empty when the call failed before any text came back).
        prompt_tokens: Prompt tokens, as the backend counted them.
        completion_tokens: Generated tokens.
        latency_s: Wall-clock seconds of the call.
        error: Why this call gave no usable answer (invalid JSON, out-of-range field, provider error), or ``None``.
    """

    model_id: str
    prompt: tuple[dict[str, Any], ...]
    raw: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The call as a JSON-serialisable dict."""
        return {
            "model_id": self.model_id,
            "prompt": [dict(m) for m in self.prompt],
            "raw": self.raw,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": self.latency_s,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Score:
    """A judge's verdict on one response.

    Attributes:
        judge_id: Which judge, pinned: ``<prompt id>@<version>[:<model id>]#<sha256 prefix of the prompt text>``,
            e.g. ``strongreject@1:openai/gpt-4o-mini#3f2a9c1b``.
        value: Refusal judges: P(refused) in [0, 1]. Rubric: the StrongREJECT score in [0, 1]. Progress: 0..1.
            ``None`` when the judge gave no usable answer.
        label: Refusal judges: ``refusal``, ``compliance`` or ``unsure``. Rubric: ``success``, ``failure`` or
            ``error``. Progress: ``None``, or ``error``.
        explanation: The judge's reason, or what went wrong.
        raw: The raw judge output of the deciding call (for the pattern tier: the matched patterns, as JSON).
        calls: Every LLM call the judge made for this score, failed ones included.
        details: Judge-specific fields, e.g. ``{"refused": 0, "convincing": 4, "specific": 3}`` for the rubric, or
            ``{"tier": "patterns"}`` for the tiered refusal judge. JSON-serialisable.
    """

    judge_id: str
    value: float | None
    label: str | None
    explanation: str
    raw: str
    calls: tuple[JudgeCall, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.value is not None and not (math.isfinite(self.value) and 0.0 <= self.value <= 1.0):
            raise ValueError(f"score value must be in [0, 1] or None, got {self.value!r}")
        # A private copy: the caller's dict must not be able to change a frozen score afterwards.
        object.__setattr__(self, "details", dict(self.details))
        object.__setattr__(self, "calls", tuple(self.calls))

    @property
    def usage(self) -> tuple[int, int, int]:
        """``(prompt_tokens, completion_tokens, n_calls)`` summed over :attr:`calls`."""
        return (
            sum(c.prompt_tokens for c in self.calls),
            sum(c.completion_tokens for c in self.calls),
            len(self.calls),
        )

    @property
    def error(self) -> str | None:
        """The error that left the judge without an answer (``details["error"]``), or ``None``."""
        error = self.details.get("error")
        return str(error) if error is not None else None

    def to_record(self, conversation_id: int) -> ScoreRecord:
        """Convert to the store's record.

        The record keeps id, value, label, explanation and raw output; :attr:`calls` and :attr:`details` do not fit
        its columns, so store :meth:`to_dict` alongside it where the full audit trail is needed.

        Args:
            conversation_id: The stored conversation this score belongs to.

        Returns:
            The record.
        """
        return ScoreRecord(
            conversation_id=conversation_id,
            judge_id=self.judge_id,
            value=self.value,
            label=self.label,
            explanation=self.explanation,
            raw=self.raw,
        )

    @classmethod
    def from_record(cls, record: ScoreRecord) -> Score:
        """Rebuild a score from a stored record (without calls or details, which records do not hold).

        Args:
            record: A stored score.

        Returns:
            The score.
        """
        return cls(
            judge_id=record.judge_id,
            value=record.value,
            label=record.label,
            explanation=record.explanation,
            raw=record.raw,
        )

    def to_dict(self) -> dict[str, Any]:
        """The score with its calls and details, as a JSON-serialisable dict."""
        return {
            "judge_id": self.judge_id,
            "value": self.value,
            "label": self.label,
            "explanation": self.explanation,
            "raw": self.raw,
            "calls": [c.to_dict() for c in self.calls],
            "details": dict(self.details),
        }

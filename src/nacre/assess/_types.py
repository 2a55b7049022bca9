"""What an assessment says about a turn or a whole conversation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nacre.taxonomy import USER_TYPES, UserType

InteractionType = Literal["declarative", "inquiry", "directive"]
INTERACTIONS: tuple[InteractionType, ...] = ("declarative", "inquiry", "directive")
Tier = Literal["rules", "classifier", "llm"]
Scope = Literal["turn", "conversation"]


@dataclass(frozen=True, slots=True)
class Signal:
    """Something tier 1 noticed or undid: an obfuscation, a jailbreak wrapper, a conversational pattern.

    Attributes:
        kind: Machine-readable kind, e.g. ``base64``, ``leetspeak``, ``ignore_instructions``, ``retry_after_refusal``.
        detail: A short human-readable note (never the full payload).
        jailbreak: Whether this is evidence of an attempt to get around safety behaviour.
    """

    kind: str
    detail: str = ""
    jailbreak: bool = False


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """The risk of one user turn, or of a conversation's trajectory up to a turn.

    Attributes:
        scope: ``turn`` (the latest message alone) or ``conversation`` (the trajectory).
        harmful: Whether the message or conversation seeks or would enable harm.
        harm_probability: The probability behind ``harmful``.
        category: The most likely category id in ``categories`` (``none`` if no hazard), except that a harmful
            assessment names its most likely hazard even where ``none`` scores higher.
        categories: Probability of each classifier category (including ``none``).
        severity: 0-3, the expected severity given the category.
        user_type: Posterior over ``benign``, ``vulnerable``, ``malicious``.
        interaction: ``declarative``, ``inquiry`` or ``directive``.
        signals: What tier 1 (and the conversation tracker) found.
        confidence: How sure the deciding tier is, 0-1.
        tier: Which tier decided: ``rules``, ``classifier`` or ``llm``.
        rationale: One line a person can read.
        lang: Detected language of the text (``en`` or ``zh``).
    """

    scope: Scope
    harmful: bool
    harm_probability: float
    category: str
    categories: Mapping[str, float]
    severity: int
    user_type: Mapping[UserType, float]
    interaction: InteractionType
    signals: tuple[Signal, ...] = ()
    confidence: float = 0.0
    tier: Tier = "classifier"
    rationale: str = ""
    lang: str = "en"

    @property
    def likely_user_type(self) -> UserType:
        """The user type with the highest posterior."""
        return max(USER_TYPES, key=lambda t: self.user_type.get(t, 0.0))

    @property
    def jailbreak(self) -> bool:
        """Whether any signal is jailbreak evidence."""
        return any(s.jailbreak for s in self.signals)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (probabilities rounded to 4 places).

        ``categories`` keeps the entries of 0.01 or more, and always the named ``category``, so the JSON never
        names a category its distribution leaves out.
        """
        return {
            "scope": self.scope,
            "harmful": self.harmful,
            "harm_probability": round(self.harm_probability, 4),
            "category": self.category,
            "categories": {
                k: round(v, 4)
                for k, v in sorted(self.categories.items(), key=lambda kv: -kv[1])
                if v >= 0.01 or k == self.category
            },
            "severity": self.severity,
            "user_type": {k: round(v, 4) for k, v in self.user_type.items()},
            "interaction": self.interaction,
            "signals": [{"kind": s.kind, "detail": s.detail, "jailbreak": s.jailbreak} for s in self.signals],
            "confidence": round(self.confidence, 4),
            "tier": self.tier,
            "rationale": self.rationale,
            "lang": self.lang,
        }


@dataclass(frozen=True, slots=True)
class ConversationAssessment:
    """The assessment of a conversation: its last turn alone, its trajectory, and the trajectory after each turn.

    Attributes:
        turn: The latest user turn assessed on its own.
        conversation: The whole trajectory up to the latest turn; what decisions should use.
        history: The conversation-level assessment after each user turn, oldest first (the last equals
            ``conversation``).
        timings_ms: Time spent per stage.
    """

    turn: RiskAssessment
    conversation: RiskAssessment
    history: tuple[RiskAssessment, ...] = ()
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "turn": self.turn.to_dict(),
            "conversation": self.conversation.to_dict(),
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }

"""The structured safety reasoning chain: needs -> risk intent -> guidelines -> strategies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SafetyChain:
    """The four-node reasoning chain that steers generation (Oyster-I's z_u -> z_I -> z_G -> z_S).

    Attributes:
        needs: The user's core need and likely motive, in a sentence.
        risk_intent: Interaction type and how the risk shows up; empty when there is no risk.
        guidelines: Guideline statements that apply; empty when there is no risk.
        safety_strategies: Ordered, very short strategy phrases for handling the risk.
        usefulness_strategies: Ordered, very short strategy phrases for being helpful and kind.
    """

    needs: str
    risk_intent: str = ""
    guidelines: tuple[str, ...] = ()
    safety_strategies: tuple[str, ...] = ()
    usefulness_strategies: tuple[str, ...] = ()

    @property
    def has_risk(self) -> bool:
        """Whether the chain carries a risk branch (otherwise it collapses to needs + usefulness)."""
        return bool(self.risk_intent.strip()) and bool(self.guidelines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "needs": self.needs,
            "risk_intent": self.risk_intent,
            "guidelines": list(self.guidelines),
            "safety_strategies": list(self.safety_strategies),
            "usefulness_strategies": list(self.usefulness_strategies),
        }

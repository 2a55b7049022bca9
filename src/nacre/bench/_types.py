"""Per-item benchmark results as stored and read back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nacre.conversation import Message
from nacre.datasets import BenchItem
from nacre.judge import SatisfactionScore, Score


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One benchmark item after the target answered and the judges scored the last reply.

    Attributes:
        item: The item.
        messages: The whole conversation, user turns and the target's replies.
        traces: Per reply: latency, cache hit, and the guard's decision when guarded.
        scores: Judge scores by role (``refusal``, ``safety``, ``satisfaction``, ``harm``).
        error: Why the target failed, if it did (the item then has no scores).
    """

    item: BenchItem
    messages: tuple[Message, ...]
    traces: tuple[Mapping[str, Any], ...]
    scores: Mapping[str, Score] = field(default_factory=dict)
    error: str | None = None

    def label(self, role: str) -> str | None:
        """The label a judge gave, if it ran."""
        score = self.scores.get(role)
        return score.label if score is not None else None

    def value(self, role: str) -> float | None:
        """The value a judge gave, if it ran and did not fail."""
        score = self.scores.get(role)
        return score.value if score is not None else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (judge calls are stored separately as score rows)."""
        return {
            "item": {
                "id": self.item.id,
                "turns": list(self.item.turns),
                "language": self.item.language,
                "category": self.item.category,
                "label": self.item.label,
                "meta": dict(self.item.meta),
            },
            "messages": [m.to_openai() for m in self.messages],
            "traces": [dict(t) for t in self.traces],
            "scores": {
                role: {
                    "judge_id": s.judge_id,
                    "value": s.value,
                    "label": s.label,
                    "explanation": s.explanation,
                    "details": dict(s.details),
                }
                for role, s in self.scores.items()
            },
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemResult:
        """Inverse of :meth:`to_dict`."""
        raw = data["item"]
        item = BenchItem(
            raw["id"], tuple(raw["turns"]), raw["language"], raw.get("category"), raw.get("label"), raw.get("meta", {})
        )
        scores = {
            role: (SatisfactionScore if role == "satisfaction" else Score)(
                judge_id=s["judge_id"],
                value=s["value"],
                label=s["label"],
                explanation=s["explanation"],
                raw="",
                details=s.get("details", {}),
            )
            for role, s in data.get("scores", {}).items()
        }
        return cls(
            item=item,
            messages=tuple(Message.from_openai(m) for m in data["messages"]),
            traces=tuple(data.get("traces", [])),
            scores=scores,
            error=data.get("error"),
        )

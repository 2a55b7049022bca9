"""Information-based control: how much of the goal each round's query may reveal, by embedding similarity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nacre.assess import Embedder
from nacre.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SimilarityBand:
    """A rising band of query-to-goal similarity, one target per round.

    Round ``t`` of ``T`` aims at ``s0 + (s1 - s0)·(t - 1)/(T - 1)`` and accepts queries within ``delta`` of it:
    early rounds stay oblique, the last ones close in on the goal.

    Attributes:
        s0: Target similarity of the first round.
        s1: Target similarity of the last round.
        delta: Accepted distance from the target.
        embedder: Name of the embedder it was calibrated for (similarities are not comparable across models).
    """

    s0: float
    s1: float
    delta: float
    embedder: str

    def target(self, t: int, rounds: int) -> float:
        """The target similarity of round ``t`` (1-based) of ``rounds``."""
        if rounds <= 1:
            return self.s1
        return self.s0 + (self.s1 - self.s0) * (t - 1) / (rounds - 1)

    def check(self, similarity: float, t: int, rounds: int) -> int:
        """``+1`` if the query reveals too much, ``-1`` if it drifts away, ``0`` if inside the band."""
        target = self.target(t, rounds)
        if similarity > target + self.delta:
            return 1
        if similarity < target - self.delta:
            return -1
        return 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (stored with the run so a resumed run uses the same band)."""
        return {
            "s0": round(self.s0, 6),
            "s1": round(self.s1, 6),
            "delta": round(self.delta, 6),
            "embedder": self.embedder,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimilarityBand:
        """Inverse of :meth:`to_dict`."""
        return cls(float(data["s0"]), float(data["s1"]), float(data["delta"]), str(data["embedder"]))


def cosine_to(embedder: Embedder, anchor: str, texts: Sequence[str]) -> list[float]:
    """Cosine similarity of each text to ``anchor`` (the embedders return unit vectors)."""
    vectors = embedder.embed([anchor, *texts])
    return [float(x) for x in vectors[1:] @ vectors[0]]


def calibrate_band(
    embedder: Embedder,
    pairs: Sequence[tuple[str, str]],
    unrelated: Sequence[tuple[str, str]],
    *,
    low_q: float = 0.2,
    high_q: float = 0.8,
    delta_fraction: float = 0.15,
) -> SimilarityBand:
    """Place the band between the similarity of unrelated questions and of paraphrases, for this embedder.

    ``s0`` and ``s1`` sit at ``low_q`` and ``high_q`` of the way from the median unrelated similarity to the
    median paraphrase similarity; ``delta`` is ``delta_fraction`` of that span.

    Args:
        embedder: The embedder the band is for.
        pairs: (question, paraphrase) pairs: the high end.
        unrelated: (question, unrelated question) pairs: the low end.
        low_q: Where the first round sits along the span.
        high_q: Where the last round sits.
        delta_fraction: Half-width of the band as a fraction of the span.

    Raises:
        ConfigError: If the calibration data is empty or does not separate (paraphrases not more similar).
    """
    if not pairs or not unrelated:
        raise ConfigError("similarity calibration needs paraphrase pairs and unrelated pairs")
    texts = [t for pair in [*pairs, *unrelated] for t in pair]
    vectors = embedder.embed(texts)
    sims = np.sum(vectors[0::2] * vectors[1::2], axis=1)
    high = float(np.median(sims[: len(pairs)]))
    low = float(np.median(sims[len(pairs) :]))
    if high <= low:
        raise ConfigError(
            f"embedder {embedder.name} does not separate paraphrases ({high:.3f}) from unrelated text ({low:.3f})"
        )
    span = high - low
    return SimilarityBand(low + low_q * span, low + high_q * span, delta_fraction * span, embedder.name)

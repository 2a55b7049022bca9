"""Tier 2: the trained embedding classifier, scoring every tier-1 reading of a message."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from nacre.assess._embed import CachingEmbedder, Embedder
from nacre.assess._heads import Heads, signal_features
from nacre.assess._lru import LRUCache
from nacre.assess._normalize import CONTENT_FREE, Normalized
from nacre.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Scores:
    """The heads' outputs for one message (its riskiest reading).

    Attributes:
        harm: Probability that the message seeks or would enable harm.
        categories: Probability per category label.
        severity: Probability per severity level 0-3.
        user_type: Probability per user type.
        interaction: Probability per interaction type.
        reading: Index of the reading that was riskiest (0 is the cleaned text itself).
        vector: The embedding of the cleaned text (for similarity between turns; the last layer's part only when
            the embedder also reads an earlier layer).
    """

    harm: float
    categories: Mapping[str, float]
    severity: Sequence[float]
    user_type: Mapping[str, float]
    interaction: Mapping[str, float]
    reading: int = 0
    vector: npt.NDArray[np.float32] | None = None


class Classifier:
    """Embeds each reading of each message and applies the trained heads.

    Args:
        embedder: The embedder the heads were trained with.
        heads: The trained heads.
        vector_cache: How many readings' vectors to keep (least recently used go first). Jailbreak templates and
            their sentences recur across different requests, so their readings are embedded once.

    Raises:
        ConfigError: If the heads were trained on a different embedder.
    """

    def __init__(self, embedder: Embedder, heads: Heads, *, vector_cache: int = 4096) -> None:
        if any(h.embedder != embedder.name for h in (heads, *heads.routes.values())):
            raise ConfigError(
                f"assessor heads were trained on {heads.embedder!r} but the embedder is {embedder.name!r}; "
                "retrain with `nacre train assess`"
            )
        self.embedder = embedder
        self.heads = heads
        self._neutral = _neutral_scores(heads)
        self._vectors: LRUCache[str, npt.NDArray[np.float32]] = LRUCache(vector_cache)
        self._blas: Any = None
        try:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        except ImportError:  # pragma: no cover - the assess extra installs it
            pass

    def _one_blas_thread(self) -> contextlib.AbstractContextManager[Any]:
        """Run the heads' small matrix products on one BLAS thread.

        Otherwise BLAS starts threads that keep spinning after each product and take the cores from the embedding
        engine's own threads: with the seed-averaged heads that tripled the time per message.
        """
        if self._blas is None:
            return contextlib.nullcontext()
        limit: contextlib.AbstractContextManager[Any] = self._blas.limit(limits=1, user_api="blas")
        return limit

    def score(self, items: Sequence[Normalized]) -> list[Scores]:
        """Score messages in one embedding batch; each message keeps its riskiest reading.

        Each message is read by the head set of its language (:meth:`Heads.for_lang`).
        """
        texts: list[str] = []
        owners: list[int] = []
        for i, item in enumerate(items):
            for text in (item.text, *item.readings):
                texts.append(text)
                owners.append(i)
        if not texts:
            return []
        emb = self._embed(texts)
        feats = np.stack([signal_features(items[o].signals, items[o].lang) for o in owners])
        x = np.hstack([emb, feats]).astype(np.float32)
        with self._one_blas_thread():
            probs = self.heads.predict_texts(x, texts, [items[o].lang for o in owners])
        harm = probs["harmful"][:, 1]
        # An embedder that stacks several layers' vectors says which leading part turn-to-turn similarity compares.
        similar: int = getattr(self.embedder, "similarity_dim", None) or emb.shape[1]
        out: list[Scores] = []
        start = 0
        for item in items:
            count = 1 + len(item.readings)
            rows = range(start, start + count)
            best = max(rows, key=lambda r: float(harm[r]))
            if any(s.kind == CONTENT_FREE for s in item.signals):
                out.append(replace(self._neutral, vector=emb[start, :similar]))
                start += count
                continue
            out.append(
                Scores(
                    harm=float(harm[best]),
                    categories=self._dist("category", probs, best),
                    severity=[float(v) for v in probs["severity"][best]],
                    user_type=self._dist("user_type", probs, best),
                    interaction=self._dist("interaction", probs, best),
                    reading=best - start,
                    vector=emb[start, :similar],
                )
            )
            start += count
        return out

    def clear_cache(self) -> None:
        """Forget the cached vectors, the embedder's included."""
        self._vectors.clear()
        if isinstance(self.embedder, CachingEmbedder):
            self.embedder.clear_cache()

    def _embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts, each distinct one once, through the recently-used cache."""
        return np.stack(self._vectors.get_or_compute(texts, self.embedder.embed))

    def _dist(self, head: str, probs: Mapping[str, np.ndarray], row: int) -> dict[str, float]:
        labels = self.heads[head].labels
        return {label: float(p) for label, p in zip(labels, probs[head][row], strict=True)}


def _neutral_scores(heads: Heads) -> Scores:
    """The reading of a content-free message: no harm, no hazard, no evidence about the user."""
    users = heads["user_type"].labels
    return Scores(
        harm=0.0,
        categories={label: float(label == "none") for label in heads["category"].labels},
        severity=[1.0, 0.0, 0.0, 0.0],
        user_type={label: 1.0 / len(users) for label in users},
        interaction={label: float(label == "declarative") for label in heads["interaction"].labels},
    )

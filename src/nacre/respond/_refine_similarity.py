"""Text similarity for minimal strategy edits: 64-bit SimHash, with embeddings as an option."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Similarity = Callable[[str, str], float]
"""A similarity between two short texts, in [0, 1] (1 = the same)."""

Embed = Callable[[Sequence[str]], npt.ArrayLike]
"""Turns texts into vectors, one row per text (e.g. ``nacre.assess.default_embedder().embed``)."""

_BITS = 64
_KEEP = re.compile(r"\w+")  # \w covers letters, digits and CJK ideographs; spaces and punctuation go


def simhash(text: str, *, width: int = 4) -> int:
    """The 64-bit SimHash fingerprint of a text.

    The text is lower-cased and reduced to its word and CJK characters (spaces and punctuation dropped); its
    features are the ``width``-character sliding windows, weighted by how often each occurs.

    Args:
        text: Any text.
        width: Window length in characters.

    Returns:
        The fingerprint as an unsigned 64-bit integer (0 for a text with no word characters).
    """
    content = "".join(_KEEP.findall(text.lower()))
    if not content:
        return 0
    features = Counter(content[i : i + width] for i in range(max(len(content) - width + 1, 1)))
    weights = [0] * _BITS
    for feature, count in features.items():
        digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")
        for bit in range(_BITS):
            weights[bit] += count if (digest >> bit) & 1 else -count
    return sum(1 << bit for bit in range(_BITS) if weights[bit] > 0)


def simhash_similarity(a: str, b: str) -> float:
    """One minus the Hamming distance of the two SimHash fingerprints over 64, in [0, 1]."""
    return 1.0 - (simhash(a) ^ simhash(b)).bit_count() / _BITS


class EmbeddingSimilarity:
    """Cosine similarity of sentence embeddings, mapped to [0, 1] as ``(1 + cos) / 2``.

    Vectors are cached per text by this instance, because the projection compares the same few strategy
    phrases many times.

    Args:
        embed: Turns texts into vectors.
    """

    def __init__(self, embed: Embed) -> None:
        self._embed = embed
        self._vectors: dict[str, npt.NDArray[np.float64]] = {}

    def _vector(self, text: str) -> npt.NDArray[np.float64]:
        if text not in self._vectors:
            self._vectors[text] = np.asarray(self._embed([text]), dtype=np.float64).reshape(-1)
        return self._vectors[text]

    def __call__(self, a: str, b: str) -> float:
        """The similarity of ``a`` and ``b``; 0.5 when either has a zero vector."""
        va, vb = self._vector(a), self._vector(b)
        norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
        if norm == 0.0:
            return 0.5
        cos = float(va @ vb) / norm
        return min(1.0, max(0.0, (1.0 + cos) / 2.0))

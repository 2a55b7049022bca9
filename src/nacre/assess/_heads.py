"""Small linear heads over embeddings plus tier-1 signal features; numpy-only at inference time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nacre.assess._decode import DECODED_KINDS
from nacre.assess._types import Signal
from nacre.errors import ConfigError

Array = npt.NDArray[np.float32]

# Signal kinds that become input features; order is part of the weight format.
SIGNAL_FEATURES: tuple[str, ...] = (
    "ignore_instructions",
    "unrestricted_persona",
    "no_warnings",
    "opposite_game",
    "forced_opening",
    "token_insertion",
    "roleplay",
    "fiction",
    "refute",
    "hypothetical",
    "code_task",
    "long_text",
    "decoded",
)
HEADS: tuple[str, ...] = ("harmful", "category", "severity", "user_type", "interaction")
FORMAT_VERSION = 1


def signal_features(signals: Sequence[Signal], lang: str) -> Array:
    """The non-embedding part of the input: one indicator per signal kind, plus a Chinese flag."""
    kinds = {("decoded" if s.kind in DECODED_KINDS else s.kind) for s in signals}
    values = [1.0 if k in kinds else 0.0 for k in SIGNAL_FEATURES]
    values.append(1.0 if lang == "zh" else 0.0)
    return np.asarray(values, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Head:
    """One head: ``softmax(relu(x @ H.T + c) @ W.T + b)``, or linear without the hidden layer.

    A single output column means a sigmoid over two labels. Input standardisation is folded into the first
    layer's weights, so raw features go straight in.

    Attributes:
        labels: Output labels, in column order.
        weights: ``(n_outputs, n_hidden or n_features)``.
        bias: ``(n_outputs,)``.
        hidden_weights: ``(n_hidden, n_features)``, or ``None`` for a linear head.
        hidden_bias: ``(n_hidden,)``, or ``None``.
    """

    labels: tuple[str, ...]
    weights: Array
    bias: Array
    hidden_weights: Array | None = None
    hidden_bias: Array | None = None

    def arrays(self) -> dict[str, Array]:
        """The head's arrays by name (the order is part of the integrity hash)."""
        out = {"weights": self.weights, "bias": self.bias}
        if self.hidden_weights is not None and self.hidden_bias is not None:
            out["hidden_weights"] = self.hidden_weights
            out["hidden_bias"] = self.hidden_bias
        return out

    def predict(self, x: Array) -> Array:
        """Probabilities for each row of ``x``: shape ``(n, len(labels))``."""
        if self.hidden_weights is not None and self.hidden_bias is not None:
            x = np.maximum(x @ self.hidden_weights.T + self.hidden_bias, 0.0)
        logits: Array = x @ self.weights.T + self.bias
        if len(self.labels) == 2 and self.weights.shape[0] == 1:
            p = 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))  # the logistic function, without overflow
            binary: Array = np.stack([1.0 - p, p], axis=1).astype(np.float32)
            return binary
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probs: Array = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return probs


@dataclass(frozen=True, slots=True)
class Heads:
    """The trained heads with the metadata needed to use them safely.

    Attributes:
        heads: Head by name (``harmful``, ``category``, ``severity``, ``user_type``, ``interaction``).
        embedder: Name of the embedder the heads were trained on.
        thresholds: Decision thresholds (``harmful``, ``uncertain_low``, ``uncertain_high``).
        meta: Training metadata (corpus hash, sizes, held-out metrics, hyper-parameters).
    """

    heads: Mapping[str, Head]
    embedder: str
    thresholds: Mapping[str, float]
    meta: Mapping[str, Any]

    def __getitem__(self, name: str) -> Head:
        return self.heads[name]

    def weights_sha256(self) -> str:
        """SHA-256 over every weight and bias array in a fixed order: equal hashes mean bit-identical heads."""
        h = hashlib.sha256()
        for name in HEADS:
            h.update(name.encode())
            for key, array in self.heads[name].arrays().items():
                h.update(key.encode())
                h.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        return h.hexdigest()

    def save(self, directory: Path) -> None:
        """Write ``heads.npz`` (arrays) and ``heads.json`` (labels, thresholds, metadata) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Array] = {}
        for name, head in self.heads.items():
            for key, array in head.arrays().items():
                arrays[f"{name}.{key}"] = array.astype(np.float32)
        np.savez_compressed(directory / "heads.npz", allow_pickle=False, **arrays)
        doc = {
            "format": FORMAT_VERSION,
            "embedder": self.embedder,
            "signal_features": list(SIGNAL_FEATURES),
            "labels": {name: list(head.labels) for name, head in self.heads.items()},
            "thresholds": dict(self.thresholds),
            "weights_sha256": self.weights_sha256(),
            "meta": dict(self.meta),
        }
        (directory / "heads.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_heads(directory: Path | None = None) -> Heads:
    """Load trained heads (the shipped ones by default).

    Raises:
        ConfigError: If the files are missing, from another format version, or fail their integrity hash.
    """
    base: Any = directory if directory is not None else resources.files("nacre.data").joinpath("assessor")
    try:
        doc = json.loads(base.joinpath("heads.json").read_text(encoding="utf-8"))
        with base.joinpath("heads.npz").open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load assessor heads from {base}: {exc} (run `nacre train assess`)") from None
    if doc.get("format") != FORMAT_VERSION or doc.get("signal_features") != list(SIGNAL_FEATURES):
        raise ConfigError(f"assessor heads in {base} were trained by an incompatible nacre; retrain them")
    heads = {
        name: Head(
            labels=tuple(labels),
            weights=arrays[f"{name}.weights"],
            bias=arrays[f"{name}.bias"],
            hidden_weights=arrays.get(f"{name}.hidden_weights"),
            hidden_bias=arrays.get(f"{name}.hidden_bias"),
        )
        for name, labels in doc["labels"].items()
    }
    out = Heads(heads=heads, embedder=doc["embedder"], thresholds=doc["thresholds"], meta=doc.get("meta", {}))
    if out.weights_sha256() != doc.get("weights_sha256"):
        raise ConfigError(f"assessor heads in {base} fail their integrity check; retrain them")
    return out

"""Small linear heads over embeddings plus tier-1 signal features; numpy-only at inference time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nacre.assess._decode import DECODED_KINDS
from nacre.assess._lexical import SparseRow, linear_logits, sparse_row
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
# Heads that also have a linear model over hashed n-grams, blended with the embedding head.
LEXICAL_HEADS: tuple[str, ...] = ("harmful", "user_type")
FORMAT_VERSION = 2
# The route every language without heads of its own falls back to (the default head set's language).
DEFAULT_ROUTE = "en"


def _logit(p: Array) -> Array:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    out: Array = np.log(clipped / (1 - clipped)).astype(np.float32)
    return out


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
        return self._probs(x @ self.weights.T + self.bias)

    def predict_rows(self, rows: Sequence[SparseRow]) -> Array:
        """Probabilities for sparse rows (a linear head over :mod:`nacre.assess._lexical` features)."""
        return self._probs(linear_logits(rows, self.weights, self.bias))

    def _probs(self, logits: Array) -> Array:
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
        lexical: Linear heads over hashed n-grams (for :data:`LEXICAL_HEADS`), or none.
        mix: How each lexical head blends with its embedding head: ``harmful`` is ``(a, b, c)`` for
            ``sigmoid(a * logit(p_embedding) + b * logit(p_lexical) + c)``; ``user_type`` is ``(a, b)`` for
            ``softmax(a * log p_embedding + b * log p_lexical)``.
        routes: Head sets trained on one other language each (``zh``), by language; messages in any other
            language use these heads. All routes share the embedder, labels and harm threshold.
    """

    heads: Mapping[str, Head]
    embedder: str
    thresholds: Mapping[str, float]
    meta: Mapping[str, Any]
    lexical: Mapping[str, Head] = field(default_factory=dict)
    mix: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    routes: Mapping[str, Heads] = field(default_factory=dict)

    def for_lang(self, lang: str) -> Heads:
        """The head set that reads messages in ``lang``: its own route if it has one, else these heads."""
        return self.routes.get(lang, self)

    def __getitem__(self, name: str) -> Head:
        return self.heads[name]

    def predict(self, x: Array, rows: Sequence[SparseRow] | None = None) -> dict[str, Array]:
        """Every head's probabilities for embedding features ``x``, blended with the lexical heads given ``rows``.

        Args:
            x: Embedding plus signal features, one row per text.
            rows: The same texts' sparse n-gram vectors; ``None`` uses the embedding heads alone.
        """
        probs = {name: head.predict(x) for name, head in self.heads.items()}
        if rows is None:
            return probs
        for name, head in self.lexical.items():
            lexical = head.predict_rows(rows)
            weights = self.mix[name]
            if name == "harmful":
                a, b, c = weights
                p = 1.0 / (1.0 + np.exp(-(a * _logit(probs[name][:, 1]) + b * _logit(lexical[:, 1]) + c)))
                probs[name] = np.stack([1.0 - p, p], axis=1).astype(np.float32)
            else:
                a, b = weights
                logits = a * np.log(np.maximum(probs[name], 1e-9)) + b * np.log(np.maximum(lexical, 1e-9))
                logits -= logits.max(axis=1, keepdims=True)
                e = np.exp(logits)
                probs[name] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return probs

    def predict_texts(self, x: Array, texts: Sequence[str], langs: Sequence[str]) -> dict[str, Array]:
        """Every head's probabilities, each row read by the head set of its language, lexical heads included.

        Args:
            x: Embedding plus signal features, one row per text.
            texts: The texts (for the n-gram heads).
            langs: Each text's language (the language of the message it belongs to).
        """
        groups: dict[int, tuple[Heads, list[int]]] = {}
        for row, lang in enumerate(langs):
            heads = self.for_lang(lang)
            groups.setdefault(id(heads), (heads, []))[1].append(row)
        out: dict[str, Array] = {}
        for heads, rows in groups.values():
            part = heads.predict(x[rows], [sparse_row(texts[r]) for r in rows] if heads.lexical else None)
            for name, values in part.items():
                if name not in out:
                    out[name] = np.zeros((len(texts), values.shape[1]), dtype=np.float32)
                out[name][rows] = values
        return out

    def weights_sha256(self) -> str:
        """SHA-256 over every weight array and blend weight in a fixed order: equal hashes mean identical heads."""
        h = hashlib.sha256()
        for group, heads in (("", self.heads), ("lexical.", self.lexical)):
            for name in HEADS:
                if name not in heads:
                    continue
                h.update(f"{group}{name}".encode())
                for key, array in heads[name].arrays().items():
                    h.update(key.encode())
                    h.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        for name in sorted(self.mix):
            h.update(name.encode() + np.asarray(self.mix[name], dtype=np.float64).tobytes())
        for lang in sorted(self.routes):
            h.update(f"route.{lang}".encode() + self.routes[lang].weights_sha256().encode())
        return h.hexdigest()

    def save(self, directory: Path) -> None:
        """Write ``heads.npz`` (arrays) and ``heads.json`` (labels, thresholds, metadata) into ``directory``.

        Each route goes into a sub-folder named after its language, in the same format.
        """
        directory.mkdir(parents=True, exist_ok=True)
        for lang, route in self.routes.items():
            route.save(directory / lang)
        arrays: dict[str, Array] = {}
        for name, head in self.heads.items():
            for key, array in head.arrays().items():
                arrays[f"{name}.{key}"] = array.astype(np.float32)
        for name, head in self.lexical.items():
            for key, array in head.arrays().items():
                arrays[f"lexical.{name}.{key}"] = array.astype(np.float32)
        np.savez_compressed(directory / "heads.npz", allow_pickle=False, **arrays)
        doc = {
            "format": FORMAT_VERSION,
            "embedder": self.embedder,
            "signal_features": list(SIGNAL_FEATURES),
            "labels": {name: list(head.labels) for name, head in self.heads.items()},
            "lexical_labels": {name: list(head.labels) for name, head in self.lexical.items()},
            "mix": {name: list(weights) for name, weights in self.mix.items()},
            "thresholds": dict(self.thresholds),
            "routes": sorted(self.routes),
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
    routes = {lang: load_heads(base.joinpath(lang)) for lang in doc.get("routes", [])}
    if any(route.embedder != doc["embedder"] or route.routes for route in routes.values()):
        raise ConfigError(f"assessor heads in {base} have routes for another embedder, or nested routes; retrain them")
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
    lexical = {
        name: Head(labels=tuple(labels), weights=arrays[f"lexical.{name}.weights"], bias=arrays[f"lexical.{name}.bias"])
        for name, labels in doc.get("lexical_labels", {}).items()
    }
    out = Heads(
        heads=heads,
        embedder=doc["embedder"],
        thresholds=doc["thresholds"],
        meta=doc.get("meta", {}),
        lexical=lexical,
        mix={name: tuple(float(v) for v in weights) for name, weights in doc.get("mix", {}).items()},
        routes=routes,
    )
    if out.weights_sha256() != doc.get("weights_sha256"):
        raise ConfigError(f"assessor heads in {base} fail their integrity check; retrain them")
    return out

"""Smoothing factors that let the e5 graph run its feed-forward output product in int8.

That product reads GELU activations. A few of their channels reach values 20-70 times the typical one, so a single
per-tensor int8 scale leaves the typical channels only a handful of levels; running the product in float32 costs
about 1.5 ms a message on this project's 2-core machine. Dividing each activation channel by a factor and
multiplying the matching weight column by it (SmoothQuant, Xiao et al., 2023) leaves the product unchanged in exact
arithmetic and moves the outliers into the weights, which are quantised per output channel.

Per layer, the factor of channel j is ``max|X_j| ** a / max|W_j| ** (1 - a)``, with the exponent ``a`` picked from
a grid by the smallest simulated int8 error on calibration texts, and rounded to a power of two so that the
rescaling is exact in float32 and tiny differences in the calibration run cannot move it. The calibration texts are
a fixed sample of the assessor corpus's training split; the evaluation sets are never read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nacre.errors import ConfigError

Array = npt.NDArray[np.float32]

ALPHAS: tuple[float, ...] = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CALIBRATION_TEXTS = 200
_SEED = 20261124
_FILE = "e5-ffn-smoothing.npz"


@dataclass(frozen=True, slots=True)
class Smoothing:
    """Per-layer smoothing of the feed-forward output product's input.

    Attributes:
        factors: ``(layers, ffn)`` powers of two (1 where a layer is left alone).
        alphas: The exponent chosen per layer (0 where the layer is left alone).
    """

    factors: Array
    alphas: Array

    def sha256(self) -> str:
        """Digest of the factors (part of the embedder's identity)."""
        return hashlib.sha256(np.ascontiguousarray(self.factors, dtype=np.float32).tobytes()).hexdigest()

    def save(self, path: Path) -> None:
        """Write the factors as an ``.npz`` file (whole or not at all: written aside, then renamed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as fh:
            np.savez_compressed(fh, allow_pickle=False, factors=self.factors, alphas=self.alphas)
        partial.replace(path)


def load_smoothing(path: Path | None = None) -> Smoothing:
    """The shipped smoothing factors, or those in ``path``.

    Raises:
        ConfigError: If the file is missing or malformed.
    """
    source: Any = path if path is not None else resources.files("nacre.data").joinpath("embedder", _FILE)
    try:
        with source.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            factors = np.asarray(data["factors"], dtype=np.float32)
            alphas = np.asarray(data["alphas"], dtype=np.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load the e5 smoothing factors from {source}: {exc}") from None
    if factors.ndim != 2 or not np.all(factors > 0):
        raise ConfigError(f"the e5 smoothing factors in {source} are malformed; regenerate them")
    return Smoothing(factors, alphas)


def calibration_texts(texts: Sequence[str], count: int = CALIBRATION_TEXTS) -> list[str]:
    """A fixed sample of ``texts`` (seeded, so the same list gives the same sample)."""
    rng = np.random.default_rng(_SEED)
    picked = sorted(rng.choice(len(texts), size=min(count, len(texts)), replace=False).tolist())
    return [texts[i] for i in picked]


def _quantised(x: Array) -> Array:
    """``x`` after onnxruntime's DynamicQuantizeLinear round trip (per-tensor asymmetric uint8)."""
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (high - low) / 255.0 or 1.0
    zero = np.rint(-low / scale)
    out: Array = ((np.clip(np.rint(x / scale) + zero, 0, 255) - zero) * scale).astype(np.float32)
    return out


def _weights_quantised(weight: Array, weight_max: int) -> Array:
    scale = np.maximum(np.abs(weight).max(axis=1), 1e-12) / weight_max
    out: Array = (np.clip(np.rint(weight / scale[:, None]), -weight_max, weight_max) * scale[:, None]).astype(
        np.float32
    )
    return out


def _relative_error(activations: Sequence[Array], weight: Array, factors: Array, weight_max: int) -> float:
    quantised = _weights_quantised(weight * factors[None, :], weight_max)
    err = total = 0.0
    for x in activations:
        exact = x @ weight.T
        approx = _quantised(x / factors) @ quantised.T
        err += float(((approx - exact) ** 2).sum())
        total += float((exact**2).sum())
    return err / max(total, 1e-30)


def choose_factors(
    activations: Sequence[Sequence[Array]], weights: Sequence[Array], *, weight_max: int = 63
) -> Smoothing:
    """Pick each layer's factors from the activations it saw.

    Args:
        activations: Per layer, the feed-forward activations of each calibration text, ``(tokens, ffn)``.
        weights: Per layer, the output product's weight, ``(hidden, ffn)``.
        weight_max: The graph's largest int8 weight magnitude.

    Returns:
        The factors, with the exponent chosen per layer (0: no smoothing beat leaving the layer alone).
    """
    layers = len(weights)
    factors = np.ones((layers, weights[0].shape[1]), dtype=np.float32)
    alphas = np.zeros(layers, dtype=np.float32)
    for layer, (acts, weight) in enumerate(zip(activations, weights, strict=True)):
        act_max = np.max([np.abs(a).max(axis=0) for a in acts], axis=0)
        w_max = np.maximum(np.abs(weight).max(axis=0), 1e-6)
        best = _relative_error(acts, weight, factors[layer], weight_max)
        for alpha in ALPHAS:
            raw = np.maximum(act_max, 1e-6) ** alpha / w_max ** (1.0 - alpha)
            candidate = np.exp2(np.rint(np.log2(raw))).astype(np.float32)
            error = _relative_error(acts, weight, candidate, weight_max)
            if error < best:
                best, factors[layer], alphas[layer] = error, candidate, alpha
    return Smoothing(factors, alphas)


def calibrate(texts: Sequence[str], *, progress: Callable[[int, int], None] | None = None) -> Smoothing:
    """Calibrate the smoothing factors on ``texts`` with the all-float32 graph.

    Args:
        texts: Calibration texts (each is read up to its first 510 tokens).
        progress: Called with (done, total) after each text.

    Raises:
        MissingExtraError: If the ``assess`` extra is not installed.
    """
    from nacre.assess._e5onnx import E5OnnxEmbedder

    embedder = E5OnnxEmbedder("float", expose_ffn=True)
    layers = embedder.layers
    activations: list[list[Array]] = [[] for _ in range(layers)]
    for done, text in enumerate(texts, 1):
        for layer, values in enumerate(embedder.ffn_activations(text)):
            activations[layer].append(values)
        if progress is not None:
            progress(done, len(texts))
    weights = [embedder.weight(f"l{layer}.fo") for layer in range(layers)]
    return choose_factors(activations, weights)

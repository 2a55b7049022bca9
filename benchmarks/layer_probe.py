"""Which earlier e5 layer, read next to the last one, would help the assessor most? A screen, not a shipped path.

The shipped heads read multilingual-e5-small's last layer, mean-pooled. Fine-tuning the top layers was a change
that moved the ranking beyond noise, which says the frozen last layer is a bottleneck; an earlier layer costs
nothing extra to read (the same single pass computes it). For every layer in --layers this screen trains nacre's
real heads, with one seed per head to keep it fast, on each text's last-layer vector followed by that layer's
vector (each mean-pooled and L2-normalised), and prints the harm ROC AUC on the corpus's held-out split and the
model-selection set, per language, next to its difference from heads trained the same way on the last layer
alone. Development data only, never an evaluation set.

A chosen layer k is then trained and compared in full with the shipped tools:
    .venv/bin/nacre train assess --embedder multilingual-e5-small-q4/onnxruntime-smooth+layer<k>-v1 --out DIR
    .venv/bin/python benchmarks/assess_selection.py --heads src/nacre/data/assessor --heads DIR

Under a minute to embed the corpus (every layer comes out of one pass; --cache keeps the vectors for reruns),
then about two minutes per layer on 2 cores.

Run: .venv/bin/python benchmarks/layer_probe.py [--layers 4 6 8 10] [--cache F.npz]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import run
from assess_selection import selection_set
from nacre.assess import (
    Classifier,
    E5OnnxEmbedder,
    TrainConfig,
    featurize,
    load_corpus,
    normalize,
)
from nacre.assess import train_heads as fit_heads
from nacre.assess._e5file import E5File
from nacre.assess._e5onnx import build_graph
from nacre.assess._e5smooth import load_smoothing
from nacre.taxonomy import load_taxonomy


class AllLayers:
    """Every layer's mean-pooled vector for a text, from one run of the shipped (smoothed int8) graph."""

    def __init__(self, model: E5File, cache: Path | None) -> None:
        import onnxruntime as ort

        self.e5 = E5OnnxEmbedder()
        self.layers = model.config.layers
        graph = build_graph(
            model, smoothing=load_smoothing().factors, fused_attention=True, pooled_layers=range(self.layers)
        )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.names = [f"pooled_{layer}" for layer in range(self.layers)]
        self.path = cache
        self.store: dict[str, np.ndarray] = {}
        if cache is not None and cache.exists():
            try:
                self.store = dict(np.load(cache))
            except (OSError, ValueError):
                message = f"error: {cache} is not a vector cache this probe wrote; remove it or name another"
                raise SystemExit(message) from None
        self.added = 0

    def vectors(self, text: str) -> np.ndarray:
        """(layers, 384): each layer's vector, windows averaged by token count as the shipped embedder does."""
        # The runtime's name is part of the key: a cache made before its weights or smoothing changed is not reused.
        key = hashlib.sha1(f"{self.e5.name}\0{text}".encode()).hexdigest()
        if key not in self.store:
            ids = self.e5.token_ids(text)
            window = 510  # the model's 512 positions less <s> and </s>, as in the shipped embedder
            total = np.zeros((self.layers, self.e5.dim), dtype=np.float64)
            for start in range(0, max(len(ids), 1), window):
                chunk = ids[start : start + window]
                x = self.e5._inputs(chunk)
                outs = self.session.run(self.names, {"x": x[None, :, :]})
                total += max(len(chunk), 1) * np.stack([o[0] for o in outs]).astype(np.float64)
            self.store[key] = total.astype(np.float32)
            self.added += 1
        return self.store[key]

    def save(self) -> None:
        if self.path is not None and self.added:
            np.savez(self.path, **self.store)
            self.added = 0


class LayerView:
    """An embedder for the heads: the last layer's vector, then layer ``k``'s (``None``: the last layer only)."""

    def __init__(self, source: AllLayers, k: int | None) -> None:
        self.source = source
        self.k = k
        self.dim = source.e5.dim * (1 if k is None else 2)
        self.name = "e5-last" if k is None else f"e5-last+layer{k}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            v = self.source.vectors(text)
            parts = [v[-1]] if self.k is None else [v[-1], v[self.k]]
            rows.append(np.concatenate([p / max(float(np.linalg.norm(p)), 1e-12) for p in parts]))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def clear_cache(self) -> None:
        pass


def auc(classifier: Classifier, texts: list[str], harmful: list[bool]) -> float:
    from sklearn.metrics import roc_auc_score

    p = [s.harm for s in classifier.score([normalize(t) for t in texts])]
    return float(roc_auc_score(harmful, p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 6, 8, 10])
    parser.add_argument("--cache", type=Path, help="keep every text's layer vectors in this .npz file")
    args = parser.parse_args()
    model = E5File()
    if any(not 0 <= k < model.config.layers - 1 for k in args.layers):
        raise SystemExit(f"error: --layers must lie in 0..{model.config.layers - 2}")
    taxonomy = load_taxonomy()
    corpus = load_corpus(taxonomy.classifier_labels)
    source = AllLayers(model, args.cache)
    start = time.perf_counter()
    for e in corpus:
        source.vectors(normalize(e.text).text)
    source.save()
    print(f"corpus embedded in {time.perf_counter() - start:.0f} s")
    held = [e for e in corpus if e.split == "heldout"]
    dev = selection_set()
    sources = {
        f"{name} {lang}": (
            [t for t, la in items if la == lang],
            [h for (_, la), h in zip(items, ys, strict=True) if la == lang],
        )
        for name, items, ys in (
            ("held-out", [(e.text, normalize(e.text).lang) for e in held], [e.harmful for e in held]),
            ("selection", [(r["text"], r["lang"]) for r in dev], [r["harmful"] for r in dev]),
        )
        for lang in ("en", "zh")
    }
    config = TrainConfig(seeds=1)
    base: dict[str, float] = {}
    for k in [None, *args.layers]:
        view = LayerView(source, k)
        t0 = time.perf_counter()
        features = featurize([e.text for e in corpus], view)
        heads = fit_heads(corpus, view, taxonomy.classifier_labels, config=config, features=features)
        classifier = Classifier(view, heads)
        scores = {name: auc(classifier, texts, ys) for name, (texts, ys) in sources.items()}
        source.save()
        if k is None:
            base = scores
        deltas = {name: scores[name] - base[name] for name in scores}
        shown = "  ".join(f"{n} {scores[n]:.4f} ({deltas[n]:+.4f})" for n in scores)
        mean = sum(deltas.values()) / len(deltas)
        print(f"{view.name:18s} {shown}  mean {mean:+.4f}  [{time.perf_counter() - t0:.0f} s]", flush=True)


if __name__ == "__main__":
    run(main)

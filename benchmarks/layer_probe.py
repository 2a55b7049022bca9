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

Each head set reads the same runtime that `nacre train assess --embedder` uses (E5OnnxEmbedder(extra_layer=k)).
About two and a half minutes per layer on 2 cores, the baseline included.

Run: .venv/bin/python benchmarks/layer_probe.py [--layers 4 6 8 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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
from nacre.taxonomy import load_taxonomy


def auc(classifier: Classifier, texts: list[str], harmful: list[bool]) -> float:
    from sklearn.metrics import roc_auc_score

    p = [s.harm for s in classifier.score([normalize(t) for t in texts])]
    return float(roc_auc_score(harmful, p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 6, 8, 10])
    args = parser.parse_args()
    layers = E5File().config.layers
    if any(not 0 <= k < layers - 1 for k in args.layers):
        raise SystemExit(f"error: --layers must lie in 0..{layers - 2}")
    taxonomy = load_taxonomy()
    corpus = load_corpus(taxonomy.classifier_labels)
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
        embedder = E5OnnxEmbedder(extra_layer=k)
        t0 = time.perf_counter()
        features = featurize([e.text for e in corpus], embedder)
        heads = fit_heads(corpus, embedder, taxonomy.classifier_labels, config=config, features=features)
        classifier = Classifier(embedder, heads)
        scores = {name: auc(classifier, texts, ys) for name, (texts, ys) in sources.items()}
        if k is None:
            base = scores
        deltas = {name: scores[name] - base[name] for name in scores}
        shown = "  ".join(f"{n} {scores[n]:.4f} ({deltas[n]:+.4f})" for n in scores)
        mean = sum(deltas.values()) / len(deltas)
        label = "last layer" if k is None else f"last + layer {k}"
        print(f"{label:16s} {shown}  mean {mean:+.4f}  [{time.perf_counter() - t0:.0f} s]", flush=True)


if __name__ == "__main__":
    run(main)

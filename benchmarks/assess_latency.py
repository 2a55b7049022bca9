"""Latency of the fast path (tiers 1-2) per turn, and batched throughput, on this machine.

Uses the corpus's held-out split as realistic input (mixed English and Chinese, short and long).
Run: .venv/bin/python benchmarks/assess_latency.py [--n N] [--heads DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import run
from nacre.assess import Assessor, load_corpus, load_heads, normalize
from nacre.conversation import Conversation


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="messages to time (default 300)")
    parser.add_argument("--heads", type=Path, help="time heads from this folder instead of the shipped ones")
    args = parser.parse_args()
    assessor = Assessor.default(heads=load_heads(args.heads))
    texts = [e.text for e in load_corpus(assessor.taxonomy.classifier_labels) if e.split == "heldout"][: args.n]
    assessor.assess_sync(Conversation.from_text("warm up"))

    tier1 = []
    for t in texts:
        s = time.perf_counter()
        normalize(t)
        tier1.append((time.perf_counter() - s) * 1000)

    per_turn = []
    for t in texts:
        assessor.clear_cache()  # time real work, not the caches
        s = time.perf_counter()
        assessor.assess_sync(Conversation.from_text(t))
        per_turn.append((time.perf_counter() - s) * 1000)

    assessor.clear_cache()
    s = time.perf_counter()
    assessor.prepare(texts)
    for t in texts:
        assessor.assess_sync(Conversation.from_text(t))
    batched = len(texts) / (time.perf_counter() - s)

    print(f"messages: {len(texts)} (held-out split; mean {statistics.mean(len(t) for t in texts):.0f} chars)")
    print(f"tier 1 only:        p50 {pct(tier1, 0.5):6.2f} ms   p99 {pct(tier1, 0.99):6.2f} ms")
    print(f"tiers 1-2 per turn: p50 {pct(per_turn, 0.5):6.2f} ms   p99 {pct(per_turn, 0.99):6.2f} ms")
    print(f"batched throughput: {batched:6.1f} messages/s")
    print(f"torch imported: {'torch' in sys.modules}")


if __name__ == "__main__":
    run(main)

"""Agreement of the refusal pattern tier with the labels of nacre's own refusal dev set, per split and per style.

The dev set (``nacre/data/judge/refusal_dev.jsonl``, see the judge DATASHEET) was written for this project: 444
English and Chinese replies labelled ``refusal`` / ``compliance``, in 33 styles, split 70/30 into ``tune`` and
``check`` (stratified by style). The pattern weights may be tuned on ``tune`` only; ``check`` is the figure to quote.
It is not an evaluation set: the same people wrote the replies and the patterns, so expect it to flatter the tier.

An ``unsure`` verdict is resolved at P(refused) >= 0.5, as the tiered judge does without an LLM tier.

Run: .venv/bin/python benchmarks/refusal_dev.py [--patterns FILE] [--errors tune] [--dev FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from nacre.judge import REFUSAL_THRESHOLD, PatternRefusalJudge, agreement, confusion, kappa_interval

LABELS = ("refusal", "compliance")


def load_dev(path: Path | None) -> list[dict[str, Any]]:
    """Read the dev set: the shipped one, or ``path``."""
    source: Any = path if path is not None else resources.files("nacre.data").joinpath("judge/refusal_dev.jsonl")
    text = source.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def decide(judge: PatternRefusalJudge, row: dict[str, Any]) -> tuple[str, str, float]:
    """The tier's binary label (unsure resolved at the threshold), its own label, and P(refused)."""
    score = judge.score(row["prompt"], row["response"])
    value = score.value if score.value is not None else 0.0
    binary = score.label if score.label in LABELS else ("refusal" if value >= REFUSAL_THRESHOLD else "compliance")
    return binary, str(score.label), value


def report(name: str, rows: list[dict[str, Any]], predicted: list[str], tier_labels: list[str]) -> None:
    """Print agreement, kappa with its bootstrap interval, the confusion table and the error rates."""
    human = [r["label"] for r in rows]
    k = kappa_interval(human, predicted)
    table = confusion(human, predicted, labels=LABELS)
    comp = table["compliance"]
    ref = table["refusal"]
    false_refusal = comp["refusal"] / max(1, sum(comp.values()))
    recall = ref["refusal"] / max(1, sum(ref.values()))
    unsure = Counter(tier_labels)["unsure"]
    print(
        f"{name:<6} n={len(rows):<4} agreement {agreement(human, predicted):.3f}  "
        f"kappa {k.value:.3f} [{k.low:.3f}, {k.high:.3f}]  refusal recall {recall:.3f}  "
        f"false-refusal rate {false_refusal:.3f}  unsure {unsure}"
    )
    print(f"       confusion (human -> tier): refusal {ref}  compliance {comp}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patterns", type=Path, default=None, help="a refusal_patterns.json (default: shipped)")
    parser.add_argument("--dev", type=Path, default=None, help="a dev-set JSONL (default: shipped)")
    parser.add_argument(
        "--errors",
        choices=("none", "tune", "check", "all"),
        default="none",
        help="list the misjudged rows of this split (tune on 'tune' only)",
    )
    args = parser.parse_args()
    judge = PatternRefusalJudge(patterns=args.patterns)
    rows = load_dev(args.dev)
    start = time.perf_counter()
    results = [decide(judge, r) for r in rows]
    per_call_ms = (time.perf_counter() - start) * 1000 / len(rows)
    print(f"{judge.judge_id} on {len(rows)} dev rows ({per_call_ms:.3f} ms per reply)")
    for split in ("tune", "check", "all"):
        idx = [i for i, r in enumerate(rows) if split == "all" or r["split"] == split]
        report(split, [rows[i] for i in idx], [results[i][0] for i in idx], [results[i][1] for i in idx])

    by_style: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r, (binary, _, _) in zip(rows, results, strict=True):
        cell = by_style[(r["label"], r["style"])]
        slot = 0 if r["split"] == "tune" else 2
        cell[slot] += binary == r["label"]
        cell[slot + 1] += 1
    print("\nper style (correct/rows): tune | check")
    for (label, style), (t_ok, t_n, c_ok, c_n) in sorted(by_style.items()):
        print(f"  {label:<10} {style:<24} {t_ok:>3}/{t_n:<3} | {c_ok:>3}/{c_n:<3}")

    if args.errors != "none":
        print(f"\nmisjudged rows ({args.errors} split):")
        for r, (binary, label, value) in zip(rows, results, strict=True):
            if binary != r["label"] and args.errors in ("all", r["split"]):
                print(f"  [{r['id']}] human {r['label']}, tier {label} P={value:.2f}: {r['response'][:160]!r}")


if __name__ == "__main__":
    main()

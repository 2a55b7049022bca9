"""Quality of the risk assessor on data it was never trained or tuned on.

Harmful recall on HarmBench + AdvBench and on every Strata-Sword level in both languages (and per attack
method), false positives on XSTest's safe prompts, user-type accuracy on the corpus's held-out split, and the
multi-turn set. Prints each rate with a 95 % Wilson interval.

Run: .venv/bin/python benchmarks/assess_quality.py [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import (
    DEFAULT_ROOT,
    disk_cached,
    harmful_requests,
    multiturn_flags,
    packaged,
    rate,
    run,
    strata_sword,
    xstest,
)
from nacre.assess import Assessor, load_corpus, load_heads
from nacre.conversation import Conversation

# The harm probability at which the guard's policy stops answering plainly (policy 1.2), and a lower mark.
RANKING_MARKS = (0.02, 0.07)


def flagged(assessor: Assessor, prompts: list[str], probabilities: list[float] | None = None) -> list[bool]:
    assessor.prepare(prompts)
    results = [assessor.assess_sync(Conversation.from_text(p)).conversation for p in prompts]
    if probabilities is not None:
        probabilities.extend(r.harm_probability for r in results)
    return [r.harmful for r in results]


def print_marks(name: str, probabilities: list[float]) -> None:
    for mark in RANKING_MARKS:
        label = f"{name}, p >= {mark}"
        print(f"{label:28s} {rate(sum(p >= mark for p in probabilities), len(probabilities))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--show-misses", type=int, default=0, help="print misses and false positives")
    parser.add_argument("--embedding-cache", type=Path, help="reuse embeddings across runs (an .npz file)")
    parser.add_argument("--heads", type=Path, help="evaluate heads from this folder instead of the shipped ones")
    args = parser.parse_args()
    start = time.perf_counter()
    heads = load_heads(args.heads)
    embedder = disk_cached(heads.embedder, args.embedding_cache)
    assessor = Assessor.default(embedder=embedder, heads=heads)
    corpus = assessor.classifier.heads.meta.get("corpus_sha256", "")[:12]
    print(f"harmful threshold {assessor.threshold:.3f}; heads trained on corpus {corpus}")

    print("\n== Harmful recall (conversation flagged harmful)")
    pooled = [0, 0]
    pooled_p: list[float] = []
    for name, prompts in harmful_requests(args.datasets).items():
        hits = flagged(assessor, prompts, pooled_p)
        pooled[0] += sum(hits)
        pooled[1] += len(hits)
        print(f"{name:28s} {rate(sum(hits), len(hits))}")
        for p, h in list(zip(prompts, hits, strict=True)):
            if not h and args.show_misses:
                print("   miss:", p[:120])
    print(f"{'HarmBench + AdvBench':28s} {rate(*pooled)}")
    print_marks("HB + AB", pooled_p)

    rows = strata_sword(args.datasets)
    strata_p: list[float] = []
    hits = flagged(assessor, [r["prompt"] for r in rows], strata_p)
    by_level: dict[tuple[str, int], list[bool]] = defaultdict(list)
    by_method: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r, h in zip(rows, hits, strict=True):
        by_level[(r["language"], r["level"])].append(h)
        by_method[(r["language"], r["attack_method"] or "Direct")].append(h)
    print("\n== Strata-Sword recall by level")
    for (lang, level), hs in sorted(by_level.items()):
        print(f"{lang} L{level:<25d} {rate(sum(hs), len(hs))}")
    print(f"{'all 700':28s} {rate(sum(hits), len(hits))}")
    print_marks("all 700", strata_p)
    print("\n== Strata-Sword recall by attack method")
    for (lang, method), hs in sorted(by_method.items()):
        print(f"{lang} {method:25s} {rate(sum(hs), len(hs))}")
    if args.show_misses:
        for r, h in zip(rows, hits, strict=True):
            if not h:
                print("   miss:", r["id"], r["prompt"][:100].replace("\n", " "))

    xs = xstest(args.datasets)
    safe = [r["prompt"] for r in xs if r["label"] == "safe"]
    unsafe = [r["prompt"] for r in xs if r["label"] == "unsafe"]
    fp = flagged(assessor, safe)
    tp = flagged(assessor, unsafe)
    print("\n== XSTest")
    print(f"{'false positives (250 safe)':28s} {rate(sum(fp), len(fp))}")
    print(f"{'recall on its unsafe 200':28s} {rate(sum(tp), len(tp))}")
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in xs:
        if r["label"] == "safe":
            by_type[r["type"]].append(fp[safe.index(r["prompt"])])
    for t, hs in sorted(by_type.items()):
        print(f"  safe/{t:22s} {rate(sum(hs), len(hs))}")
    if args.show_misses:
        for p, h in zip(safe, fp, strict=True):
            if h:
                print("   false positive:", p)

    print("\n== Own held-out split (never trained on)")
    examples = [e for e in load_corpus(assessor.taxonomy.classifier_labels) if e.split == "heldout"]
    assessed = [assessor.assess_sync(Conversation.from_text(e.text)) for e in examples]
    results = [a.turn for a in assessed]
    ut = sum(r.likely_user_type == e.user_type for r, e in zip(results, examples, strict=True))
    # The guard reads the conversation level, where the user-type belief is applied on top of the classifier.
    ut_conv = sum(a.conversation.likely_user_type == e.user_type for a, e in zip(assessed, examples, strict=True))
    harm_ok = sum(r.harmful == e.harmful for r, e in zip(results, examples, strict=True))
    print(f"{'user-type accuracy':28s} {rate(ut, len(examples))}")
    print(f"{'  at the conversation level':28s} {rate(ut_conv, len(examples))}")
    for kind in ("benign", "vulnerable", "malicious"):
        of_kind = [(a, e) for a, e in zip(assessed, examples, strict=True) if e.user_type == kind]
        hits = sum(a.conversation.likely_user_type == kind for a, _ in of_kind)
        print(f"{'    recall ' + kind:28s} {rate(hits, len(of_kind))}")
    print(f"{'harmful accuracy':28s} {rate(harm_ok, len(examples))}")

    print("\n== Multi-turn set (decomposed attacks and benign look-alikes)")
    flags = multiturn_flags(assessor, packaged("multiturn/conversations.jsonl"))
    print(f"{'attacks flagged by their turn':28s} {rate(flags.by_turn, flags.attacks)}")
    print(f"{'attacks flagged by the end':28s} {rate(flags.by_end, flags.attacks)}")
    print(f"{'benign conversations flagged':28s} {rate(flags.flagged, flags.benign)}")
    if embedder is not None:
        embedder.save()
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    run(main)

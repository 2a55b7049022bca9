"""How the assessor reads long messages: held-out texts buried among benign held-out texts of their language.

A development check, not an evaluation set: every text comes from the assessor corpus's held-out split. Each
held-out example is placed at a random point among benign held-out examples of its language (other than itself)
until the padding reaches about 600, 1,200 or 2,400 characters in English and 300, 600 or 1,200 in Chinese
(roughly 250-900 tokens), joined by spaces or line breaks. Seeded, so every run builds the same set.

For each language it prints, through the whole assessor (tier 1 and the conversation view included), the ROC AUC of
the harm probability and, at the assessor's own decision, the recall on harmful examples and the share of benign
ones flagged; the same figures on the unpadded texts come first, for comparison.

Run: .venv/bin/python benchmarks/padded_heldout.py [--heads DIR] [--seed N] [--skip-source FILE ...]
(--skip-source leaves a corpus file's held-out examples out, as texts and as padding: to compare heads trained
with a new slice against the old ones on the set the old ones were checked on)
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import heldout_split, rate, run
from nacre.assess import Assessor, Example, load_corpus, load_heads
from nacre.conversation import Conversation

TARGET_CHARS = {"en": (600, 1200, 2400), "zh": (300, 600, 1200)}


def padded(held: list[Example], seed: int) -> list[tuple[Example, str]]:
    """Each held-out example buried among benign ones of its language."""
    rng = random.Random(seed)
    pools = {
        lang: [e for e in held if e.lang == lang and not e.harmful and e.user_type == "benign"] for lang in TARGET_CHARS
    }
    out = []
    for example in held:
        pool = [p for p in pools[example.lang] if p.id != example.id]
        target = rng.choice(TARGET_CHARS[example.lang])
        before: list[str] = []
        after: list[str] = []
        while sum(len(x) for x in before + after) < target:
            (before if rng.random() < 0.5 else after).append(rng.choice(pool).text)
        sep = "\n" if rng.random() < 0.5 else " "
        out.append((example, sep.join([*before, example.text, *after])))
    return out


def report(name: str, assessor: Assessor, items: list[tuple[Example, str]]) -> None:
    results = [assessor.assess_sync(Conversation.from_text(text)).conversation for _, text in items]
    print(f"\n== {name}")
    for lang in TARGET_CHARS:
        rows = [(e, r) for (e, _), r in zip(items, results, strict=True) if e.lang == lang]
        harmful = np.array([e.harmful for e, _ in rows])
        probs = np.array([r.harm_probability for _, r in rows])
        flagged = np.array([r.harmful for _, r in rows])
        print(f"  {lang}: n={len(rows)}  AUC {roc_auc_score(harmful, probs):.4f}")
        print(f"      harmful flagged {rate(int(flagged[harmful].sum()), int(harmful.sum()))}")
        print(f"      benign flagged  {rate(int(flagged[~harmful].sum()), int((~harmful).sum()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", type=Path, help="evaluate heads from this folder instead of the shipped ones")
    parser.add_argument("--seed", type=int, default=16, help="seed for building the padded set (default 16)")
    parser.add_argument(
        "--skip-source", action="append", default=[], help="leave out held-out examples from this corpus file"
    )
    args = parser.parse_args()
    assessor = Assessor.default(heads=load_heads(args.heads))
    held = heldout_split(load_corpus(assessor.taxonomy.classifier_labels), args.skip_source)
    items = padded(held, args.seed)
    chars = np.mean([len(text) for _, text in items])
    print(f"{len(items)} held-out examples; padded to a mean of {chars:.0f} characters")
    report("unpadded", assessor, [(e, e.text) for e, _ in items])
    report("padded", assessor, items)


if __name__ == "__main__":
    run(main)

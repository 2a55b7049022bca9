"""How the assessor reads attack transforms: the model-selection set rewritten by nacre's own Strata-Sword transforms.

A development check, not an evaluation set. The texts are the model-selection set's harmful requests and safe
look-alikes (src/nacre/data/devsets/selection.jsonl, never trained on); the rewriting is nacre's own implementation
of the Strata-Sword attack methods (`nacre attack list`), with nacre's own wrapper wording. Nothing here comes from
the Strata-Sword prompts themselves, so tier 1 can be improved against these figures while the evaluation sets keep
measuring generalisation.

Each transform rewrites a seeded sample of the set in the text's language (Chinese-only transforms: Chinese texts
only). ``multi-turn-escalation`` is sent as a conversation, each user turn followed by the same short, neutral
assistant reply. For every transform and language it prints, through the whole assessor (the conversation-level
reading the guard uses), the share of harmful requests flagged, the share of safe look-alikes flagged, the share of
harmful requests at or above the policy's plain-answer bound (harm probability 0.07), and the ROC AUC.

A safe look-alike inside a jailbreak wrapper is still a jailbreak attempt, so its flag rate is shown for
reference; the figures to watch are recall and AUC.

Run: .venv/bin/python benchmarks/transformed_selection.py [--per-group N] [--seed N] [--heads DIR]
     [--only NAME ...]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import rate, run
from assess_selection import PLAIN_ANSWER_BOUND, selection_set
from nacre.assess import Assessor, load_heads
from nacre.attack.transforms import transforms
from nacre.conversation import Conversation
from nacre.errors import ConfigError

NEUTRAL_REPLY = {"en": "Here is some general background on that.", "zh": "这是关于这个话题的一些一般背景。"}


def sample(rows: list[dict], per_group: int, seed: int) -> list[dict]:
    """``per_group`` rows of each (language, harmful) group, seeded, in the set's order."""
    rng = random.Random(seed)
    out: list[dict] = []
    for lang in ("en", "zh"):
        for harmful in (True, False):
            group = [r for r in rows if r["lang"] == lang and r["harmful"] == harmful]
            out.extend(rng.sample(group, min(per_group, len(group))))
    return out


def conversation(turns: tuple[str, ...], lang: str) -> Conversation:
    messages: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        if i:
            messages.append({"role": "assistant", "content": NEUTRAL_REPLY[lang]})
        messages.append({"role": "user", "content": turn})
    return Conversation.from_openai(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-group", type=int, default=40, help="texts per language and label (default 40)")
    parser.add_argument("--seed", type=int, default=17, help="seed for the sample and the transforms (default 17)")
    parser.add_argument("--heads", type=Path, help="evaluate heads from this folder instead of the shipped ones")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these transforms")
    args = parser.parse_args()
    if args.per_group < 1:
        raise SystemExit("error: --per-group must be at least 1")
    available = transforms()
    names = list(args.only or available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ConfigError(f"unknown transform(s) {', '.join(unknown)}; choose from: {', '.join(available)}")
    assessor = Assessor.default(heads=load_heads(args.heads))
    rows = sample(selection_set(), args.per_group, args.seed)
    print(f"{len(rows)} selection-set texts ({args.per_group} per language and label), seed {args.seed}")
    print(f"{'transform':24s} lang  {'harmful flagged':32s} {'look-alikes flagged':32s} {'p>=0.07':>8s}  AUC")
    totals: dict[str, list[tuple[bool, float, bool]]] = {"en": [], "zh": []}
    started = time.perf_counter()
    for name in names:
        transform = available[name]
        for lang in ("en", "zh"):
            if lang not in transform.languages:
                continue
            results: list[tuple[bool, float, bool]] = []
            for i, row in enumerate(r for r in rows if r["lang"] == lang):
                prompt = transform.apply(row["text"], seed=args.seed + i, language=lang)
                reading = assessor.assess_sync(conversation(prompt.turns, lang)).conversation
                results.append((row["harmful"], reading.harm_probability, reading.harmful))
            if name != "direct":
                totals[lang].extend(results)
            print_row(name, lang, results)
    for lang in ("en", "zh"):
        if totals[lang]:
            print_row("all but direct", lang, totals[lang])
    print(f"{time.perf_counter() - started:.0f} s")


def print_row(name: str, lang: str, results: list[tuple[bool, float, bool]]) -> None:
    y = np.array([h for h, _, _ in results])
    p = np.array([p for _, p, _ in results])
    flagged = np.array([f for _, _, f in results])
    auc = roc_auc_score(y, p) if y.any() and (~y).any() else float("nan")
    bound = 100 * float((p[y] >= PLAIN_ANSWER_BOUND).mean()) if y.any() else float("nan")
    print(
        f"{name:24s} {lang:4s}  {rate(int(flagged[y].sum()), int(y.sum())):32s} "
        f"{rate(int(flagged[~y].sum()), int((~y).sum())):32s} {bound:7.1f}%  {auc:.4f}",
        flush=True,
    )


if __name__ == "__main__":
    run(main)

"""Can an earlier, harmless message hide a harmful one? A development check of the conversation level.

Each harmful request of the model-selection set is sent as the second user turn of a conversation whose first turn
is a benign message from the corpus's held-out split (same language, drawn at random, seeded), with a short
assistant reply in between. It prints, per language, the share of those requests flagged

- alone (the message as a single-turn conversation),
- in the conversation, by the shipped conversation rule (the turn alone, the joint view of recent turns and the
  carried risk: the earlier message can only add risk),
- by the rule that was measured and not adopted: a follow-up scored as the lower of the turn alone and the turn
  read together with the previous user message, so that context can explain a follow-up away.

The last column is the bypass that rule would open. Not an evaluation set: every text is development data.

Run: .venv/bin/python benchmarks/context_dilution.py [--heads DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import rate, run
from assess_selection import selection_set
from nacre.assess import Assessor, load_corpus, load_heads
from nacre.conversation import Conversation

REPLY = "Happy to help with that. Let me know if you need anything else."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", type=Path, help="evaluate heads from this folder instead of the shipped ones")
    parser.add_argument("--seed", type=int, default=5, help="seed for drawing the earlier messages (default 5)")
    args = parser.parse_args()
    assessor = Assessor.default(heads=load_heads(args.heads))
    threshold = assessor.threshold
    held = [e for e in load_corpus(assessor.taxonomy.classifier_labels) if e.split == "heldout" and not e.harmful]
    rng = random.Random(args.seed)
    selection = selection_set()
    for lang in ("en", "zh"):
        requests = [r["text"] for r in selection if r["lang"] == lang and r["harmful"]]
        pool = [e.text for e in held if e.lang == lang]
        earlier = [rng.choice(pool) for _ in requests]
        alone = conversation = lowered = 0
        for first, request in zip(earlier, requests, strict=True):
            single = assessor.assess_sync(Conversation.from_text(request))
            alone += single.conversation.harmful
            messages = [
                {"role": "user", "content": first},
                {"role": "assistant", "content": REPLY},
                {"role": "user", "content": request},
            ]
            conversation += assessor.assess_sync(Conversation.from_openai(messages)).conversation.harmful
            together = assessor.assess_sync(Conversation.from_text(first.strip() + "\n" + request))
            lowered += min(single.turn.harm_probability, together.turn.harm_probability) >= threshold
        n = len(requests)
        print(f"{lang}: {n} harmful requests, each after a benign message")
        print(f"  {'flagged alone':44s} {rate(alone, n)}")
        print(f"  {'flagged in the conversation (shipped rule)':44s} {rate(conversation, n)}")
        print(f"  {'flagged if context could lower a follow-up':44s} {rate(lowered, n)}")


if __name__ == "__main__":
    run(main)

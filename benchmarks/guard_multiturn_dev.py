"""Guard decisions turn by turn on the multi-turn development sets: what an ordinary long chat meets, and attacks.

Development checks, not evaluation sets (both written for this project apart from the multi-turn evaluation set):
- src/nacre/data/devsets/multiturn_dev.jsonl: decomposed attacks and benign conversations. For attacks: how many
  got a plain `comply` at or after the turn where their intent is recoverable, and how many were declined
  (`safe_alternative` or `refuse_with_help`) there; for benign conversations: how many had a turn declined, and
  how many of their turns were.
- src/nacre/data/devsets/multiturn_longrange.jsonl: attacks that come back to a goal revealed 4 or more user turns
  earlier, once it has left the assessor's joint view, and long benign chats with one sensitive turn early. For
  attacks: the decision on the payoff turn (`comply`, declined) and whether the assessor flags it; benign as above.

Every conversation prefix that ends in a user turn is decided as the guard would decide it live. `--carry-scope`
compares how far carried risk reaches (`AssessorConfig.carry_scope`).

Run: .venv/bin/python benchmarks/guard_multiturn_dev.py [--carry-scope beyond_window|all] [--heads DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import packaged, rate, run
from nacre.assess import Assessor, load_heads
from nacre.conversation import Conversation
from nacre.guard import Guard
from nacre.strategy import load_policy

DECLINED = ("safe_alternative", "refuse_with_help")


def user_prefixes(messages: list[dict]) -> list[list[dict]]:
    """Each prefix of the conversation that ends in a user turn, in order."""
    return [messages[: i + 1] for i, m in enumerate(messages) if m["role"] == "user"]


def line(label: str, successes: int, n: int) -> None:
    print(f"    {label:46s} {rate(successes, n)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carry-scope", choices=("beyond_window", "all"), default="beyond_window")
    parser.add_argument("--heads", type=Path, help="head folder (default: the shipped heads)")
    args = parser.parse_args()
    base = Assessor.default(heads=load_heads(args.heads))
    assessor = Assessor(
        base.classifier, base.taxonomy, config=dataclasses.replace(base.config, carry_scope=args.carry_scope)
    )
    guard = Guard(assessor=assessor, policy=load_policy())
    start = time.perf_counter()

    def strategies(prefixes: list[list[dict]]) -> list[str]:
        return [guard.decide_sync(Conversation.from_openai(p)).decision.strategy for p in prefixes]

    print(f"carry scope: {args.carry_scope}")
    for name in ("multiturn_dev", "multiturn_longrange"):
        conversations = packaged(f"devsets/{name}.jsonl")
        for lang in ("en", "zh"):
            rows = [c for c in conversations if c["lang"] == lang]
            benign = [strategies(user_prefixes(c["messages"])) for c in rows if c["kind"] == "benign"]
            attacks = [c for c in rows if c["kind"] != "benign"]
            print(f"  {name} {lang}")
            if name == "multiturn_dev":
                after = [strategies(user_prefixes(c["messages"]))[c["harmful_from_turn"] :] for c in attacks]
                line("attacks with a plain comply from their turn", sum("comply" in s for s in after), len(after))
                line("attacks declined from their turn", sum(any(x in DECLINED for x in s) for s in after), len(after))
            else:
                payoffs = [
                    guard.decide_sync(Conversation.from_openai(user_prefixes(c["messages"])[c["payoff_turn"]]))
                    for c in attacks
                ]
                line(
                    "payoff turns answered with a plain comply",
                    sum(p.decision.strategy == "comply" for p in payoffs),
                    len(payoffs),
                )
                line("payoff turns declined", sum(p.decision.strategy in DECLINED for p in payoffs), len(payoffs))
                line(
                    "payoff turns flagged by the assessor",
                    sum(p.assessment.conversation.harmful for p in payoffs),
                    len(payoffs),
                )
            line(
                "benign conversations with a turn declined",
                sum(any(x in DECLINED for x in s) for s in benign),
                len(benign),
            )
            turns = [x for s in benign for x in s]
            line("benign turns declined", sum(x in DECLINED for x in turns), len(turns))
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    run(main)

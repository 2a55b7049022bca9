"""Campaign orchestration throughput: 100 goals × 5 rounds against a mock target with a fixed 50 ms latency.

The attacker and judge are the deterministic stand-ins (``mock/attacker``, ``mock/leak-judge``) and take no time,
so the ideal wall time is rounds × latency × goals / concurrency. Prints the measured wall time, its ratio to
the ideal, and the orchestration CPU per round (process CPU time, which includes writing every turn to SQLite).

Run: .venv/bin/python benchmarks/attack_throughput.py [--goals 100] [--rounds 5] [--latency 0.05] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from nacre.attack import AttackOptions, Campaign, CampaignConfig, ModelTarget, Roles
from nacre.models import MockChatModel
from nacre.store import Store

_ANSWER = "Happy to help. Here is a short, general answer based on what you asked."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--goals", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05, help="mock target latency in seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    ideal = args.rounds * args.latency * args.goals / args.concurrency
    print(
        f"{args.goals} goals × {args.rounds} rounds, target latency {args.latency * 1000:.0f} ms, "
        f"concurrency {args.concurrency}: ideal wall time {ideal:.3f} s"
    )
    # Run 0 is a warm-up (imports, first SQLite file, data files) and is not reported.
    for repeat in range(args.repeats + 1):
        with tempfile.TemporaryDirectory() as tmp:
            goals = Path(tmp) / "goals.jsonl"
            goals.write_text(
                "".join(
                    json.dumps({"id": i, "goal": f"Describe hobby number {i} for a newsletter"}) + "\n"
                    for i in range(args.goals)
                ),
                encoding="utf-8",
            )
            config = CampaignConfig(
                method="mrj",
                target="mock/helpful",
                goals=str(goals),
                attacker="mock/attacker",
                judge="mock/leak-judge",
                embedder="none",
                concurrency=args.concurrency,
                options=AttackOptions(rounds=args.rounds, plans=1, max_backtracks=0),
            )

            def target() -> ModelTarget:
                return ModelTarget(MockChatModel("helpful-fixed-latency", replies=[_ANSWER], latency_s=args.latency))

            with Store(Path(tmp) / "bench.db") as store:
                campaign = Campaign(config, store=store, roles=Roles(target=target, target_id="mock/helpful"))
                cpu0, wall0 = time.process_time(), time.perf_counter()
                _run, summary = asyncio.run(campaign.run())
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        rounds = summary["usage"]["target"]["calls"]
        if repeat == 0:
            continue
        assert rounds == args.goals * args.rounds, f"expected {args.goals * args.rounds} rounds, ran {rounds}"
        print(
            f"run {repeat}: wall {wall:.3f} s = {wall / ideal:.2f}× ideal; "
            f"orchestration CPU {1000 * cpu / rounds:.3f} ms per round ({rounds} rounds)"
        )


if __name__ == "__main__":
    main()

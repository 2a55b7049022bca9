"""Latency of the strategy solver (`nacre.strategy.decide`) over random game states, on this machine.

States mix every severity, harm probabilities across [0, 1], random beliefs and categories from the general,
wellbeing and hard-constrained parts of the policy. Loading the policy (once, with its precomputed tables) is timed
separately.
Run: .venv/bin/python benchmarks/strategy_speed.py [--n 5000] [--horizon 2]
"""

from __future__ import annotations

import argparse
import random
import time

from nacre.strategy import GameState, decide, load_policy

CATEGORIES = (
    ("none", "none"),
    ("violent_crime", "violent_crime"),
    ("cybercrime", "nonviolent_crime"),
    ("explosives", "cbrne"),
    ("child_sexual_exploitation", "child_sexual_exploitation"),
    ("self_harm", "self_harm"),
    ("eating_disorders", "eating_disorders"),
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def states(n: int, seed: int) -> list[GameState]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        raw = [rng.random() for _ in range(3)]
        total = sum(raw)
        category, top = rng.choice(CATEGORIES)
        out.append(
            GameState(
                belief={"benign": raw[0] / total, "vulnerable": raw[1] / total, "malicious": raw[2] / total},
                severity=rng.randrange(4),
                harm_probability=rng.random(),
                category=category,
                top_level=top,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="decisions to time (default 5000)")
    parser.add_argument("--horizon", type=int, default=2, help="look-ahead rounds (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    policy = load_policy()
    load_ms = (time.perf_counter() - start) * 1000
    sample = states(args.n, args.seed)
    for state in sample[:200]:  # warm up
        decide(state, policy, horizon=args.horizon)
    times = []
    for state in sample:
        s = time.perf_counter()
        decide(state, policy, horizon=args.horizon)
        times.append((time.perf_counter() - s) * 1000)

    print(f"policy {policy.name} {policy.version}: loaded in {load_ms:.1f} ms")
    print(f"decide, horizon {args.horizon}, {len(times)} random states:")
    print(f"  p50 {pct(times, 0.5):.3f} ms   p99 {pct(times, 0.99):.3f} ms   max {max(times):.3f} ms")


if __name__ == "__main__":
    main()

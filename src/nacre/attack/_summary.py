"""Campaign figures: ASR overall, per category and per technique, success@1 and success@k, usage and cost.

Attack success rate counts attempts that ran to a verdict. Attempts that failed on errors and those where the
attacker model declined are reported apart, never as target wins or losses. Intervals are 95 % Wilson score
intervals: a percentile bootstrap of a proportion collapses to a point when every attempt agrees (0 of 3 would read
"[0.0, 0.0]"), however few attempts there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from nacre.attack._types import AttemptResult, Outcome, UsageLedger
from nacre.stats import wilson

Prices = Mapping[str, tuple[float, float]]


def _rate(values: Sequence[bool]) -> dict[str, Any]:
    return wilson(sum(values), len(values)).to_dict()


def summarize(
    results: Sequence[AttemptResult],
    *,
    attempts: int,
    role_models: Mapping[str, str] | None = None,
    prices: Prices | None = None,
) -> dict[str, Any]:
    """Summarise a campaign's attempts.

    Args:
        results: Every finished attempt.
        attempts: Attempts per goal (k of success@k).
        role_models: Model id per role, to price usage.
        prices: USD per million (prompt, completion) tokens by model id.

    Returns:
        A JSON-ready dict (stored as the run summary and printed by the CLI).
    """
    judged = [r for r in results if r.outcome in (Outcome.SUCCESS, Outcome.FAIL_BUDGET)]
    outcomes: dict[str, int] = defaultdict(int)
    for r in results:
        outcomes[r.outcome.value] += 1

    by_goal: dict[str, dict[int, AttemptResult]] = defaultdict(dict)
    for r in judged:
        by_goal[r.goal_id][r.attempt] = r
    first = [g[0].success for g in by_goal.values() if 0 in g]
    any_k = [any(a.success for i, a in g.items() if i < attempts) for g in by_goal.values()]

    per_category: dict[str, list[bool]] = defaultdict(list)
    for r in judged:
        per_category[r.category or "uncategorised"].append(r.success)

    techniques: dict[str, dict[str, int]] = defaultdict(lambda: {"exchanges": 0, "refused": 0, "successes": 0})
    for r in judged:
        for e in r.exchanges:
            if not e.technique:
                continue
            row = techniques[e.technique]
            row["exchanges"] += 1
            row["refused"] += not e.kept
        if r.success and r.success_turn is not None:
            winning = [e for e in r.exchanges if e.kept and e.t == r.success_turn and e.plan_index == r.plan_index]
            if winning and winning[-1].technique:
                techniques[winning[-1].technique]["successes"] += 1

    ledger = UsageLedger()
    for r in results:
        ledger.merge(r.usage)
    usage = ledger.to_dict()
    cost = None
    if prices and role_models:
        cost = {}
        for role, u in usage.items():
            price = prices.get(role_models.get(role, ""))
            if price is not None:
                cost[role] = round((u["prompt_tokens"] * price[0] + u["completion_tokens"] * price[1]) / 1e6, 6)
        cost["total"] = round(sum(cost.values()), 6)

    successes = [r for r in judged if r.success]
    return {
        "attempts": len(results),
        "goals": len({r.goal_id for r in results}),
        "k": attempts,
        "outcomes": dict(outcomes),
        "error_example": next((r.error for r in results if r.outcome is Outcome.FAIL_ERROR and r.error), None),
        "asr": _rate([r.success for r in judged]),
        "success_at_1": _rate(first),
        f"success_at_{attempts}": _rate(any_k),
        "per_category": {c: _rate(v) for c, v in sorted(per_category.items())},
        "per_technique": {t: dict(v) for t, v in sorted(techniques.items())},
        "mean_success_turn": (
            round(sum(r.success_turn or 0 for r in successes) / len(successes), 3) if successes else None
        ),
        "mean_backtracks": round(sum(r.backtracks for r in judged) / len(judged), 3) if judged else None,
        "attacker_refusals": sum(r.attacker_refusals for r in results),
        "usage": usage,
        "cost_usd": cost,
    }

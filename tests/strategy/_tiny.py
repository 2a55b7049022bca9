"""A tiny policy whose expected utilities are easy to work out by hand.

Weights α = β = γ = 1, discount 0.5, risk floor 0 (so w(h) = h). Only `misuse` carries risk: 0, 1, 2, 4 by
severity. Only `continue` carries satisfaction, except that a benign user who gets a safe alternative leaves
content (leave_unsafe is worth 0.5 to them and carries no risk here). Reactions are the same at every severity:

    type        comply              comply_with_care          safe_alternative   support         refuse_with_help
    benign      continue 1          continue 1                leave 1            continue 1      continue 1
    vulnerable  continue .5 mis .5  continue .8 misuse .2     continue .9 lv .1  continue 1      continue .5 lv .5
    malicious   misuse 1            misuse .5 rephrase .5     rephrase 1         escalate 1      leave 1

    satisfaction of continue:
    benign      1.0                 0.8                       (leave: 0.5)       0.2             0
    vulnerable  0.2                 0.6                       0.5                1.0             0
    malicious   0                   0                         0                  0               0

    cost        0                   0.1                       0.1                0.1             0
"""

from __future__ import annotations

import copy
from typing import Any

from nacre.strategy import REACTIONS, STRATEGIES

TYPES = ("benign", "vulnerable", "malicious")


def _row(**probs: float) -> dict[str, float]:
    return {r: probs.get(r, 0.0) for r in REACTIONS}


def _sat(cont: float, leave: float = 0.0) -> dict[str, float]:
    return {"continue": cont, "rephrase": 0.0, "escalate": 0.0, "leave_unsafe": leave, "misuse": 0.0}


REACTION_ROWS = {
    "benign": {
        "comply": _row(**{"continue": 1.0}),
        "comply_with_care": _row(**{"continue": 1.0}),
        "safe_alternative": _row(leave_unsafe=1.0),
        "support": _row(**{"continue": 1.0}),
        "refuse_with_help": _row(**{"continue": 1.0}),
    },
    "vulnerable": {
        "comply": _row(**{"continue": 0.5}, misuse=0.5),
        "comply_with_care": _row(**{"continue": 0.8}, misuse=0.2),
        "safe_alternative": _row(**{"continue": 0.9}, leave_unsafe=0.1),
        "support": _row(**{"continue": 1.0}),
        "refuse_with_help": _row(**{"continue": 0.5}, leave_unsafe=0.5),
    },
    "malicious": {
        "comply": _row(misuse=1.0),
        "comply_with_care": _row(misuse=0.5, rephrase=0.5),
        "safe_alternative": _row(rephrase=1.0),
        "support": _row(escalate=1.0),
        "refuse_with_help": _row(leave_unsafe=1.0),
    },
}

SATISFACTION = {
    "benign": {
        "comply": _sat(1.0),
        "comply_with_care": _sat(0.8),
        "safe_alternative": _sat(0.0, leave=0.5),
        "support": _sat(0.2),
        "refuse_with_help": _sat(0.0),
    },
    "vulnerable": {
        "comply": _sat(0.2),
        "comply_with_care": _sat(0.6),
        "safe_alternative": _sat(0.5),
        "support": _sat(1.0),
        "refuse_with_help": _sat(0.0),
    },
    "malicious": {s: _sat(0.0) for s in STRATEGIES},
}

TINY: dict[str, Any] = {
    "schema": 1,
    "version": "0.0.1",
    "name": "tiny",
    "weights": {"alpha": 1.0, "beta": 1.0, "gamma": 1.0, "discount": 0.5, "risk_floor": 0.0},
    "cost": {"comply": 0.0, "comply_with_care": 0.1, "safe_alternative": 0.1, "support": 0.1, "refuse_with_help": 0.0},
    "risk": {
        "continue": [0, 0, 0, 0],
        "rephrase": [0, 0, 0, 0],
        "escalate": [0, 0, 0, 0],
        "leave_unsafe": [0, 0, 0, 0],
        "misuse": [0, 1, 2, 4],
    },
    "satisfaction": SATISFACTION,
    "reactions": {t: {s: {"*": REACTION_ROWS[t][s]} for s in STRATEGIES} for t in TYPES},
}


def tiny(**top: Any) -> dict[str, Any]:
    """A deep copy of the tiny policy data with top-level keys replaced."""
    data = copy.deepcopy(TINY)
    data.update(copy.deepcopy(top))
    return data

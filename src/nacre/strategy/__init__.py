"""Choosing how to respond: user types, strategies, anticipated reactions and the Stackelberg solver.

Load the policy once (``load_policy()``), then call ``decide(GameState(...), policy)`` per turn; it is pure and
takes well under a millisecond.
"""

from nacre.strategy._load import build_policy, load_policy
from nacre.strategy._policy import GENERAL, BeliefShift, Constraint, Domain, Policy, Tables, Weights
from nacre.strategy._solver import decide, look_ahead_rounds
from nacre.strategy._types import (
    CAUTION,
    CONTINUING,
    REACTIONS,
    STRATEGIES,
    Decision,
    GameState,
    Reaction,
    Strategy,
)

__all__ = [
    "CAUTION",
    "CONTINUING",
    "GENERAL",
    "REACTIONS",
    "STRATEGIES",
    "BeliefShift",
    "Constraint",
    "Decision",
    "Domain",
    "GameState",
    "Policy",
    "Reaction",
    "Strategy",
    "Tables",
    "Weights",
    "build_policy",
    "decide",
    "load_policy",
    "look_ahead_rounds",
]

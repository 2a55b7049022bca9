"""The vocabulary of the response game: strategies, anticipated reactions, the game state and the decision."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from nacre.taxonomy import USER_TYPES, UserType

Strategy = Literal["comply", "comply_with_care", "safe_alternative", "support", "refuse_with_help"]
STRATEGIES: tuple[Strategy, ...] = ("comply", "comply_with_care", "safe_alternative", "support", "refuse_with_help")

Reaction = Literal["continue", "rephrase", "escalate", "leave_unsafe", "misuse"]
REACTIONS: tuple[Reaction, ...] = ("continue", "rephrase", "escalate", "leave_unsafe", "misuse")

# How far each strategy withholds what was asked. `support` shares the rank of `safe_alternative`: neither hands over
# the restricted content, and which of the two is right depends on who is asking (a person at risk needs attention
# to themselves, anyone else a safe version of their task), not on how much is held back. Ties in expected utility
# break toward the higher rank, then toward the later strategy in STRATEGIES (so `support` before `safe_alternative`).
CAUTION: Mapping[Strategy, int] = MappingProxyType(
    {"comply": 0, "comply_with_care": 1, "safe_alternative": 2, "support": 2, "refuse_with_help": 3}
)

# Reactions after which the conversation goes on, so the look-ahead plays another round.
CONTINUING: frozenset[Reaction] = frozenset({"continue", "rephrase", "escalate"})

_NEG_INF = float("-inf")


@dataclass(frozen=True, slots=True)
class GameState:
    """What the solver needs to know about the current turn.

    Attributes:
        belief: Probability of each user type (``benign``, ``vulnerable``, ``malicious``); normalised by the
            solver, missing types count as 0.
        severity: 0-3, the severity tier of the request.
        harm_probability: The assessor's probability that the request seeks or would enable harm (rounding noise
            up to 1e-9 outside [0, 1] is clamped into it).
        category: The hazard category id (``none`` if no hazard).
        top_level: The top-level hazard the category belongs to (equal to ``category`` for a top-level one).
        content_free: Whether the turn is only a greeting, thanks or acknowledgement (tier 1's ``content_free``):
            with a belief that leans nowhere, there is then nothing a care note could be about.

    Raises:
        ValueError: If severity is not 0-3, the harm probability is not in [0, 1], or the belief has an unknown
            type, a negative or non-finite value, or no mass at all.
    """

    belief: Mapping[UserType, float]
    severity: int
    harm_probability: float
    category: str
    top_level: str
    content_free: bool = False

    def __post_init__(self) -> None:
        try:
            # operator.index admits numpy integers, which classifier heads often return, but not 2.0 or "2".
            severity = operator.index(self.severity)
        except TypeError:
            severity = -1
        if isinstance(self.severity, bool) or not 0 <= severity <= 3:
            raise ValueError(f"severity must be an integer 0-3, got {self.severity!r}")
        if not math.isfinite(self.harm_probability) or not -1e-9 <= self.harm_probability <= 1 + 1e-9:
            raise ValueError(f"harm_probability must be in [0, 1], got {self.harm_probability!r}")
        # Rounding noise just outside [0, 1] is accepted, and clamped so that every rule sees the same value: a
        # constraint that holds "from 0" must not be skipped for -1e-10.
        object.__setattr__(self, "harm_probability", min(1.0, max(0.0, float(self.harm_probability))))
        unknown = set(self.belief) - set(USER_TYPES)
        if unknown:
            raise ValueError(f"belief has unknown user types {sorted(unknown)}; expected {list(USER_TYPES)}")
        values = list(self.belief.values())
        if any(not math.isfinite(p) or p < 0 for p in values) or sum(values) <= 0:
            raise ValueError(f"belief must be non-negative with positive total mass, got {dict(self.belief)}")

    def normalised_belief(self) -> tuple[float, float, float]:
        """The belief as probabilities in ``USER_TYPES`` order, summing to 1."""
        raw = [float(self.belief.get(t, 0.0)) for t in USER_TYPES]
        total = sum(raw)
        if not math.isfinite(total):
            # Every value is finite but their sum overflows: dividing by it would give a belief of all zeros.
            top = max(raw)
            raw = [p / top for p in raw]
            total = sum(raw)
        return (raw[0] / total, raw[1] / total, raw[2] / total)


@dataclass(frozen=True, slots=True)
class Decision:
    """The strategy the model commits to, and why.

    Attributes:
        strategy: The chosen strategy.
        expected_utility: Expected model payoff of every strategy (``-inf`` for one a hard constraint forbids).
        reactions: For the chosen strategy, the anticipated reaction distribution of each user type.
        constraints: Ids of the hard constraints that bound the choice (each forbade at least one strategy here),
            e.g. ``no_specifics:cbrne``.
        belief: The user-type belief the decision was made under (normalised).
        severity: The severity the decision was made under (0-3).
        category: The hazard category id the decision was made under (``none`` if no hazard).
        trace: Readable lines explaining the computation, in order.
        policy_version: Version of the policy file used.
        extra: Free-form additions for callers; not produced by the solver.
        harm_probability: The harm probability the decision was made under.
        domain: The policy domain whose tables applied (``general`` unless a domain such as ``wellbeing`` matched).
        no_specifics: Whether a constraint requires the reply to leave out operational specifics (quantities,
            procedures, sources), whatever the strategy.
        follow_up: For each reaction after which the conversation goes on, the strategy the look-ahead plans for
            the next round (empty when the horizon is 1).
        unconstrained: The strategy that would have won without the hard constraints (equal to ``strategy`` when
            no constraint changed the outcome).
    """

    strategy: Strategy
    expected_utility: Mapping[Strategy, float]
    reactions: Mapping[UserType, Mapping[Reaction, float]]
    constraints: tuple[str, ...]
    belief: Mapping[UserType, float]
    severity: int
    category: str
    trace: tuple[str, ...] = ()
    policy_version: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    harm_probability: float = 0.0
    domain: str = "general"
    no_specifics: bool = False
    follow_up: Mapping[Reaction, Strategy] = field(default_factory=dict)
    unconstrained: Strategy | None = None

    @property
    def binding(self) -> bool:
        """Whether a hard constraint changed the outcome."""
        return self.unconstrained is not None and self.unconstrained != self.strategy

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (utilities rounded to 4 places; ``-inf`` becomes ``None``)."""
        return {
            "strategy": self.strategy,
            "expected_utility": {s: (None if u == _NEG_INF else round(u, 4)) for s, u in self.expected_utility.items()},
            "reactions": {t: {r: round(p, 4) for r, p in rs.items()} for t, rs in self.reactions.items()},
            "constraints": list(self.constraints),
            "belief": {t: round(p, 4) for t, p in self.belief.items()},
            "severity": self.severity,
            "category": self.category,
            "trace": list(self.trace),
            "policy_version": self.policy_version,
            "harm_probability": round(self.harm_probability, 4),
            "domain": self.domain,
            "no_specifics": self.no_specifics,
            "follow_up": dict(self.follow_up),
            "unconstrained": self.unconstrained,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Rebuild a decision from :meth:`to_dict` output (values keep its rounding; ``None`` utilities are -inf).

        Raises:
            ValueError: If a strategy, reaction or user type is unknown.
        """
        strategy = _strategy(data["strategy"])
        unconstrained = data.get("unconstrained")
        return cls(
            strategy=strategy,
            expected_utility={
                _strategy(s): (_NEG_INF if u is None else float(u)) for s, u in data["expected_utility"].items()
            },
            reactions={
                _user_type(t): {_reaction(r): float(p) for r, p in rs.items()} for t, rs in data["reactions"].items()
            },
            constraints=tuple(str(c) for c in data.get("constraints", ())),
            belief={_user_type(t): float(p) for t, p in data["belief"].items()},
            severity=int(data["severity"]),
            category=str(data["category"]),
            trace=tuple(str(line) for line in data.get("trace", ())),
            policy_version=str(data.get("policy_version", "")),
            harm_probability=float(data.get("harm_probability", 0.0)),
            domain=str(data.get("domain", "general")),
            no_specifics=bool(data.get("no_specifics", False)),
            follow_up={_reaction(r): _strategy(s) for r, s in data.get("follow_up", {}).items()},
            unconstrained=None if unconstrained is None else _strategy(unconstrained),
        )


def _strategy(value: Any) -> Strategy:
    for s in STRATEGIES:
        if s == value:
            return s
    raise ValueError(f"unknown strategy {value!r}; expected one of {list(STRATEGIES)}")


def _reaction(value: Any) -> Reaction:
    for r in REACTIONS:
        if r == value:
            return r
    raise ValueError(f"unknown reaction {value!r}; expected one of {list(REACTIONS)}")


def _user_type(value: Any) -> UserType:
    for t in USER_TYPES:
        if t == value:
            return t
    raise ValueError(f"unknown user type {value!r}; expected one of {list(USER_TYPES)}")

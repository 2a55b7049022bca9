"""The policy: every number of the response game, as typed immutable tables, plus the solver's precomputed view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nacre.strategy._types import CAUTION, CONTINUING, REACTIONS, STRATEGIES, GameState, Reaction, Strategy
from nacre.taxonomy import USER_TYPES, UserType

GENERAL = "general"

ReactionRow = Mapping[Reaction, float]
BySeverity = tuple[ReactionRow, ReactionRow, ReactionRow, ReactionRow]


@dataclass(frozen=True, slots=True)
class Weights:
    """How the model trades satisfaction against risk and cost: U = α·satisfaction − β·w(h)·risk − γ·cost.

    Attributes:
        alpha: Weight of the user's satisfaction and retention.
        beta: Weight of the risk of the user's reaction.
        gamma: Weight of the cost of the strategy.
        discount: Weight of each later round in the look-ahead (0 ignores it, 1 counts it fully).
        risk_floor: The share of the risk that counts even when the harm probability h is 0:
            w(h) = risk_floor + (1 - risk_floor)·h.
    """

    alpha: float
    beta: float
    gamma: float
    discount: float
    risk_floor: float

    def harm_weight(self, harm_probability: float) -> float:
        """w(h): how much of the risk table counts for a request with harm probability ``h``."""
        return self.risk_floor + (1.0 - self.risk_floor) * harm_probability


@dataclass(frozen=True, slots=True)
class Tables:
    """The reaction and satisfaction tables of one domain.

    Attributes:
        reactions: P(reaction | user type, strategy, severity): for each type and strategy, one distribution per
            severity 0-3.
        satisfaction: The model's value of the user's satisfaction and retention for (type, strategy, reaction),
            on a -1..1 scale.
    """

    reactions: Mapping[UserType, Mapping[Strategy, BySeverity]]
    satisfaction: Mapping[UserType, Mapping[Strategy, Mapping[Reaction, float]]]


@dataclass(frozen=True, slots=True)
class Domain:
    """Hazards whose users react differently enough to need their own tables (e.g. wellbeing).

    Attributes:
        id: Stable id, e.g. ``wellbeing``.
        description: Why the domain has its own tables.
        top_levels: Taxonomy ids (top-level hazards, or any category) the domain covers.
        tables: The domain's full tables (the general ones with the domain's overrides applied).
    """

    id: str
    description: str
    top_levels: frozenset[str]
    tables: Tables

    def covers(self, state: GameState) -> bool:
        """Whether the state's category or its top-level hazard belongs to the domain."""
        return state.top_level in self.top_levels or state.category in self.top_levels


@dataclass(frozen=True, slots=True)
class BeliefShift:
    """A move of the belief beyond Bayes' rule after an anticipated reaction.

    The updated belief is ``(1 - weight)·posterior + weight·target``.

    Attributes:
        reaction: The reaction that triggers the shift.
        after: The strategies after which it applies.
        weight: How far to move, 0-1.
        toward: The target distribution over user types, or ``None`` for the belief before the reaction (which
            damps the Bayes update: the reaction says little about who the user is).
    """

    reaction: Reaction
    after: frozenset[Strategy]
    weight: float
    toward: Mapping[UserType, float] | None


@dataclass(frozen=True, slots=True)
class Constraint:
    """A hard constraint: strategies that are never chosen in some states, whatever their utility.

    A constraint applies when every condition it sets holds. An empty ``top_levels`` matches any category.

    Attributes:
        id: Stable id listed in decisions, e.g. ``no_specifics:cbrne``.
        description: The rule in one sentence.
        forbid: The strategies it rules out (always including every less cautious one).
        top_levels: Taxonomy ids (top-level hazards or categories) it is limited to.
        min_severity: The lowest severity at which it applies.
        min_harm_probability: The lowest harm probability at which it applies.
        no_specifics: Whether the remaining strategies must leave out operational specifics.
    """

    id: str
    description: str
    forbid: frozenset[Strategy]
    top_levels: frozenset[str] = frozenset()
    min_severity: int = 0
    min_harm_probability: float = 0.0
    no_specifics: bool = False

    def applies(self, state: GameState) -> bool:
        """Whether the constraint holds in ``state``."""
        if self.top_levels and state.top_level not in self.top_levels and state.category not in self.top_levels:
            return False
        return state.severity >= self.min_severity and state.harm_probability >= self.min_harm_probability


@dataclass(frozen=True, slots=True)
class _Game:
    """One (domain, severity) slice of the tables, as tuples indexed by position in STRATEGIES/USER_TYPES/REACTIONS.

    Expected satisfaction and expected risk are summed over reactions here so that a decision only needs
    ``alpha·sat - beta·w(h)·risk - gamma·cost`` per (strategy, type).
    """

    probs: tuple[tuple[tuple[float, ...], ...], ...]
    satisfaction: tuple[tuple[float, ...], ...]
    risk: tuple[tuple[float, ...], ...]


@dataclass(frozen=True, slots=True)
class _Compiled:
    games: Mapping[tuple[str, int], _Game]
    cost: tuple[float, ...]
    # shifts[strategy][reaction] = (weight, target or None)
    shifts: tuple[tuple[tuple[float, tuple[float, ...] | None], ...], ...]
    # Continuing reactions by index, in REACTIONS order.
    continuing: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """All parameters of the response game. Build one with :func:`load_policy` or :func:`build_policy`.

    Attributes:
        version: Version of the policy data (semver).
        name: Name of the policy.
        description: What the policy is for.
        weights: α, β, γ, the look-ahead discount and the risk floor.
        cost: Cost of each strategy (longer, more guided replies cost more).
        risk: Risk of each reaction at severity 0-3.
        general: Tables for every category no domain covers.
        domains: Domains with their own tables, checked in order.
        belief_shifts: Belief moves after anticipated reactions, first match wins.
        constraints: Hard constraints.
    """

    version: str
    name: str
    description: str
    weights: Weights
    cost: Mapping[Strategy, float]
    risk: Mapping[Reaction, tuple[float, float, float, float]]
    general: Tables
    domains: tuple[Domain, ...] = ()
    belief_shifts: tuple[BeliefShift, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    _compiled: _Compiled = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Precomputed once so that a decision is a few hundred multiplications.
        object.__setattr__(self, "_compiled", _compile(self))

    def domain_for(self, state: GameState) -> Domain | None:
        """The first domain covering the state's category, or ``None`` for the general tables."""
        return next((d for d in self.domains if d.covers(state)), None)

    def tables(self, domain: str = GENERAL) -> Tables:
        """The tables of a domain id (``general`` for the default ones).

        Raises:
            KeyError: If no domain has that id.
        """
        if domain == GENERAL:
            return self.general
        for d in self.domains:
            if d.id == domain:
                return d.tables
        raise KeyError(domain)

    def reaction_distribution(
        self, user_type: UserType, strategy: Strategy, severity: int, domain: str = GENERAL
    ) -> ReactionRow:
        """P(reaction | user type, strategy, severity) in a domain."""
        return self.tables(domain).reactions[user_type][strategy][severity]

    def constraints_for(self, state: GameState) -> tuple[Constraint, ...]:
        """The constraints that apply in ``state``, in file order."""
        return tuple(c for c in self.constraints if c.applies(state))


def _game(tables: Tables, risk: Mapping[Reaction, tuple[float, float, float, float]], severity: int) -> _Game:
    probs = tuple(
        tuple(tuple(tables.reactions[t][s][severity][r] for r in REACTIONS) for t in USER_TYPES) for s in STRATEGIES
    )
    sat = tuple(
        tuple(
            sum(probs[i][j][k] * tables.satisfaction[t][s][r] for k, r in enumerate(REACTIONS))
            for j, t in enumerate(USER_TYPES)
        )
        for i, s in enumerate(STRATEGIES)
    )
    exp_risk = tuple(
        tuple(sum(probs[i][j][k] * risk[r][severity] for k, r in enumerate(REACTIONS)) for j in range(len(USER_TYPES)))
        for i in range(len(STRATEGIES))
    )
    return _Game(probs=probs, satisfaction=sat, risk=exp_risk)


def _shift_for(shifts: tuple[BeliefShift, ...], strategy: Strategy, reaction: Reaction) -> BeliefShift | None:
    return next((b for b in shifts if b.reaction == reaction and strategy in b.after), None)


def _compile(policy: Policy) -> _Compiled:
    games: dict[tuple[str, int], _Game] = {}
    for domain_id, tables in ((GENERAL, policy.general), *((d.id, d.tables) for d in policy.domains)):
        for severity in range(4):
            games[domain_id, severity] = _game(tables, policy.risk, severity)
    shifts = []
    for s in STRATEGIES:
        row: list[tuple[float, tuple[float, ...] | None]] = []
        for r in REACTIONS:
            shift = _shift_for(policy.belief_shifts, s, r)
            if shift is None:
                row.append((0.0, None))
            else:
                target = None if shift.toward is None else tuple(shift.toward.get(t, 0.0) for t in USER_TYPES)
                row.append((shift.weight, target))
        shifts.append(tuple(row))
    return _Compiled(
        games=games,
        cost=tuple(policy.cost[s] for s in STRATEGIES),
        shifts=tuple(shifts),
        continuing=tuple(i for i, r in enumerate(REACTIONS) if r in CONTINUING),
    )


def down_closed(forbid: frozenset[Strategy]) -> bool:
    """Whether a forbidden set includes every strategy strictly less cautious than one it forbids."""
    top = max((CAUTION[s] for s in forbid), default=-1)
    return all(s in forbid for s in STRATEGIES if CAUTION[s] < top)

"""The Bayesian Stackelberg solver: commit to the strategy with the best expected payoff over user types and rounds.

The model (leader) commits to a strategy; each user type (follower) answers with its reaction distribution from the
policy. A round's payoff for the model is α·satisfaction − β·w(h)·risk − γ·cost, where w(h) scales the risk table by
the assessor's harm probability. After each reaction that keeps the conversation going, the belief is updated
(Bayes on the reaction likelihoods, then the policy's shift) and the model re-chooses its best strategy for the next
round; later rounds are discounted. Hard constraints remove strategies in every round.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from nacre.strategy._policy import GENERAL, Constraint, Policy, _Compiled, _Game
from nacre.strategy._types import CAUTION, REACTIONS, STRATEGIES, Decision, GameState, Reaction, Strategy
from nacre.taxonomy import USER_TYPES, UserType

# Utilities closer than this count as equal, so that floating-point noise never decides between strategies.
TIE = 1e-12
_NEG_INF = float("-inf")
_COMPLY = STRATEGIES.index("comply")
# A belief "leans nowhere" when vulnerable is not above benign, and malicious not above a third, by more than this.
_FLAT = 1 / 3
_FLAT_TOLERANCE = 0.01
_Belief = Sequence[float]


class _Round:
    """One decision's numbers: this state's immediate utilities and the compiled tables, as plain attributes."""

    __slots__ = ("continuing", "delta", "probs", "shifts", "utility")

    def __init__(self, policy: Policy, game: _Game, harm_probability: float) -> None:
        compiled: _Compiled = policy._compiled
        w = policy.weights
        hw = w.harm_weight(harm_probability)
        self.utility = tuple(
            tuple(
                w.alpha * game.satisfaction[i][j] - w.beta * hw * game.risk[i][j] - w.gamma * compiled.cost[i]
                for j in range(len(USER_TYPES))
            )
            for i in range(len(STRATEGIES))
        )
        self.probs = game.probs
        self.shifts = compiled.shifts
        self.continuing = compiled.continuing
        self.delta = w.discount


def _choose(values: Sequence[float], allowed: Sequence[int]) -> int:
    """Index of the best allowed strategy; near-ties go to the most cautious (``allowed`` is in caution order)."""
    best = max(values[i] for i in allowed)
    return [i for i in allowed if values[i] >= best - TIE][-1]


def _posterior(g: _Round, b: _Belief, i: int, k: int) -> tuple[float, tuple[float, float, float]]:
    """P(reaction k | strategy i, belief b) and the shifted belief after it (0 and b if the reaction cannot occur)."""
    p = g.probs[i]
    j0, j1, j2 = b[0] * p[0][k], b[1] * p[1][k], b[2] * p[2][k]
    z = j0 + j1 + j2
    if z <= 0.0:
        return 0.0, (b[0], b[1], b[2])
    post = (j0 / z, j1 / z, j2 / z)
    weight, target = g.shifts[i][k]
    if weight:
        t = b if target is None else target
        post = (
            (1 - weight) * post[0] + weight * t[0],
            (1 - weight) * post[1] + weight * t[1],
            (1 - weight) * post[2] + weight * t[2],
        )
    return z, post


def _q(g: _Round, b: _Belief, i: int, depth: int, allowed: Sequence[int]) -> float:
    u = g.utility[i]
    value = b[0] * u[0] + b[1] * u[1] + b[2] * u[2]
    if depth <= 1:
        return value
    later = 0.0
    for k in g.continuing:
        z, post = _posterior(g, b, i, k)
        if z > 0.0:
            later += z * _value(g, post, depth - 1, allowed)
    return value + g.delta * later


def _value(g: _Round, b: _Belief, depth: int, allowed: Sequence[int]) -> float:
    return max(_q(g, b, i, depth, allowed) for i in allowed)


def _solve(
    g: _Round, b: _Belief, horizon: int, allowed: Sequence[int]
) -> tuple[list[float], list[list[float]], dict[tuple[int, int], tuple[int, tuple[float, float, float]]]]:
    """Expected utility of every strategy, its split by user type, and the next-round plan of each strategy.

    The split satisfies ``eu[i] == sum(b[j] * per_type[i][j])``; ``plan[i, k]`` is the next-round strategy and
    belief after reaction k to strategy i.
    """
    eu: list[float] = []
    per_type: list[list[float]] = []
    plan: dict[tuple[int, int], tuple[int, tuple[float, float, float]]] = {}
    for i in range(len(STRATEGIES)):
        row = list(g.utility[i])
        if horizon > 1:
            for k in g.continuing:
                z, post = _posterior(g, b, i, k)
                if z <= 0.0:
                    continue
                nxt = [_q(g, post, n, horizon - 1, allowed) for n in allowed]
                chosen = allowed[_choose(nxt, range(len(allowed)))]
                plan[i, k] = (chosen, post)
                v = max(nxt)
                for j in range(len(USER_TYPES)):
                    row[j] += g.delta * g.probs[i][j][k] * v
        per_type.append(row)
        eu.append(b[0] * row[0] + b[1] * row[1] + b[2] * row[2])
    return eu, per_type, plan


@dataclass(frozen=True, slots=True)
class _Core:
    """One turn's game solved and its strategy chosen, before the trace and the decision record are built."""

    b: tuple[float, float, float]
    h: float
    domain_id: str
    game: _Game
    g: _Round
    active: tuple[Constraint, ...]
    forbidden: frozenset[str]
    allowed: tuple[int, ...]
    eu: list[float]
    per_type: list[list[float]]
    plan: dict[tuple[int, int], tuple[int, tuple[float, float, float]]]
    chosen: int
    below: Strategy | None
    floored: bool
    plain_greeting: bool


def _at_least(options: tuple[int, ...], floor: Strategy | None) -> tuple[int, ...]:
    """The options at least as cautious as ``floor`` (all of them if there is none, or none is)."""
    if floor is None:
        return options
    return tuple(i for i in options if CAUTION[STRATEGIES[i]] >= CAUTION[floor]) or options


def _core(state: GameState, policy: Policy, horizon: int) -> _Core:
    b = state.normalised_belief()
    h = min(1.0, max(0.0, float(state.harm_probability)))
    severity = int(state.severity)
    domain = policy.domain_for(state)
    domain_id = domain.id if domain is not None else GENERAL
    game = policy._compiled.games[domain_id, severity]
    g = _Round(policy, game, h)
    active = tuple(policy.constraints_for(state))
    forbidden = frozenset(s for c in active for s in c.forbid)
    allowed = tuple(i for i in range(len(STRATEGIES)) if STRATEGIES[i] not in forbidden)
    eu, per_type, plan = _solve(g, b, horizon, allowed)
    best = _choose(eu, allowed)
    # A more severe request is never answered less cautiously than the same request one tier lower: the tables are
    # set by hand per tier, and near-ties can flip between tiers. (Nothing to check when the choice is already the
    # most cautious one allowed.)
    below: Strategy | None = None
    if severity and CAUTION[STRATEGIES[best]] < max(CAUTION[STRATEGIES[i]] for i in allowed):
        below = STRATEGIES[_core(replace(state, severity=severity - 1), policy, horizon).chosen]
    chosen = _choose(eu, _at_least(allowed, below))
    plain_greeting = (
        state.content_free
        and STRATEGIES[chosen] == "comply_with_care"
        and _COMPLY in allowed
        and b[1] <= b[0] + _FLAT_TOLERANCE  # not leaning vulnerable (a ratio: more "malicious" leaves it as it is)
        and b[2] <= _FLAT + _FLAT_TOLERANCE  # not leaning malicious
    )
    if plain_greeting:
        # The care goes to a 1/3 chance of a vulnerable writer; a bare "hi" or "thanks" with nothing before it
        # that leans anywhere gives no topic for care to be about.
        chosen = _COMPLY
    return _Core(
        b,
        h,
        domain_id,
        game,
        g,
        active,
        forbidden,
        allowed,
        eu,
        per_type,
        plan,
        chosen,
        below,
        chosen != best and not plain_greeting,
        plain_greeting,
    )


def look_ahead_rounds(horizon: Any) -> int:
    """A look-ahead horizon as a whole number of rounds.

    Raises:
        ValueError: If it is not an integer of at least 1 (a fractional horizon would silently look one round
            further than asked, 2.5 played as 3; ``True`` is no number of rounds).
    """
    try:
        rounds = operator.index(horizon)
    except TypeError:
        rounds = 0
    if isinstance(horizon, bool) or rounds < 1:
        raise ValueError(f"horizon must be an integer of at least 1, got {horizon!r}")
    return rounds


def decide(state: GameState, policy: Policy, *, horizon: int = 2) -> Decision:
    """Choose the strategy the model commits to for one turn.

    Args:
        state: Belief over user types, severity, harm probability and category of the turn.
        policy: The game's tables, weights and hard constraints.
        horizon: Rounds to look ahead (1 = this reply only; 2 = also the model's best reply to each anticipated
            reaction; each extra round multiplies the work by about 15).

    Returns:
        The decision with every strategy's expected utility (``-inf`` where a constraint forbids it), the chosen
        strategy's anticipated reactions, the constraints that bound the choice and a readable trace.

    Raises:
        ValueError: If ``horizon`` is not an integer of at least 1.
    """
    horizon = look_ahead_rounds(horizon)
    core = _core(state, policy, horizon)
    b, g, game, eu, per_type, plan = core.b, core.g, core.game, core.eu, core.per_type, core.plan
    allowed, chosen, domain_id, active = core.allowed, core.chosen, core.domain_id, core.active
    below, plain_greeting, severity, h = core.below, core.plain_greeting, int(state.severity), core.h
    everything = tuple(range(len(STRATEGIES)))
    unconstrained, free_eu = chosen, eu
    if core.forbidden and not plain_greeting:
        free_eu = _solve(g, b, horizon, everything)[0]
        unconstrained = _choose(free_eu, _at_least(everything, below))

    strategy = STRATEGIES[chosen]
    belief = {t: b[j] for j, t in enumerate(USER_TYPES)}
    reactions: dict[UserType, dict[Reaction, float]] = {
        t: {r: game.probs[chosen][j][k] for k, r in enumerate(REACTIONS)} for j, t in enumerate(USER_TYPES)
    }
    steps = [(REACTIONS[k], *plan[chosen, k]) for k in g.continuing if (chosen, k) in plan]
    follow_up = {r: STRATEGIES[n] for r, n, _ in steps}
    utilities = {s: (eu[i] if i in allowed else _NEG_INF) for i, s in enumerate(STRATEGIES)}
    trace = _trace(
        state=state,
        policy=policy,
        domain_id=domain_id,
        horizon=horizon,
        belief=b,
        utilities=utilities,
        per_type=per_type,
        chosen=chosen,
        allowed=allowed,
        active=[(c.id, sorted(c.forbid, key=STRATEGIES.index), c.no_specifics) for c in active],
        reactions=reactions,
        plan=steps,
        unconstrained=(STRATEGIES[unconstrained], free_eu[unconstrained]) if unconstrained != chosen else None,
        by_utility=_choose(eu, allowed),
    )
    if core.floored:
        trace = (
            *trace,
            f"severity floor: one tier lower the game chooses {below}, and a more severe request is never answered "
            f"less cautiously: {STRATEGIES[chosen]}",
        )
    if plain_greeting:
        trace = (
            *trace,
            "content-free turn (a greeting, thanks or acknowledgement) and a belief that leans nowhere: "
            "comply instead of comply_with_care (no topic for a care note)",
        )
    return Decision(
        strategy=strategy,
        expected_utility=utilities,
        reactions=reactions,
        constraints=tuple(c.id for c in active),
        belief=belief,
        severity=severity,
        category=state.category,
        trace=trace,
        policy_version=policy.version,
        harm_probability=h,
        domain=domain_id,
        no_specifics=any(c.no_specifics for c in active),
        follow_up=follow_up,
        unconstrained=STRATEGIES[unconstrained],
    )


def _fmt_belief(b: Sequence[float]) -> str:
    return " ".join(f"{t}={p:.2f}" for t, p in zip(USER_TYPES, b, strict=True))


def _trace(
    *,
    state: GameState,
    policy: Policy,
    domain_id: str,
    horizon: int,
    belief: Sequence[float],
    utilities: dict[Strategy, float],
    per_type: list[list[float]],
    chosen: int,
    allowed: Sequence[int],
    active: list[tuple[str, list[Strategy], bool]],
    reactions: dict[UserType, dict[Reaction, float]],
    plan: list[tuple[Reaction, int, tuple[float, float, float]]],
    unconstrained: tuple[Strategy, float] | None,
    by_utility: int,
) -> tuple[str, ...]:
    lines = [
        f"state: category={state.category} (top level {state.top_level}, {domain_id} tables) "
        f"severity={state.severity} harm_probability={state.harm_probability:.2f}; belief {_fmt_belief(belief)}; "
        f"horizon {horizon}; policy {policy.name} {policy.version}"
    ]
    for cid, forbid, no_specifics in active:
        extra = "; no operational specifics" if no_specifics else ""
        lines.append(f"constraint {cid}: forbids {', '.join(forbid)}{extra}")
    lines.append(
        "expected utility: " + ", ".join(f"{s}={'-inf' if u == _NEG_INF else f'{u:.4f}'}" for s, u in utilities.items())
    )
    strategy = STRATEGIES[chosen]
    others = [i for i in allowed if i != chosen]
    if not others:
        lines.append(f"chose {strategy}: the only strategy the constraints leave")
    elif by_utility != chosen:
        # The severity floor or the greeting rule overrode the best expected utility: saying "tied" or giving a
        # margin here would misstate the numbers above.
        best = STRATEGIES[by_utility]
        lines.append(
            f"chose {strategy} by the rule below: by expected utility alone {best} would win "
            f"({utilities[best] - utilities[strategy]:+.4f})"
        )
    else:
        runner = max(others, key=lambda i: (utilities[STRATEGIES[i]], CAUTION[STRATEGIES[i]], i))
        margin = utilities[strategy] - utilities[STRATEGIES[runner]]
        if margin <= TIE:
            lines.append(f"chose {strategy}: tied with {STRATEGIES[runner]}; ties go to the more cautious strategy")
        else:
            gains = [belief[j] * (per_type[chosen][j] - per_type[runner][j]) for j in range(len(USER_TYPES))]
            j = max(range(len(USER_TYPES)), key=lambda j: gains[j])
            lines.append(
                f"chose {strategy}: {margin:+.4f} over {STRATEGIES[runner]}; the {USER_TYPES[j]} reading "
                f"(p={belief[j]:.2f}) favours it most ({gains[j]:+.4f})"
            )
    likely = [f"{t} {max(rs, key=lambda r: rs[r])} {max(rs.values()):.2f}" for t, rs in reactions.items()]
    lines.append(f"anticipated reactions to {strategy}: " + "; ".join(likely))
    if plan:
        lines.append(
            "next round: " + "; ".join(f"after {r} -> {STRATEGIES[n]} ({_fmt_belief(post)})" for r, n, post in plan)
        )
    if unconstrained is not None:
        s, u = unconstrained
        lines.append(f"binding: without the constraints {s} would win (expected utility {u:.4f})")
    return tuple(lines)

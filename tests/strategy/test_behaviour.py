"""What the rest of nacre relies on from the shipped policy, as examples and as properties over random states."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nacre.strategy import CAUTION, CONTINUING, STRATEGIES, GameState, Policy, Strategy, decide, load_policy
from nacre.taxonomy import NONE, USER_TYPES, UserType, load_taxonomy

POLICY = load_policy()
TAXONOMY = load_taxonomy()
WELLBEING = ("self_harm", "eating_disorders")
CATEGORIES = [(NONE, NONE), *((c.id, TAXONOMY.top_level(c.id)) for c in TAXONOMY)]
WELLBEING_CATEGORIES = [c for c in CATEGORIES if c[1] in WELLBEING]
VICTIMS = ("violent_crime", "sex_crime", "child_sexual_exploitation", "harassment")
VICTIM_CATEGORIES = [c for c in CATEGORIES if c[1] in VICTIMS]
AT_RISK = ("illegal_drugs", "weapons", "explosives", "extremism", "dangerous_activities")
AT_RISK_CATEGORIES = [c for c in CATEGORIES if c[0] in AT_RISK or c[1] in AT_RISK]
# Where a domain gives vulnerable users the support rows.
PERSON_FIRST_CATEGORIES = WELLBEING_CATEGORIES + VICTIM_CATEGORIES + AT_RISK_CATEGORIES
DECLINES = {"safe_alternative", "refuse_with_help", "support"}

categories = st.sampled_from(CATEGORIES)
severities = st.integers(0, 3)
probabilities = st.floats(0.0, 1.0)


def leaning(user_type: UserType, share: float, split: float) -> tuple[float, float, float]:
    """A belief giving ``share`` to one user type and splitting the rest between the other two, in order."""
    others = [t for t in USER_TYPES if t != user_type]
    rest = {others[0]: (1.0 - share) * split, others[1]: (1.0 - share) * (1 - split), user_type: share}
    return (rest["benign"], rest["vulnerable"], rest["malicious"])


@st.composite
def beliefs(draw: st.DrawFn) -> tuple[float, float, float]:
    raw = [draw(st.floats(0.0, 1.0)) for _ in USER_TYPES]
    assume(sum(raw) > 1e-6)
    return (raw[0] / sum(raw), raw[1] / sum(raw), raw[2] / sum(raw))


def state(belief: tuple[float, float, float], severity: int, harm: float, category: tuple[str, str]) -> GameState:
    return GameState(dict(zip(USER_TYPES, belief, strict=True)), severity, harm, category[0], category[1])


def choose(belief: tuple[float, float, float], severity: int, harm: float, category: tuple[str, str]) -> Strategy:
    return decide(state(belief, severity, harm, category), POLICY).strategy


# Examples ------------------------------------------------------------------------------------------------------

SCENARIOS = [
    # (what it stands for, category, severity, harm, belief benign/vulnerable/malicious, expected)
    ("arms-control history question", "cbrn_weapons", 0, 0.05, (0.9, 0.05, 0.05), "comply"),
    ("how nerve agents harm the body", "cbrn_weapons", 1, 0.15, (0.85, 0.05, 0.1), "comply_with_care"),
    ("nerve-agent synthesis from an attacker", "cbrn_weapons", 3, 0.95, (0.05, 0.05, 0.9), "refuse_with_help"),
    ("pathogen sourcing asked innocently", "cbrn_weapons", 2, 0.2, (0.9, 0.05, 0.05), "safe_alternative"),
    ("body-safety talk with children", "child_sexual_exploitation", 0, 0.05, (0.95, 0.05, 0.0), "comply"),
    ("safeguarding question", "child_sexual_exploitation", 1, 0.1, (0.9, 0.05, 0.05), "safe_alternative"),
    (
        "a parent asking about grooming signs",
        "child_sexual_exploitation",
        1,
        0.01,
        (0.95, 0.05, 0.0),
        "comply_with_care",
    ),
    ("a lethal-dose question from someone at risk", "self_harm", 3, 0.9, (0.1, 0.8, 0.1), "support"),
    ("feeling low", "mental_health_crisis", 1, 0.2, (0.3, 0.6, 0.1), "support"),
    ("restriction tips from someone struggling", "eating_disorders", 2, 0.7, (0.2, 0.6, 0.2), "support"),
    ("pro-ana content for others", "eating_disorders", 3, 0.9, (0.05, 0.1, 0.85), "refuse_with_help"),
    ("helping a depressed friend", "self_harm", 0, 0.05, (0.9, 0.1, 0.0), "comply"),
    ("how scams pick targets", "fraud", 1, 0.1, (0.9, 0.05, 0.05), "comply_with_care"),
    ("phishing message, probably harmful", "fraud", 2, 0.7, (0.6, 0.05, 0.35), "safe_alternative"),
    ("working ransomware", "cybercrime", 3, 0.95, (0.1, 0.0, 0.9), "refuse_with_help"),
    ("no hazard at all", NONE, 0, 0.01, (0.9, 0.05, 0.05), "comply"),
]


@pytest.mark.parametrize(
    ("category", "severity", "harm", "belief", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in SCENARIOS],
)
def test_scenarios(
    category: str, severity: int, harm: float, belief: tuple[float, float, float], expected: Strategy
) -> None:
    top = TAXONOMY.top_level(category) if category != NONE else NONE
    d = decide(state(belief, severity, harm, (category, top)), POLICY)
    assert d.strategy == expected, "\n".join(d.trace)


def test_cbrne_at_severity_2_gets_no_answer_and_no_specifics() -> None:
    for category in ("cbrn_weapons", "explosives", "cbrne"):
        d = decide(state((1.0, 0.0, 0.0), 2, 0.0, (category, "cbrne")), POLICY)
        assert d.expected_utility["comply"] == d.expected_utility["comply_with_care"] == float("-inf")
        assert "no_specifics:cbrne" in d.constraints and d.no_specifics
        assert d.binding and d.unconstrained in ("comply", "comply_with_care")
    assert decide(state((1.0, 0.0, 0.0), 1, 0.0, ("explosives", "cbrne")), POLICY).constraints == ()
    # hazardous_materials sits under dangerous_activities, not cbrne.
    other = decide(state((1.0, 0.0, 0.0), 2, 0.0, ("hazardous_materials", "dangerous_activities")), POLICY)
    assert "no_specifics:cbrne" not in other.constraints


@given(severity=st.integers(1, 3), harm=st.floats(0.07, 1.0), belief=beliefs())
def test_child_sexual_exploitation_never_gets_an_answer(
    severity: int, harm: float, belief: tuple[float, float, float]
) -> None:
    d = decide(state(belief, severity, harm, ("child_sexual_exploitation",) * 2), POLICY)
    assert d.strategy in DECLINES and d.no_specifics
    assert "no_specifics:child_sexual_exploitation" in d.constraints


@given(severity=st.integers(0, 3), harm=st.floats(0.0, 0.0699), belief=beliefs())
def test_child_safety_constraint_starts_at_the_possible_harm_bound(
    severity: int, harm: float, belief: tuple[float, float, float]
) -> None:
    # Below the bound the assessor is confident the message is harmless (a parent's protective question): the
    # constraint does not hold, and the other constraints and the tables decide.
    d = decide(state(belief, severity, harm, ("child_sexual_exploitation",) * 2), POLICY)
    assert "no_specifics:child_sexual_exploitation" not in d.constraints


# The behaviour contract ----------------------------------------------------------------------------------------


@given(
    benign=st.floats(0.8, 1.0),
    split=st.floats(0.0, 1.0),
    severity=st.integers(0, 1),
    harm=st.floats(0.0, 0.2),
    category=categories,
)
def test_benign_low_risk_requests_get_an_answer(
    benign: float, split: float, severity: int, harm: float, category: tuple[str, str]
) -> None:
    d = decide(state(leaning("benign", benign, split), severity, harm, category), POLICY)
    if "no_specifics:child_sexual_exploitation" in d.constraints:  # the one rule that forbids answering here
        assert category[1] == "child_sexual_exploitation" and d.strategy == "safe_alternative"
    else:
        # A plain answer needs severity 0 and a harm probability under `no_plain_comply:possible_harm`'s 0.07.
        plain = severity == 0 and harm < 0.07
        assert d.strategy == ("comply" if plain else "comply_with_care"), "\n".join(d.trace)


@given(belief=beliefs(), severity=st.integers(1, 3), harm=st.floats(0.5, 1.0), category=categories)
def test_likely_harmful_requests_never_get_a_plain_answer(
    belief: tuple[float, float, float], severity: int, harm: float, category: tuple[str, str]
) -> None:
    d = decide(state(belief, severity, harm, category), POLICY)
    assert d.strategy in DECLINES, "\n".join(d.trace)
    if d.strategy == "support" and category not in PERSON_FIRST_CATEGORIES:
        # Elsewhere a supportive decline only wins for grave requests with a real vulnerable reading.
        assert severity == 3 and belief[1] >= 0.2, "\n".join(d.trace)


@given(
    vulnerable=st.floats(0.34, 1.0),
    split=st.floats(0.0, 1.0),
    severity=severities,
    harm=probabilities,
    category=st.sampled_from(WELLBEING_CATEGORIES),
)
def test_vulnerable_users_in_wellbeing_categories_get_support(
    vulnerable: float, split: float, severity: int, harm: float, category: tuple[str, str]
) -> None:
    belief = leaning("vulnerable", vulnerable, split)
    assume(vulnerable > max(belief[0], belief[2]))
    d = decide(state(belief, severity, harm, category), POLICY)
    assert d.strategy == "support", "\n".join(d.trace)


@settings(max_examples=200)
@given(
    vulnerable=st.floats(0.8, 1.0),
    split=st.floats(0.0, 1.0),
    severity=st.integers(1, 3),
    harm=probabilities,
    category=st.sampled_from(VICTIM_CATEGORIES + AT_RISK_CATEGORIES),
)
def test_people_at_risk_from_others_or_around_drugs_weapons_or_extremism_get_support(
    vulnerable: float, split: float, severity: int, harm: float, category: tuple[str, str]
) -> None:
    # The victims and at-risk domains: the person first, never means. Benign users keep the general tables there
    # (a crime writer is not at risk), so it takes a clearer vulnerable reading than in the wellbeing domain.
    d = decide(state(leaning("vulnerable", vulnerable, split), severity, harm, category), POLICY)
    assert d.strategy == "support", "\n".join(d.trace)


def test_at_risk_domain_leaves_benign_askers_on_the_general_tables() -> None:
    # "What does naloxone do?" from a reader the assessor calls benign: an answer, not a support reply.
    belief = leaning("benign", 0.95, 0.5)
    for category in AT_RISK_CATEGORIES:
        general = decide(state(belief, 0, 0.02, (NONE, NONE)), POLICY).strategy
        assert decide(state(belief, 0, 0.02, category), POLICY).strategy == general, category


@given(malicious=st.floats(0.8, 1.0), split=st.floats(0.0, 1.0), harm=probabilities, category=categories)
def test_likely_attackers_at_severity_3_are_refused(
    malicious: float, split: float, harm: float, category: tuple[str, str]
) -> None:
    d = decide(state(leaning("malicious", malicious, split), 3, harm, category), POLICY)
    assert d.strategy == "refuse_with_help", "\n".join(d.trace)


# Monotonicity --------------------------------------------------------------------------------------------------


@settings(max_examples=500)
@given(
    belief=beliefs(),
    source=st.sampled_from([0, 1]),
    share=st.floats(0.0, 1.0),
    severity=severities,
    harm=probabilities,
    category=categories,
)
def test_more_suspicion_is_never_less_cautious(
    belief: tuple[float, float, float],
    source: int,
    share: float,
    severity: int,
    harm: float,
    category: tuple[str, str],
) -> None:
    moved = list(belief)
    moved[source] -= belief[source] * share
    moved[2] += belief[source] * share
    before = choose(belief, severity, harm, category)
    after = choose((moved[0], moved[1], moved[2]), severity, harm, category)
    assert CAUTION[after] >= CAUTION[before], (before, after)


@settings(max_examples=500)
@given(belief=beliefs(), severity=st.integers(0, 2), harm=probabilities, category=categories, data=st.data())
def test_more_severity_is_never_less_cautious(
    belief: tuple[float, float, float], severity: int, harm: float, category: tuple[str, str], data: st.DataObject
) -> None:
    higher = data.draw(st.integers(severity + 1, 3))
    before = choose(belief, severity, harm, category)
    after = choose(belief, higher, harm, category)
    assert CAUTION[after] >= CAUTION[before], (before, after)


@settings(max_examples=500)
@given(belief=beliefs(), severity=severities, harm=probabilities, category=categories, data=st.data())
def test_a_higher_harm_probability_is_never_less_cautious(
    belief: tuple[float, float, float], severity: int, harm: float, category: tuple[str, str], data: st.DataObject
) -> None:
    higher = data.draw(st.floats(harm, 1.0))
    before = choose(belief, severity, harm, category)
    after = choose(belief, severity, higher, category)
    assert CAUTION[after] >= CAUTION[before], (before, after)


def _one_round(policy: Policy, domain: str, severity: int, w: float, s: Strategy, t: UserType) -> float:
    tables = policy.tables(domain)
    weights = policy.weights
    return sum(
        p
        * (
            weights.alpha * tables.satisfaction[t][s][r]
            - weights.beta * w * policy.risk[r][severity]
            - weights.gamma * policy.cost[s]
        )
        for r, p in tables.reactions[t][s][severity].items()
    )


@pytest.mark.parametrize("domain", ["general", "wellbeing", "victims", "at_risk"])
def test_tables_have_increasing_differences_toward_malicious(domain: str) -> None:
    # The sufficient condition behind the malicious-direction monotonicity of a one-round game: for every step up
    # in caution, the malicious type gains at least as much as the benign and the vulnerable type do. Utilities
    # are linear in w(h), so checking both ends of its range covers every harm probability.
    for severity in range(4):
        for w in (POLICY.weights.risk_floor, 1.0):
            for low in STRATEGIES:
                for high in STRATEGIES:
                    if CAUTION[low] >= CAUTION[high]:
                        continue
                    gain = {
                        t: _one_round(POLICY, domain, severity, w, high, t)
                        - _one_round(POLICY, domain, severity, w, low, t)
                        for t in USER_TYPES
                    }
                    assert gain["malicious"] >= gain["benign"], (severity, w, low, high)
                    assert gain["malicious"] >= gain["vulnerable"], (severity, w, low, high)


# An independent, plain implementation of the game, to check the fast solver against -------------------------


def _reference(
    policy: Policy,
    s: GameState,
    strategy: Strategy,
    belief: Mapping[UserType, float],
    depth: int,
    allowed: tuple[Strategy, ...],
) -> float:
    domain = policy.domain_for(s)
    tables = policy.tables(domain.id if domain else "general")
    w = policy.weights.risk_floor + (1 - policy.weights.risk_floor) * s.harm_probability
    total = sum(
        belief[t] * _one_round(policy, domain.id if domain else "general", s.severity, w, strategy, t)
        for t in USER_TYPES
    )
    if depth == 1:
        return total
    for r in CONTINUING:
        likelihood = {t: tables.reactions[t][strategy][s.severity][r] for t in USER_TYPES}
        z = sum(belief[t] * likelihood[t] for t in USER_TYPES)
        if z <= 0:
            continue
        post = {t: belief[t] * likelihood[t] / z for t in USER_TYPES}
        shift = next((b for b in policy.belief_shifts if b.reaction == r and strategy in b.after), None)
        if shift is not None:
            target = shift.toward if shift.toward is not None else belief
            post = {t: (1 - shift.weight) * post[t] + shift.weight * target.get(t, 0.0) for t in USER_TYPES}
        best = max(_reference(policy, s, nxt, post, depth - 1, allowed) for nxt in allowed)
        total += policy.weights.discount * z * best
    return total


@settings(max_examples=150)
@given(belief=beliefs(), severity=severities, harm=probabilities, category=categories, horizon=st.integers(1, 3))
def test_solver_matches_a_plain_implementation(
    belief: tuple[float, float, float], severity: int, harm: float, category: tuple[str, str], horizon: int
) -> None:
    s = state(belief, severity, harm, category)
    d = decide(s, POLICY, horizon=horizon)
    forbidden = {x for c in POLICY.constraints_for(s) for x in c.forbid}
    allowed = tuple(x for x in STRATEGIES if x not in forbidden)
    for strategy in STRATEGIES:
        if strategy in forbidden:
            assert d.expected_utility[strategy] == float("-inf")
        else:
            want = _reference(POLICY, s, strategy, dict(zip(USER_TYPES, belief, strict=True)), horizon, allowed)
            assert d.expected_utility[strategy] == pytest.approx(want, abs=1e-9)
    best = max(d.expected_utility.values())
    assert d.expected_utility[d.strategy] == best


def _greeting(belief: Mapping[UserType, float], *, harm: float = 0.0, content_free: bool = True) -> GameState:
    return GameState(
        belief=belief, severity=0, harm_probability=harm, category=NONE, top_level=NONE, content_free=content_free
    )


def test_a_bare_greeting_with_nothing_behind_it_is_answered_plainly() -> None:
    flat = {"benign": 1 / 3, "vulnerable": 1 / 3, "malicious": 1 / 3}
    assert decide(_greeting(flat, content_free=False), POLICY).strategy == "comply_with_care"  # the 1/3 vulnerable
    decision = decide(_greeting(flat), POLICY)
    assert decision.strategy == "comply" and not decision.binding
    assert "content-free turn" in decision.trace[-1]
    # After a distressed turn the belief leans vulnerable: a "thanks" then is not answered as a bare greeting.
    leaning_vulnerable = {"benign": 0.3, "vulnerable": 0.6, "malicious": 0.1}
    assert decide(_greeting(leaning_vulnerable), POLICY).strategy != "comply"
    # Nor when risk carried from earlier turns forbids a plain answer.
    assert decide(_greeting(flat, harm=0.2), POLICY).strategy != "comply"


@given(beliefs(), probabilities)
@settings(max_examples=200, deadline=None)
def test_the_greeting_rule_never_makes_a_more_malicious_belief_less_cautious(
    belief: tuple[float, float, float], harm: float
) -> None:
    base = dict(zip(USER_TYPES, belief, strict=True))
    more = dict(base, malicious=base["malicious"] + 0.2)
    before = decide(_greeting(base, harm=harm), POLICY).strategy
    after = decide(_greeting(more, harm=harm), POLICY).strategy
    assert CAUTION[after] >= CAUTION[before], (before, after)


@pytest.mark.parametrize(
    "s",
    [
        # One tier lower this belief gets safe_alternative; at severity 1 comply_with_care scores a little higher,
        # and the severity floor keeps safe_alternative.
        GameState({"benign": 0.47, "malicious": 0.53}, 1, 0.0, "harassment", "harassment"),
        _greeting({"benign": 1 / 3, "vulnerable": 1 / 3, "malicious": 1 / 3}),
    ],
    ids=["severity-floor", "greeting"],
)
def test_the_trace_says_when_a_rule_overrides_the_best_expected_utility(s: GameState) -> None:
    d = decide(s, POLICY)
    best = max(d.expected_utility, key=lambda x: d.expected_utility[x])
    assert d.expected_utility[d.strategy] < d.expected_utility[best]  # the rule did override the utilities
    reason = next(line for line in d.trace if line.startswith("chose "))
    assert "tied" not in reason, reason
    assert f"{best} would win" in reason, reason


@given(harm=st.floats(0.0, 0.0699), belief=beliefs())
def test_severe_child_sexual_exploitation_is_never_answered_whatever_the_harm_score(
    harm: float, belief: tuple[float, float, float]
) -> None:
    # The harm-probability bound spares protective questions (rated severity 0-1); a severity-3 request that the
    # harm score misses still gets no answer and no specifics.
    d = decide(state(belief, 3, harm, ("child_sexual_exploitation",) * 2), POLICY)
    assert d.strategy in DECLINES and d.no_specifics, "\n".join(d.trace)
    assert "no_specifics:child_sexual_exploitation:severe" in d.constraints


@pytest.mark.parametrize("harm", [-1e-10, 0.0])
def test_rounding_noise_below_zero_harm_keeps_the_hard_constraints(harm: float) -> None:
    # A harm probability a hair below 0 is accepted as 0; the CBRN constraint, which holds from 0, was skipped for it.
    d = decide(state((1.0, 0.0, 0.0), 2, harm, ("cbrn_weapons", "cbrne")), POLICY)
    assert "no_specifics:cbrne" in d.constraints and d.no_specifics
    assert d.strategy in DECLINES

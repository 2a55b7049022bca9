"""The solver against small games worked out by hand, and its contract (ties, constraints, validation, output)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from nacre.strategy import CAUTION, STRATEGIES, Decision, GameState, Policy, build_policy, decide
from tests.strategy._tiny import tiny

TOL = 1e-9


def _state(
    benign: float,
    vulnerable: float,
    malicious: float,
    *,
    severity: int = 2,
    harm: float = 0.5,
    category: str = "x",
    top_level: str = "x",
) -> GameState:
    belief = {"benign": benign, "vulnerable": vulnerable, "malicious": malicious}
    return GameState(belief=belief, severity=severity, harm_probability=harm, category=category, top_level=top_level)


def _assert_eu(decision: Decision, expected: dict[str, float]) -> None:
    for s in STRATEGIES:
        got, want = decision.expected_utility[s], expected[s]
        if want == -math.inf:
            assert got == -math.inf, s
        else:
            assert got == pytest.approx(want, abs=TOL), s


def test_one_round_game_by_hand() -> None:
    # belief 0.5 / 0.25 / 0.25, severity 2, h = 0.5: w(h) = 0.5, so each unit of misuse probability costs
    # beta * w * risk[misuse][2] = 1 * 0.5 * 2 = 1.0.
    #   comply:           benign 1.0;  vulnerable .5*.2 - .5*1 = -0.4;    malicious -1.0
    #                     EU = .5*1 + .25*(-.4) + .25*(-1) = 0.15
    #   comply_with_care: benign .8 - .1 = .7; vulnerable .8*.6 - .2 - .1 = .18; malicious -.5 - .1 = -.6
    #                     EU = .35 + .045 - .15 = 0.245
    #   safe_alternative: benign .5 (leaves content) - .1 = .4; vulnerable .9*.5 - .1 = .35; malicious -.1
    #                     EU = .2 + .0875 - .025 = 0.2625
    #   support:          benign .2 - .1 = .1; vulnerable 1 - .1 = .9; malicious -.1
    #                     EU = .05 + .225 - .025 = 0.25
    #   refuse_with_help: 0 for every type
    policy = build_policy(tiny())
    d = decide(_state(0.5, 0.25, 0.25), policy, horizon=1)
    _assert_eu(
        d,
        {
            "comply": 0.15,
            "comply_with_care": 0.245,
            "safe_alternative": 0.2625,
            "support": 0.25,
            "refuse_with_help": 0.0,
        },
    )
    assert d.strategy == "safe_alternative"
    assert d.follow_up == {}
    assert d.reactions["malicious"]["rephrase"] == 1.0
    assert d.constraints == () and not d.binding and d.policy_version == "0.0.1"


def test_look_ahead_changes_the_choice() -> None:
    # belief 0.5 benign / 0.5 malicious, severity 2, h = 0.5, discount 0.5.
    # One-round utilities (benign, malicious): comply (1, -1), cwc (.7, -.6), safe_alt (.4, -.1), support (.1, -.1),
    # refuse (0, 0). Next-round values: all-benign belief -> comply = 1.0; all-malicious belief -> refuse = 0.
    #   horizon 1: comply 0, cwc .05, safe_alt .15, support 0, refuse 0 -> safe_alternative
    #   horizon 2:
    #     comply:  0   + .5 * (P(continue)=.5 * 1.0)                      = 0.25
    #     cwc:     .05 + .5 * (.5 * 1.0 + P(rephrase)=.25 * 0)             = 0.30
    #     safe:    .15 + .5 * (benign leaves; .5 rephrase * 0)             = 0.15
    #     support: 0   + .5 * (.5 * 1.0 + .5 escalate * 0)                 = 0.25
    #     refuse:  0   + .5 * (.5 * 1.0; malicious leaves)                 = 0.25
    policy = build_policy(tiny())
    one = decide(_state(0.5, 0, 0.5), policy, horizon=1)
    _assert_eu(
        one,
        {"comply": 0.0, "comply_with_care": 0.05, "safe_alternative": 0.15, "support": 0.0, "refuse_with_help": 0.0},
    )
    assert one.strategy == "safe_alternative"
    two = decide(_state(0.5, 0, 0.5), policy, horizon=2)
    _assert_eu(
        two,
        {"comply": 0.25, "comply_with_care": 0.3, "safe_alternative": 0.15, "support": 0.25, "refuse_with_help": 0.25},
    )
    assert two.strategy == "comply_with_care"
    assert two.follow_up == {"continue": "comply", "rephrase": "refuse_with_help"}
    assert any("next round" in line for line in two.trace)


def test_belief_shift_toward_a_type() -> None:
    # As above, but a rephrase moves half of the belief to benign: after cwc or safe_alternative the Bayes
    # posterior (all malicious) becomes (.5, 0, .5), worth max(0, .05, .15, 0, 0) = .15 next round.
    #   cwc:  .05 + .5 * (.5 * 1.0 + .25 * .15) = 0.31875
    #   safe: .15 + .5 * (.5 * .15)             = 0.1875
    #   comply, support, refuse have no rephrase: unchanged 0.25
    shift = {"reaction": "rephrase", "after": "*", "weight": 0.5, "toward": {"benign": 1.0}}
    policy = build_policy(tiny(belief_shift=[shift]))
    d = decide(_state(0.5, 0, 0.5), policy, horizon=2)
    _assert_eu(
        d,
        {
            "comply": 0.25,
            "comply_with_care": 0.31875,
            "safe_alternative": 0.1875,
            "support": 0.25,
            "refuse_with_help": 0.25,
        },
    )
    assert d.follow_up["rephrase"] == "safe_alternative"


def test_belief_shift_toward_the_current_belief() -> None:
    # A continue pulls the posterior halfway back to the belief before it: (1, 0, 0) -> (.75, 0, .25), worth
    # max(comply .75 - .25 = .5, cwc .525 - .15, safe .3 - .025, support .075 - .025, 0) = .5 next round.
    #   comply:  0   + .5 * (.5 * .5)           = 0.125
    #   cwc:     .05 + .5 * (.5 * .5 + .25 * 0) = 0.175
    #   safe:    .15 + .5 * (.5 * 0)            = 0.15
    #   support: 0   + .5 * (.5 * .5 + .5 * 0)  = 0.125
    #   refuse:  0   + .5 * (.5 * .5)           = 0.125
    shift = {"reaction": "continue", "after": "*", "weight": 0.5, "toward": "current"}
    policy = build_policy(tiny(belief_shift=[shift]))
    d = decide(_state(0.5, 0, 0.5), policy, horizon=2)
    _assert_eu(
        d,
        {
            "comply": 0.125,
            "comply_with_care": 0.175,
            "safe_alternative": 0.15,
            "support": 0.125,
            "refuse_with_help": 0.125,
        },
    )
    assert d.strategy == "comply_with_care"


def test_constraints_apply_in_every_round() -> None:
    # Forbidding comply and cwc also removes them next round: an all-benign belief is then worth
    # max(safe .4, support .1, refuse 0) = .4, an all-malicious one 0.
    #   safe:    .15 + .5 * 0                 = 0.15
    #   support: 0   + .5 * (.5 * .4 + .5 * 0) = 0.10
    #   refuse:  0   + .5 * (.5 * .4)          = 0.10
    rule = {
        "id": "no_answer:x",
        "description": "d",
        "top_levels": ["x"],
        "min_severity": 2,
        "forbid": ["comply", "comply_with_care"],
        "no_specifics": True,
    }
    policy = build_policy(tiny(constraints=[rule]))
    d = decide(_state(0.5, 0, 0.5), policy, horizon=2)
    _assert_eu(
        d,
        {
            "comply": -math.inf,
            "comply_with_care": -math.inf,
            "safe_alternative": 0.15,
            "support": 0.1,
            "refuse_with_help": 0.1,
        },
    )
    assert d.strategy == "safe_alternative"
    assert d.constraints == ("no_answer:x",) and d.no_specifics
    assert d.unconstrained == "comply_with_care" and d.binding
    assert any(line.startswith("binding:") for line in d.trace)
    # Below the severity, or in another category, the rule does not apply.
    assert decide(_state(0.5, 0, 0.5, severity=1), policy).constraints == ()
    assert decide(_state(0.5, 0, 0.5, category="y", top_level="y"), policy).constraints == ()
    # A state matches on its category as well as on its top-level hazard.
    assert decide(_state(0.5, 0, 0.5, category="x", top_level="parent"), policy).constraints == ("no_answer:x",)


def test_harm_probability_scales_risk() -> None:
    # Pure malicious, severity 3 (misuse risk 4), horizon 1: comply = -beta * w(h) * 4.
    policy = build_policy(tiny())
    assert decide(_state(0, 0, 1, severity=3, harm=1.0), policy, horizon=1).expected_utility["comply"] == -4.0
    assert decide(_state(0, 0, 1, severity=3, harm=0.0), policy, horizon=1).expected_utility["comply"] == 0.0
    floored = build_policy(tiny(weights={"alpha": 1, "beta": 1, "gamma": 1, "discount": 0.5, "risk_floor": 0.25}))
    eu = decide(_state(0, 0, 1, severity=3, harm=0.0), floored, horizon=1).expected_utility["comply"]
    assert eu == pytest.approx(-1.0, abs=TOL)


def test_domain_tables_replace_the_general_ones() -> None:
    # Pure vulnerable, severity 0, horizon 1. General: support 1 - .1 = .9 wins. In the domain a support reply
    # is worth 0 to them: support -.1, comply .5*.2 = .1, cwc .8*.6 - .1 = .38, safe .9*.5 - .1 = .35.
    zero = {"continue": 0, "rephrase": 0, "escalate": 0, "leave_unsafe": 0, "misuse": 0}
    domain = {"id": "calm", "top_levels": ["self_harm"], "satisfaction": {"vulnerable": {"support": zero}}}
    policy = build_policy(tiny(domains=[domain]))
    general = decide(_state(0, 1, 0, severity=0), policy, horizon=1)
    assert general.strategy == "support" and general.domain == "general"
    d = decide(_state(0, 1, 0, severity=0, category="self_harm", top_level="self_harm"), policy, horizon=1)
    _assert_eu(
        d, {"comply": 0.1, "comply_with_care": 0.38, "safe_alternative": 0.35, "support": -0.1, "refuse_with_help": 0.0}
    )
    assert d.strategy == "comply_with_care" and d.domain == "calm"
    # Entries the domain does not name keep the general values.
    assert policy.tables("calm").reactions == policy.general.reactions


def _flat(value_of: dict[str, float]) -> dict[str, Any]:
    sat = {
        t: {
            s: {"continue": value_of.get(s, 0.0), "rephrase": 0, "escalate": 0, "leave_unsafe": 0, "misuse": 0}
            for s in STRATEGIES
        }
        for t in ("benign", "vulnerable", "malicious")
    }
    cost = dict.fromkeys(STRATEGIES, 0.0)
    return tiny(
        satisfaction=sat,
        cost=cost,
        reactions={
            t: {
                s: {"*": {"continue": 1, "rephrase": 0, "escalate": 0, "leave_unsafe": 0, "misuse": 0}}
                for s in STRATEGIES
            }
            for t in ("benign", "vulnerable", "malicious")
        },
    )


def test_ties_break_toward_caution() -> None:
    everything_equal = build_policy(_flat({}))
    d = decide(_state(1, 0, 0), everything_equal)
    assert d.strategy == "refuse_with_help"
    assert any("tied" in line for line in d.trace)
    # safe_alternative and support share a caution rank; support comes later in STRATEGIES and wins the tie.
    two_way = build_policy(_flat({"safe_alternative": 1.0, "support": 1.0}))
    assert decide(_state(1, 0, 0), two_way).strategy == "support"
    assert CAUTION["support"] == CAUTION["safe_alternative"]
    assert [CAUTION[s] for s in STRATEGIES] == sorted(CAUTION[s] for s in STRATEGIES)


def test_belief_is_normalised_and_missing_types_count_as_zero() -> None:
    policy = build_policy(tiny())
    d = decide(GameState({"benign": 2.0, "malicious": 2.0}, 2, 0.5, "x", "x"), policy)
    assert d.belief == {"benign": 0.5, "vulnerable": 0.0, "malicious": 0.5}
    assert d.expected_utility == decide(_state(0.5, 0, 0.5), policy).expected_utility


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"severity": 4}, "severity"),
        ({"severity": -1}, "severity"),
        ({"severity": True}, "severity"),
        ({"harm_probability": 1.5}, "harm_probability"),
        ({"harm_probability": float("nan")}, "harm_probability"),
        ({"belief": {"benign": 1.0, "alien": 0.1}}, "unknown user types"),
        ({"belief": {"benign": -0.1, "malicious": 1.0}}, "non-negative"),
        ({"belief": {"benign": 0.0}}, "positive total"),
    ],
)
def test_game_state_validation(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "belief": {"benign": 1.0},
        "severity": 1,
        "harm_probability": 0.2,
        "category": "x",
        "top_level": "x",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        GameState(**args)


def test_horizon_must_be_positive() -> None:
    with pytest.raises(ValueError, match="horizon"):
        decide(_state(1, 0, 0), build_policy(tiny()), horizon=0)


@pytest.mark.parametrize("horizon", [2.5, True, "2"])
def test_horizon_must_be_a_whole_number_of_rounds(horizon: Any) -> None:
    # 2.5 used to be played as 3 rounds and True as 1.
    with pytest.raises(ValueError, match="horizon must be an integer"):
        decide(_state(1, 0, 0), build_policy(tiny()), horizon=horizon)


def test_trace_reads_inputs_utilities_reason_and_constraints() -> None:
    rule = {"id": "r1", "description": "d", "forbid": ["comply"]}
    d = decide(_state(0.5, 0.25, 0.25), build_policy(tiny(constraints=[rule])), horizon=2)
    text = "\n".join(d.trace)
    assert d.trace[0].startswith("state: category=x")
    assert "constraint r1: forbids comply" in text
    assert "expected utility: comply=-inf" in text
    assert f"chose {d.strategy}:" in text
    assert "anticipated reactions" in text


def test_decision_json_round_trip() -> None:
    rule = {"id": "r1", "description": "d", "forbid": ["comply"], "no_specifics": True}
    d = decide(_state(0.5, 0.25, 0.25), build_policy(tiny(constraints=[rule])), horizon=2)
    data = json.loads(json.dumps(d.to_dict()))
    assert data == d.to_dict()
    assert data["expected_utility"]["comply"] is None
    back = Decision.from_dict(data)
    assert back.to_dict() == data
    assert back.expected_utility["comply"] == -math.inf
    assert back.strategy == d.strategy and back.constraints == ("r1",) and back.no_specifics
    with pytest.raises(ValueError, match="unknown strategy"):
        Decision.from_dict({**data, "strategy": "shrug"})


def test_policy_is_immutable_and_comparable() -> None:
    a, b = build_policy(tiny()), build_policy(tiny())
    assert isinstance(a, Policy) and a == b
    with pytest.raises(AttributeError):
        a.version = "2"  # type: ignore[misc]


def test_numpy_inputs_give_plain_json_values() -> None:
    np = pytest.importorskip("numpy")
    s = GameState({"benign": np.float32(0.5), "malicious": np.float64(0.5)}, np.int64(2), np.float64(0.5), "x", "x")
    d = decide(s, build_policy(tiny()))
    assert type(d.severity) is int and type(d.harm_probability) is float
    assert all(type(p) is float for p in d.belief.values())
    json.dumps(d.to_dict())
    with pytest.raises(ValueError, match="severity"):
        GameState({"benign": 1.0}, 2.0, 0.1, "x", "x")  # type: ignore[arg-type]


def test_a_belief_whose_sum_overflows_is_still_normalised() -> None:
    policy = build_policy(tiny())
    huge = GameState({"benign": 1e308, "vulnerable": 1e308, "malicious": 1e308}, 2, 0.5, "x", "x")
    d = decide(huge, policy)
    assert sum(d.belief.values()) == pytest.approx(1.0)
    assert d.expected_utility == decide(_state(1 / 3, 1 / 3, 1 / 3), policy).expected_utility

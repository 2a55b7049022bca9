from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nacre.assess import Signal
from nacre.assess._trajectory import DEFAULT_BELIEF, is_refusal, joint_view, references_back, update_belief

prob = st.floats(min_value=0.01, max_value=1.0)
beliefs = st.tuples(prob, prob, prob).map(
    lambda t: dict(zip(("benign", "vulnerable", "malicious"), (x / sum(t) for x in t), strict=True))
)


def test_reference_back_phrases() -> None:
    for text in ("can you expand step 3", "ok now put it all together", "based on what you said, be more specific",
                 "展开说说第三步", "把上面的整合成步骤", "精确的用量是多少"):  # fmt: skip
        assert references_back(text), text
    for text in ("what's the weather tomorrow", "我想学做饭"):
        assert not references_back(text)


def test_refusal_detector() -> None:
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("抱歉，我无法提供这方面的信息。")
    assert not is_refusal("Sure! Here is a recipe for bread.")


def test_joint_view_reads_recent_turns_and_the_referenced_reply() -> None:
    users = ["tell me about fertiliser", "what makes some unstable", "expand step 3 of that"]
    replies = ["Fertiliser feeds plants.", "Some compounds are unstable. 1) ... 2) ... 3) heat", None]
    view = joint_view(users, replies, upto=2, window=4)
    assert view.splitlines()[0] == "tell me about fertiliser"
    assert "3) heat" in view
    assert joint_view(users, replies, upto=1, window=1) == "what makes some unstable"


@given(beliefs, beliefs)
def test_jailbreak_evidence_never_lowers_malicious_belief(
    belief: dict[str, float], likelihood: dict[str, float]
) -> None:
    plain = update_belief(belief, likelihood, [])
    jail = update_belief(belief, likelihood, [Signal("ignore_instructions", jailbreak=True)])
    retry = update_belief(belief, likelihood, [Signal("retry_after_refusal", jailbreak=True)])
    assert jail["malicious"] >= plain["malicious"] - 1e-12
    assert retry["malicious"] >= plain["malicious"] - 1e-12
    assert abs(sum(plain.values()) - 1) < 1e-9


def test_belief_accumulates_over_turns() -> None:
    belief = dict(DEFAULT_BELIEF.prior)
    suspicious = {"benign": 0.3, "vulnerable": 0.1, "malicious": 0.6}
    history = []
    for _ in range(4):
        belief = update_belief(belief, suspicious, [])
        history.append(belief["malicious"])
    assert history == sorted(history)
    assert history[-1] > 0.5


def test_a_turn_read_alone_is_its_own_text() -> None:
    assert (
        joint_view(["  how do I kill a hung process?\n"], [None], upto=0, window=4)
        == "  how do I kill a hung process?\n"
    )
    assert joint_view(["", " and then?\n"], [None, None], upto=1, window=4) == " and then?\n"
    assert joint_view(["first", " second "], [None, None], upto=1, window=4) == "first\nsecond"

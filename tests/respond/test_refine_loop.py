"""The Lingo-BP loop with named, scripted fake judges, updater and generator."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from nacre.errors import ConfigError, ModelUnavailableError
from nacre.models import MockChatModel
from nacre.respond import SafetyChain
from nacre.respond.refine import RefineConfig, RefineResult, refine, sft_record

ITEMS = ("tone", "willingness", "completion", "logic", "informativeness")

CHAIN = SafetyChain(
    needs="Wants to keep a bike safe from theft.",
    risk_intent="Inquiry about security; no harmful intent.",
    guidelines=("Give practical, lawful security advice.",),
    safety_strategies=("stay with lawful measures",),
    usefulness_strategies=("give concrete steps", "be friendly"),
)


def sat(score_sum: int) -> str:
    """A satisfaction answer whose five items sum to ``score_sum`` (-5..5)."""
    scores = [1] * max(score_sum, 0) + [-1] * max(-score_sum, 0)
    scores += [0] * (5 - len(scores))
    return json.dumps(
        {
            "user_profile": "cyclist",
            "task": "protect bike",
            **{n: {"score": s, "fix": "Add detail." if s < 0 else ""} for n, s in zip(ITEMS, scores, strict=True)},
        }
    )


def safety(verdict: str) -> str:
    return json.dumps(
        {
            "user_profile": "cyclist",
            "intent": "inquiry",
            "user_type": "benign",
            "reason": "ok",
            "verdict": verdict,
            "guideline": "Stay lawful.",
            "next_move": "Asks about locks.",
            "guidance": "Recommend certified locks.",
            "suggestion": "Name lock types.",
        }
    )


def proposal(usefulness: Sequence[str], *, safety_strategies: Sequence[str] = (), **nodes: object) -> str:
    return json.dumps(
        {
            "feedback": "Add concrete lock advice.",
            "safety_strategies": list(safety_strategies),
            "usefulness_strategies": list(usefulness),
            "guidelines": nodes.get("guidelines", []),
            "risk_intent": nodes.get("risk_intent", ""),
            "needs": nodes.get("needs", ""),
            "propagation": {"strategies": "added lock advice", "guidelines": "", "risk_intent": "", "needs": ""},
        }
    )


class Generator:
    """Renders a reply per call from a script and remembers the chains it saw."""

    def __init__(self, replies: Sequence[str | Exception]) -> None:
        self.replies = list(replies)
        self.chains: list[SafetyChain] = []

    async def __call__(self, chain: SafetyChain) -> str:
        self.chains.append(chain)
        reply = self.replies[min(len(self.chains) - 1, len(self.replies) - 1)]
        if isinstance(reply, Exception):
            raise reply
        return reply


def judges(sat_script: Sequence[str], safety_script: Sequence[str], updates: Sequence[str]):
    return (
        MockChatModel("user-judge", replies=list(sat_script)),
        MockChatModel("developer-judge", replies=list(safety_script)),
        MockChatModel("updater", replies=list(updates)),
    )


async def run(
    generator: Generator,
    user: MockChatModel,
    developer: MockChatModel,
    updater: MockChatModel,
    *,
    lang: str = "en",
    **config: object,
) -> RefineResult:
    return await refine(
        "How do I keep my bike from being stolen?",
        CHAIN,
        generate=generator,
        user_evaluator=user,
        developer_evaluator=developer,
        updater=updater,
        category_rule=("Give practical, lawful security advice.",),
        lang=lang,
        config=RefineConfig(**config),  # type: ignore[arg-type]
    )


async def test_an_improvement_is_accepted_and_becomes_best() -> None:
    gen = Generator(["Lock it.", "Use a U-lock through the frame and a wheel, and register the bike."])
    user, dev, upd = judges([sat(-2), sat(4)], [safety("safe")], [proposal(["give concrete steps", "name lock types"])])
    result = await run(gen, user, dev, upd, schedule=("both",))
    assert [it.outcome for it in result.history] == ["initial", "accepted"]
    assert result.best_index == 1 and result.best.utility == pytest.approx(0.8)
    assert result.initial.utility == pytest.approx(-0.4)
    assert result.best.chain.usefulness_strategies == ("give concrete steps", "name lock types")
    assert result.best.proposal is not None and result.best.proposal.feedback
    assert result.stop_reason == "schedule finished"


async def test_a_regression_is_rejected_and_the_next_step_starts_from_the_kept_chain() -> None:
    gen = Generator(["Decent answer.", "Worse answer.", "Better answer."])
    user, dev, upd = judges(
        [sat(1), sat(-3), sat(3)],
        [safety("safe")],
        [proposal(["give concrete steps", "be terse"]), proposal(["give concrete steps", "be friendly", "add tips"])],
    )
    result = await run(gen, user, dev, upd, schedule=("both",), max_iterations=2)
    assert [it.outcome for it in result.history] == ["initial", "rejected", "accepted"]
    assert not result.history[1].accepted and result.history[1].utility == pytest.approx(-0.6)
    # The second proposal was asked about the initial chain, not the rejected one.
    second_request = upd.calls[1].messages[1].text
    assert "be friendly" in second_request and "be terse" not in second_request
    assert result.best_index == 2


async def test_lower_utility_is_accepted_when_safety_improves_but_best_keeps_the_higher_utility() -> None:
    gen = Generator(["Risky but pleasing.", "Safe but plainer."])
    user, dev, upd = judges(
        [sat(5), sat(-1)], [safety("borderline"), safety("safe")], [proposal(["give concrete steps", "be careful"])]
    )
    result = await run(gen, user, dev, upd, schedule=("safety",))
    initial, step = result.history
    assert initial.utility == pytest.approx(0.0) and step.utility == pytest.approx(-0.2)
    assert step.outcome == "accepted"
    assert result.best_index == 0


async def test_best_is_kept_across_ties_and_later_rejections() -> None:
    gen = Generator(["r0", "r1", "r2", "r3"])
    user, dev, upd = judges(
        [sat(-1), sat(2), sat(2), sat(0)],
        [safety("safe")],
        [
            proposal(["give concrete steps", "name lock types"]),
            proposal(["give concrete steps", "name lock types", "mention insurance"]),
            proposal(["give concrete steps", "mention insurance"]),
        ],
    )
    result = await run(gen, user, dev, upd, schedule=("both",), max_iterations=3)
    assert [it.outcome for it in result.history] == ["initial", "accepted", "accepted", "rejected"]
    assert result.best_index == 1  # the tie at step 2 does not displace the earlier best
    assert result.worst is not None and result.worst.index == 0


async def test_early_stop_when_every_score_is_maximal() -> None:
    gen = Generator(["Perfect."])
    user, dev, upd = judges([sat(5)], [safety("safe")], [proposal(["x y z"])])
    result = await run(gen, user, dev, upd)
    assert len(result.history) == 1 and result.stop_reason == "all scores maximal"
    assert upd.calls == []


async def test_early_stop_after_a_step_reaches_the_maximum() -> None:
    gen = Generator(["Okay.", "Perfect."])
    user, dev, upd = judges([sat(3), sat(5)], [safety("safe")], [proposal(["give concrete steps", "name lock types"])])
    result = await run(gen, user, dev, upd, schedule=("both",), max_iterations=5)
    assert [it.outcome for it in result.history] == ["initial", "accepted"]
    assert result.stop_reason == "all scores maximal" and len(upd.calls) == 1


async def test_without_early_stop_the_schedule_finishes_even_at_the_maximum() -> None:
    gen = Generator(["Okay.", "Perfect."])
    user, dev, upd = judges([sat(3), sat(5)], [safety("safe")], [proposal(["give concrete steps", "name lock types"])])
    result = await run(gen, user, dev, upd, schedule=("both",), max_iterations=1, early_stop=False)
    assert [it.outcome for it in result.history] == ["initial", "accepted"]
    assert result.stop_reason == "schedule finished"


async def test_default_schedule_skips_a_mode_whose_scores_are_already_maximal() -> None:
    gen = Generator(["Okay.", "Better."])
    user, dev, upd = judges([sat(1), sat(3)], [safety("safe")], [proposal(["give concrete steps", "name lock types"])])
    result = await run(gen, user, dev, upd)
    # safety is already 1, so the safety epoch is skipped; satisfy and both run.
    assert [it.mode for it in result.history] == [None, "satisfy", "both"]


async def test_satisfy_mode_freezes_the_safety_path_and_feeds_only_user_feedback() -> None:
    gen = Generator(["Okay.", "Better."])
    update = proposal(
        ["give concrete steps", "name lock types"],
        safety_strategies=["refuse everything"],
        guidelines=["A new guideline."],
        risk_intent="Changed intent.",
        needs="Wants concrete, affordable advice.",
    )
    user, dev, upd = judges([sat(1), sat(3)], [safety("safe")], [update])
    result = await run(gen, user, dev, upd, schedule=("satisfy",))
    chain = result.history[1].chain
    assert chain.safety_strategies == CHAIN.safety_strategies
    assert chain.guidelines == CHAIN.guidelines and chain.risk_intent == CHAIN.risk_intent
    assert chain.needs == "Wants concrete, affordable advice."
    assert chain.usefulness_strategies == ("give concrete steps", "name lock types")
    request = upd.calls[0]
    assert "user_satisfaction" in request.messages[1].text and '"safety"' not in request.messages[1].text
    assert "guidelines, risk_intent, safety_strategies" in request.messages[0].text


async def test_safety_mode_edits_are_projected_to_a_minimal_change() -> None:
    gen = Generator(["Okay.", "Safer."])
    update = proposal(
        ["give concrete steps", "be friendly"],
        safety_strategies=["stay with lawful measures", "warn about a", "warn about b", "warn about c"],
    )
    user, dev, upd = judges([sat(1)], [safety("borderline"), safety("safe")], [update])
    result = await run(gen, user, dev, upd, schedule=("safety",))
    strategies = result.history[1].chain.safety_strategies
    assert strategies[0] == "stay with lawful measures" and len(strategies) == 2
    assert "user_satisfaction" not in upd.calls[0].messages[1].text


async def test_an_unchanged_proposal_is_not_regenerated() -> None:
    gen = Generator(["Okay."])
    user, dev, upd = judges([sat(1)], [safety("safe")], [proposal([])])
    result = await run(gen, user, dev, upd, schedule=("both",))
    assert [it.outcome for it in result.history] == ["initial", "unchanged"]
    assert len(gen.chains) == 1 and len(user.calls) == 1


async def test_a_reply_that_reveals_its_chain_is_never_accepted_nor_exported() -> None:
    leaking = "Usefulness strategies: give concrete steps, name lock types. Use a U-lock."
    gen = Generator(["Lock it.", leaking, "Use a U-lock through the frame."])
    user, dev, upd = judges(
        [sat(-2), sat(3)],
        [safety("safe")],
        [proposal(["give concrete steps", "name lock types"]), proposal(["give concrete steps", "add tips"])],
    )
    result = await run(gen, user, dev, upd, schedule=("both",), max_iterations=2)
    assert [it.outcome for it in result.history] == ["initial", "failed", "accepted"]
    assert "reveals its chain" in (result.history[1].error or "") and result.history[1].utility is None
    assert len(user.calls) == 2  # the revealing reply was not judged
    assert result.best_index == 2
    record = sft_record(result)
    assert record is not None and record.response == "Use a U-lock through the frame."


async def test_an_initial_reply_that_reveals_its_chain_gives_way_to_any_accepted_step() -> None:
    leaking = "Usefulness strategies: give concrete steps, be friendly. Lock it."
    gen = Generator([leaking, "Lock it to a rack."])
    user, dev, upd = judges([sat(2), sat(2)], [safety("safe")], [proposal(["give concrete steps", "name locks"])])
    result = await run(gen, user, dev, upd, schedule=("both",))
    assert "reveals its chain" in (result.initial.error or "") and result.initial.utility is not None
    assert [it.outcome for it in result.history] == ["initial", "accepted"]
    assert result.best_index == 1  # a tie in U, but the initial reply is no training target


async def test_a_failed_initial_evaluation_ends_the_loop_with_a_typed_failure() -> None:
    gen = Generator(["Okay."])
    user, dev, upd = judges(["I refuse to answer in JSON."], [safety("safe")], [proposal(["x y z"])])
    result = await run(gen, user, dev, upd, attempts=2)
    assert len(result.history) == 1 and result.stop_reason == "initial evaluation failed"
    initial = result.initial
    assert initial.utility is None and initial.error and "satisfaction evaluator failed" in initial.error
    assert len(user.calls) == 2 and upd.calls == []


async def test_a_failing_judge_mid_run_is_recorded_and_the_loop_goes_on() -> None:
    gen = Generator(["r0", "r1", "r2"])
    user, dev, upd = judges(
        [sat(0), "garbage", "garbage", sat(3)],
        [safety("safe")],
        [proposal(["give concrete steps", "tip one"]), proposal(["give concrete steps", "tip two"])],
    )
    result = await run(gen, user, dev, upd, schedule=("both",), max_iterations=2, attempts=2)
    assert [it.outcome for it in result.history] == ["initial", "failed", "accepted"]
    failed = result.history[1]
    assert failed.utility is None and failed.error and failed.response == "r1"
    assert result.best_index == 2


async def test_update_and_generation_failures_are_recorded() -> None:
    gen = Generator(["r0", ModelUnavailableError("generator down")])
    user, dev, upd = judges(
        [sat(0)], [safety("safe")], ["not json", "still not json", proposal(["give concrete steps", "tip"])]
    )
    result = await run(gen, user, dev, upd, schedule=("both",), max_iterations=2, attempts=2)
    assert [it.outcome for it in result.history] == ["initial", "failed", "failed"]
    assert "update evaluator failed" in (result.history[1].error or "")
    assert "generation failed: generator down" in (result.history[2].error or "")
    assert result.best_index == 0


async def test_a_failed_initial_generation_is_a_result_not_an_exception() -> None:
    gen = Generator([ModelUnavailableError("down")])
    user, dev, upd = judges([sat(0)], [safety("safe")], [proposal([])])
    result = await run(gen, user, dev, upd)
    assert result.stop_reason == "initial evaluation failed" and result.best.response == ""


async def test_chinese_runs_use_chinese_prompts_everywhere() -> None:
    gen = Generator(["好的。", "更好的回答。"])
    user, dev, upd = judges([sat(1), sat(3)], [safety("safe")], [proposal(["给出具体步骤", "推荐锁的类型"])])
    await run(gen, user, dev, upd, lang="zh", schedule=("both",))
    for model in (user, dev, upd):
        assert "JSON" in model.calls[0].messages[0].text and "只输出" in model.calls[0].messages[0].text


async def test_history_serialises_to_json() -> None:
    gen = Generator(["a", "b"])
    user, dev, upd = judges([sat(0), sat(-5)], [safety("safe")], [proposal(["give concrete steps", "tip"])])
    result = await run(gen, user, dev, upd, schedule=("both",))
    data = json.loads(json.dumps(result.to_dict()))
    assert [h["outcome"] for h in data["history"]] == ["initial", "rejected"]
    assert data["history"][1]["accepted"] is False and data["history"][1]["utility"] == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"schedule": ()},
        {"schedule": ("explore",)},
        {"edit_budget": -1},
        {"beta": -1.0},
        {"beta": float("inf")},
        {"beta": float("nan")},
        {"attempts": 0},
        {"max_iterations": -2},
    ],
)
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RefineConfig(**bad)  # type: ignore[arg-type]


def test_modes_past_the_schedule_repeat_the_last_one() -> None:
    config = RefineConfig(max_iterations=5)
    assert [config.mode_at(i) for i in range(5)] == ["safety", "satisfy", "both", "both", "both"]
    assert RefineConfig().steps == 3

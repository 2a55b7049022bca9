"""Training data from refinement results: SFT only from safe bests, ORPO pairs only past the margin."""

from __future__ import annotations

import json

import pytest

from nacre.respond import SafetyChain
from nacre.respond.refine import (
    EvaluatorFailure,
    Iteration,
    RefineResult,
    SafetyVerdict,
    SatisfactionVerdict,
    chain_reasoning,
    orpo_pair,
    sft_record,
    starter_chain,
    utility,
)
from nacre.taxonomy import load_taxonomy

RISKY = SafetyChain(
    needs="Curious how locks work.",
    risk_intent="Inquiry touching on lock bypass.",
    guidelines=("Explain mechanisms at a general level.", "Do not give bypass steps."),
    safety_strategies=("stay general",),
    usefulness_strategies=("explain pin tumblers", "suggest a locksmith"),
)
PLAIN = SafetyChain(needs="Wants a recipe.", usefulness_strategies=("list ingredients", "keep it short"))


def judged(index: int, sat_sum: int, verdict: str, response: str, *, outcome: str = "accepted") -> Iteration:
    scores = [1] * max(sat_sum, 0) + [-1] * max(-sat_sum, 0)
    scores += [0] * (5 - len(scores))
    items = dict(zip(("tone", "willingness", "completion", "logic", "informativeness"), scores, strict=True))
    sat = SatisfactionVerdict(items=items)
    safe = SafetyVerdict(label=verdict)  # type: ignore[arg-type]
    return Iteration(
        index=index,
        mode=None if index == 0 else "both",
        outcome="initial" if index == 0 else outcome,  # type: ignore[arg-type]
        chain=RISKY,
        response=response,
        satisfaction=sat,
        safety=safe,
        utility=utility(sat.score, safe.score, 2.0),
    )


def result_of(*history: Iteration, best: int) -> RefineResult:
    return RefineResult("How do locks work?", "en", tuple(history), best, "schedule finished", 2.0)


def test_sft_only_from_a_fully_safe_best() -> None:
    safe = result_of(judged(0, -2, "safe", "No."), judged(1, 3, "safe", "Pins line up at the shear line."), best=1)
    record = sft_record(safe, category="illicit_tools")
    assert record is not None
    assert record.response == "Pins line up at the shear line." and record.iteration == 1
    assert record.safety == 1.0 and record.utility == pytest.approx(0.6) and record.category == "illicit_tools"
    assert record.reasoning == chain_reasoning(RISKY, "en")
    assert json.loads(record.model_dump_json())["query"] == "How do locks work?"
    borderline = result_of(judged(0, 5, "borderline", "Here is more detail."), best=0)
    assert sft_record(borderline) is None


def test_sft_skips_unjudged_results() -> None:
    failure = EvaluatorFailure("satisfaction", 3, ("bad", "bad", "bad"))
    initial = Iteration(0, None, "initial", RISKY, "reply", failure, SafetyVerdict("safe"), None)
    assert sft_record(result_of(initial, best=0)) is None
    assert orpo_pair(result_of(initial, best=0)) is None


def test_orpo_pairs_best_with_the_initial_reply_past_the_margin() -> None:
    result = result_of(judged(0, -2, "safe", "No."), judged(1, 3, "safe", "Pins line up."), best=1)
    pair = orpo_pair(result, margin=0.2)
    assert pair is not None
    assert (pair.prompt, pair.chosen, pair.rejected) == ("How do locks work?", "Pins line up.", "No.")
    assert pair.rejected_from == "initial" and pair.margin == pytest.approx(1.0)
    assert pair.chosen_iteration == 1 and pair.rejected_iteration == 0
    assert set(json.loads(pair.model_dump_json())) >= {"prompt", "chosen", "rejected"}


def test_orpo_margin_is_inclusive_and_enforced() -> None:
    result = result_of(judged(0, 2, "safe", "Short."), judged(1, 3, "safe", "Longer."), best=1)
    assert orpo_pair(result, margin=0.2) is not None  # gap exactly 0.2
    assert orpo_pair(result, margin=0.21) is None


def test_orpo_falls_back_to_the_worst_iteration() -> None:
    result = result_of(
        judged(0, 2, "safe", "Initial."),
        judged(1, -4, "safe", "Terrible.", outcome="rejected"),
        judged(2, 3, "safe", "Best."),
        best=2,
    )
    pair = orpo_pair(result, margin=0.5)
    assert pair is not None and pair.rejected == "Terrible." and pair.rejected_from == "worst"
    assert pair.rejected_utility == pytest.approx(-0.8)


def test_orpo_needs_a_safe_chosen_reply_and_distinct_texts() -> None:
    unsafe_best = result_of(judged(0, -5, "unsafe", "a"), judged(1, 5, "borderline", "b"), best=1)
    assert orpo_pair(unsafe_best, margin=0.2) is None
    same_text = result_of(judged(0, -5, "safe", "same"), judged(1, 5, "safe", "same"), best=1)
    assert orpo_pair(same_text, margin=0.2) is None
    only_initial = result_of(judged(0, 5, "safe", "fine"), best=0)
    assert orpo_pair(only_initial) is None


def test_chain_reasoning_renders_nodes_and_collapses_without_risk() -> None:
    text = chain_reasoning(RISKY, "en")
    assert text.splitlines()[0] == "User needs: Curious how locks work."
    assert "Risk intent: Inquiry touching on lock bypass." in text
    assert "- Do not give bypass steps." in text and "1. stay general" in text and "2. suggest a locksmith" in text
    plain = chain_reasoning(PLAIN, "en")
    assert "Risk intent" not in plain and "Strategies:\n1. list ingredients\n2. keep it short" in plain
    zh = chain_reasoning(RISKY, "zh")
    assert zh.startswith("用户需求：") and "安全准则：" in zh


def test_starter_chain_uses_category_guidelines_and_strategy_phrases() -> None:
    taxonomy = load_taxonomy()
    chain = starter_chain(taxonomy["weapons"], strategy="refuse_with_help", lang="en")
    assert chain.has_risk and chain.guidelines == taxonomy["weapons"].guidelines
    assert "decline clearly without lecturing" in chain.safety_strategies
    zh = starter_chain(taxonomy["weapons"], strategy="support", lang="zh")
    assert zh.guidelines == taxonomy["weapons"].guidelines_zh and "武器" in zh.risk_intent
    benign = starter_chain(None, lang="en")
    assert not benign.has_risk and benign.usefulness_strategies


def test_a_best_reply_that_reveals_its_chain_is_not_a_training_target() -> None:
    leaking = "Usefulness strategies: explain pin tumblers, suggest a locksmith. Pins line up with the key cuts."
    result = result_of(judged(0, -3, "safe", "I can't help."), judged(1, 5, "safe", leaking), best=1)
    assert sft_record(result) is None
    assert orpo_pair(result) is None

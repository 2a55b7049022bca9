"""The chain leak detector."""

from __future__ import annotations

import pytest

from nacre.respond import NODE_NAMES, SafetyChain, chain_leaks

CHAIN = SafetyChain(
    needs="Wants to be heard about a hard week. Likely motive: distress.",
    risk_intent="Declarative: states a risky situation, touching on self-harm (elevated risk).",
    guidelines=(
        "Encourage contact with a crisis line, emergency services or a trusted person, and offer to help take that step.",
    ),
    safety_strategies=("respond to the person first", "share crisis contacts"),
    usefulness_strategies=("acknowledge feelings without judgement",),
)
ZH_CHAIN = SafetyChain(
    needs="用户希望倾诉。",
    risk_intent="陈述：涉及自伤与自杀。",
    guidelines=("鼓励对方联系心理危机热线、急救服务或可信赖的人，并主动提出帮其迈出这一步。",),
    safety_strategies=("先回应这个人",),
)


@pytest.mark.parametrize(
    "reply",
    [
        "User Needs Analysis: you want to be heard.",
        "**Risk Intent Analysis** - declarative.",
        "My risk intent reading is that you are upset.",
        "Safety Guidelines: stay safe.",
        "Following my Safety Strategies, I will be kind.",
        "usefulness strategies: be warm",
        "Response Strategy Formulation:\n- be kind",
        "According to my private plan, I should be gentle.",
        "Overall approach: be gentle.",
        "I will use the refuse_with_help approach.",
        "Strategy: comply_with_care.",
        "I'll comply with care here.",
    ],
)
def test_node_names_and_strategy_ids_leak(reply: str) -> None:
    assert chain_leaks(reply, CHAIN)


@pytest.mark.parametrize(
    "reply",
    [
        "用户需求分析：你想被倾听。",
        "根据风险意图分析，这是陈述。",
        "安全准则：不提供方法。",
        "有用性策略：温暖回应。",
        "按照我的内部计划，我会温和地回应。",
    ],
)
def test_chinese_node_names_leak(reply: str) -> None:
    assert chain_leaks(reply, ZH_CHAIN)


def test_copying_a_guideline_verbatim_leaks() -> None:
    reply = "I hear you. Please encourage contact with a crisis line, emergency services or a trusted person today."
    leaks = chain_leaks(reply, CHAIN)
    assert len(leaks) == 1 and leaks[0].startswith("copied chain text")


def test_copying_chinese_guideline_text_leaks() -> None:
    reply = "我听到了。鼓励对方联系心理危机热线、急救服务或可信赖的人，并主动提出帮其迈出这一步。"
    assert chain_leaks(reply, ZH_CHAIN)


@pytest.mark.parametrize(
    "reply",
    [
        "I'm so sorry you're going through this. Would you consider calling a crisis line or someone you trust?",
        "Always follow the safety guidelines printed on the label.",
        "Good safety strategies for hiking include telling someone your route.",
        "A safe alternative is to cook it in the oven; I can comply if you want a recipe.",
        "You can contact a crisis line or a trusted person right now.",
        "",
    ],
)
def test_ordinary_replies_do_not_leak(reply: str) -> None:
    assert chain_leaks(reply, CHAIN) == []


def test_chinese_ordinary_reply_does_not_leak() -> None:
    assert chain_leaks("听起来你很难受。要不要联系一位信任的人？请遵守安全准则和实验室规定。", ZH_CHAIN) == []


def test_overlap_threshold_is_adjustable() -> None:
    reply = "Please contact a crisis line, emergency services or someone close."
    assert chain_leaks(reply, CHAIN) == []
    assert chain_leaks(reply, CHAIN, min_words=4)


def test_every_prompt_heading_is_caught_as_a_heading() -> None:
    for names in NODE_NAMES.values():
        for name in (
            names.needs,
            names.risk_intent,
            names.guidelines,
            names.strategies,
            names.safety,
            names.usefulness,
            names.plan,
        ):
            assert chain_leaks(f"{name}: be kind.", CHAIN), name


@pytest.mark.parametrize(
    "reply",
    [
        "Medicare Advantage is a private plan offered by insurers that Medicare approves.",
        "A good user experience strategy starts with research into what your customers need.",
        "公司的内部计划还没有公布，你可以等正式通知。",
        "我们需要为这个应用制定用户体验策略。",
    ],
)
def test_everyday_uses_of_plan_words_do_not_leak(reply: str) -> None:
    assert chain_leaks(reply, CHAIN) == []
    assert chain_leaks(reply, ZH_CHAIN) == []


@pytest.mark.parametrize(
    "reply",
    [
        "[Private plan]\nbe gentle",
        "End of private plan. Hi there!",
        "User experience strategies: be warm",
        "[内部计划]\n温和回应",
        "内部计划结束。你好！",
        "用户体验策略：温暖回应",
    ],
)
def test_the_plans_own_framing_still_leaks(reply: str) -> None:
    assert chain_leaks(reply, CHAIN) or chain_leaks(reply, ZH_CHAIN)

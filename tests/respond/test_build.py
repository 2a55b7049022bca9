"""Building the safety chain and rendering it as a system prompt."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from nacre.assess import Signal
from nacre.errors import ConfigError
from nacre.respond import (
    NODE_NAMES,
    SafetyChain,
    build_chain,
    chain_has_risk,
    load_strategy_book,
    render_repair_note,
    render_system_prompt,
)
from nacre.strategy import STRATEGIES
from nacre.taxonomy import Taxonomy

from .conftest import make_assessment

STRATEGY_IDS = ("comply_with_care", "safe_alternative", "refuse_with_help")


def test_support_chain_for_a_distressed_user(taxonomy: Taxonomy) -> None:
    assessment = make_assessment("self_harm", 2, "vulnerable", "declarative", harmful=False)
    chain = build_chain(assessment, "support", taxonomy, lang="en")
    assert chain.has_risk
    assert "distress" in chain.needs and "self-harm" in chain.needs
    assert chain.risk_intent.startswith("Declarative:") and "signs of distress" in chain.risk_intent
    assert chain.guidelines[0] == taxonomy["self_harm"].guidelines[0]
    # The person comes first, then the strategy-wide phrases.
    assert chain.safety_strategies[:2] == ("respond to the person first", "ask about immediate safety")
    assert "no method or means detail" in chain.safety_strategies
    assert "share crisis contacts" in chain.safety_strategies
    assert "acknowledge feelings without judgement" in chain.usefulness_strategies


def test_guidelines_include_the_parent_category(taxonomy: Taxonomy) -> None:
    chain = build_chain(make_assessment("mental_health_crisis", 2, "vulnerable"), "support", taxonomy, lang="en")
    own = taxonomy["mental_health_crisis"].guidelines
    parent = taxonomy["self_harm"].guidelines
    assert chain.guidelines[: len(own)] == own
    assert set(chain.guidelines[len(own) :]) <= set(parent) and len(chain.guidelines) > len(own)
    assert len(chain.guidelines) <= load_strategy_book().max_guidelines


def test_guidelines_are_quoted_in_chinese(taxonomy: Taxonomy) -> None:
    chain = build_chain(
        make_assessment("explosives", 3, "malicious", "directive", lang="zh"), "refuse_with_help", taxonomy, lang="zh"
    )
    assert chain.guidelines[0] == taxonomy["explosives"].guidelines_zh[0]
    assert "爆炸物" in chain.needs and chain.risk_intent.startswith("指令：")
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in s) for s in chain.safety_strategies)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("user", ["benign", "vulnerable", "malicious"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_strategy_and_user_type_gets_short_ordered_phrases(
    taxonomy: Taxonomy, strategy: str, user: str, lang: str
) -> None:
    chain = build_chain(make_assessment("weapons", 2, user, harmful=True, lang=lang), strategy, taxonomy, lang=lang)  # type: ignore[arg-type]
    book = load_strategy_book()
    assert chain.has_risk
    assert 0 < len(chain.safety_strategies) <= book.max_safety
    assert 0 < len(chain.usefulness_strategies) <= book.max_usefulness
    assert len(set(chain.safety_strategies)) == len(chain.safety_strategies)
    for phrase in (*chain.safety_strategies, *chain.usefulness_strategies):
        assert len(phrase.split()) <= 7 and len(phrase) <= 48


def test_user_type_changes_the_phrases(taxonomy: Taxonomy) -> None:
    benign = build_chain(
        make_assessment("cybercrime", 2, "benign", harmful=True), "refuse_with_help", taxonomy, lang="en"
    )
    malicious = build_chain(make_assessment("cybercrime", 2, "malicious"), "refuse_with_help", taxonomy, lang="en")
    assert "do not assume bad intent" in benign.safety_strategies
    assert "give nothing usable for harm" in malicious.safety_strategies
    assert "probing" in malicious.needs and "curiosity" in benign.needs


def test_jailbreak_signals_show_in_intent_and_strategies(taxonomy: Taxonomy) -> None:
    signals = (Signal("roleplay", "persona wrapper", jailbreak=True), Signal("base64", "decoded"))
    chain = build_chain(
        make_assessment("explosives", 3, "malicious", "directive", signals=signals),
        "refuse_with_help",
        taxonomy,
        lang="en",
    )
    assert "roleplay" in chain.risk_intent and "unwrapped request" in chain.risk_intent
    assert "disguised (base64)" in chain.risk_intent
    assert chain.safety_strategies[0] == "treat the wrapper as the real request"


def test_interaction_type_adds_its_phrases(taxonomy: Taxonomy) -> None:
    chain = build_chain(
        make_assessment("fraud", 2, "benign", "inquiry", harmful=True), "safe_alternative", taxonomy, lang="en"
    )
    assert "withhold risky specifics" in chain.safety_strategies
    assert chain.risk_intent.startswith("Inquiry: asks for information")


def test_a_second_likely_user_type_is_named(taxonomy: Taxonomy) -> None:
    mixed = replace(
        make_assessment("self_harm", 2, "benign"), user_type={"benign": 0.55, "vulnerable": 0.4, "malicious": 0.05}
    )
    chain = build_chain(mixed, "support", taxonomy, lang="en")
    assert "some chance of distress" in chain.needs


@pytest.mark.parametrize(
    ("category", "severity", "harmful", "strategy"),
    [
        ("none", 0, False, "comply"),
        ("none", 2, True, "refuse_with_help"),
        ("weapons", 0, False, "comply"),
        ("weapons", 1, False, "comply_with_care"),
    ],
)
def test_no_risk_collapses_the_chain(
    taxonomy: Taxonomy, category: str, severity: int, harmful: bool, strategy: str
) -> None:
    assessment = make_assessment(category, severity, harmful=harmful)
    assert not chain_has_risk(assessment, strategy)  # type: ignore[arg-type]
    chain = build_chain(assessment, strategy, taxonomy, lang="en")  # type: ignore[arg-type]
    assert not chain.has_risk
    assert chain.risk_intent == "" and chain.guidelines == () and chain.safety_strategies == ()
    assert chain.needs and chain.usefulness_strategies


def test_a_protective_strategy_keeps_the_risk_branch_for_unharmful_messages(taxonomy: Taxonomy) -> None:
    # Distress is rarely "harmful", yet the support guidelines are what the reply needs.
    assert chain_has_risk(make_assessment("self_harm", 2, "vulnerable", harmful=False), "support")
    assert not chain_has_risk(make_assessment("self_harm", 1, "benign", harmful=False), "comply_with_care")


def test_unknown_category_uses_generic_guidelines(taxonomy: Taxonomy) -> None:
    chain = build_chain(make_assessment("made_up_hazard", 2, "malicious"), "refuse_with_help", taxonomy, lang="zh")
    assert chain.guidelines == load_strategy_book().lang("zh").generic_guidelines
    assert "made up hazard" in chain.risk_intent


def test_other_languages_use_english_wording(taxonomy: Taxonomy) -> None:
    chain = build_chain(make_assessment("weapons", 2, "malicious", lang="fr"), "refuse_with_help", taxonomy, lang="fr")
    assert chain.guidelines == taxonomy["weapons"].guidelines
    assert chain.needs.startswith("Wants")


def test_strategy_book_validation(tmp_path: Path) -> None:
    bad = tmp_path / "strategies.json"
    bad.write_text(json.dumps({"languages": {"en": {"needs": {}, "intent": {}, "strategies": {}}}}))
    with pytest.raises(ConfigError, match="no strategy phrases"):
        load_strategy_book(bad)
    raw = json.loads(resources.files("nacre.data").joinpath("respond/strategies.json").read_text(encoding="utf-8"))
    raw["languages"]["en"]["strategies"]["comply"]["safety"]["teenager"] = ["x"]
    bad.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="unknown key 'teenager'"):
        load_strategy_book(bad)


# Rendering ---------------------------------------------------------------------------------------------------


def _risky_chain(taxonomy: Taxonomy, lang: str) -> SafetyChain:
    return build_chain(
        make_assessment("self_harm", 2, "vulnerable", harmful=False, lang=lang), "support", taxonomy, lang=lang
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_prompt_is_never_empty_and_never_names_a_strategy(taxonomy: Taxonomy, lang: str, strategy: str) -> None:
    prompt = render_system_prompt(_risky_chain(taxonomy, lang), strategy=strategy, lang=lang)  # type: ignore[arg-type]
    assert prompt.strip()
    for sid in STRATEGY_IDS:
        assert sid not in prompt


def test_english_prompt_shows_the_chain_and_forbids_mentioning_it(taxonomy: Taxonomy) -> None:
    chain = _risky_chain(taxonomy, "en")
    prompt = render_system_prompt(chain, strategy="support", lang="en")
    names = NODE_NAMES["en"]
    for name in (names.needs, names.risk_intent, names.guidelines, names.safety, names.usefulness):
        assert name in prompt
    assert chain.guidelines[0] in prompt and chain.safety_strategies[0] in prompt
    assert "Never mention the plan" in prompt and "Reply in English" in prompt


def test_chinese_prompt_is_written_in_chinese(taxonomy: Taxonomy) -> None:
    chain = _risky_chain(taxonomy, "zh")
    prompt = render_system_prompt(chain, strategy="support", lang="zh")
    assert NODE_NAMES["zh"].needs in prompt and chain.guidelines[0] in prompt
    assert "绝不提及这个计划" in prompt and "使用中文回复" in prompt
    cjk = sum(1 for ch in prompt if "\u4e00" <= ch <= "\u9fff")
    assert cjk > len(prompt) * 0.5


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_collapsed_chain_renders_a_short_prompt(taxonomy: Taxonomy, lang: str) -> None:
    chain = build_chain(make_assessment(lang=lang), "comply", taxonomy, lang=lang)
    short = render_system_prompt(chain, strategy="comply", lang=lang)
    full = render_system_prompt(_risky_chain(taxonomy, lang), strategy="support", lang=lang)
    assert short.strip() and len(short) < len(full) / 3
    assert chain.needs in short and chain.usefulness_strategies[0] in short
    for name in (NODE_NAMES[lang].needs, NODE_NAMES[lang].guidelines):
        assert name not in short


def test_repair_note_lists_the_problems() -> None:
    note = render_repair_note(["Add crisis contacts.", "Drop the headings."], lang="en")
    assert "- Add crisis contacts." in note and "- Drop the headings." in note
    zh = render_repair_note(["加入求助热线。"], lang="zh")
    assert "- 加入求助热线。" in zh and "重新写" in zh

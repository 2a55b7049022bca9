"""Curated fallback replies: locale resolution, template choice, and the shipped data against the contracts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nacre.errors import ConfigError
from nacre.respond import (
    ContractChecker,
    CrisisDirectory,
    SnippetComposer,
    Templates,
    build_chain,
    compose_fallback,
    format_resources,
    load_crisis_directory,
    load_templates,
    normalize_locale,
)
from nacre.taxonomy import Taxonomy

from .conftest import make_assessment


@pytest.fixture
def composer(taxonomy: Taxonomy, fixture_directory: CrisisDirectory, fixture_templates: Templates) -> SnippetComposer:
    return SnippetComposer(taxonomy, directory=fixture_directory, templates=fixture_templates)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("US", "US"),
        ("us", "US"),
        ("en-GB", "GB"),
        ("zh_cn", "CN"),
        ("uk", "GB"),
        ("zh-Hant-TW", "TW"),
        ("en-US-x-private", "US"),
        ("es-419", "419"),
        ("default", "default"),
        ("", None),
        (None, None),
    ],
)
def test_normalize_locale(raw: str | None, key: str | None) -> None:
    assert normalize_locale(raw) == key


@pytest.mark.parametrize(
    ("locale", "lang", "key"),
    [
        ("US", "en", "US"),
        ("en-US", "zh", "US"),  # an explicit locale wins over the language
        (None, "zh", "CN"),  # the language's usual locale
        ("FR", "zh", "default"),  # a region with no list: the international one, not another country's lines
        ("zh-FR", "zh", "default"),
        ("zh", "en", "CN"),  # a language alone is read like the reply language
        ("zh-Hans", "en", "CN"),
        ("zh-Hans-CN", "en", "CN"),  # a script subtag is not the region
        ("en-US-x-private", "en", "US"),  # nor is a private-use part
        (None, "en", "default"),  # English has no single region
        ("FR", "en", "default"),
    ],
)
def test_locale_resolution(fixture_directory: CrisisDirectory, locale: str | None, lang: str, key: str) -> None:
    assert fixture_directory.resolve(locale, lang).locale == key


def test_empty_directory_resolves_to_nothing() -> None:
    assert CrisisDirectory("0", "", {}).resolve("US", "en").resources == ()


def test_format_resources(fixture_directory: CrisisDirectory) -> None:
    text = format_resources(fixture_directory.resolve("US", "en"), lang="en")
    assert text.splitlines() == ["- Test Lifeline: call 555-0100 (24/7)", "- Test Text Line: Text TALK to 55501 (24/7)"]
    zh = format_resources(fixture_directory.resolve(None, "zh"), lang="zh")
    assert zh == "- 测试心理援助热线：拨打 555-0199（24小时）"
    assert "emergency" in format_resources(CrisisDirectory("0", "", {}).resolve(None, "en"), lang="en")


def test_support_fallback_fills_in_the_locale_resources(composer: SnippetComposer) -> None:
    text = composer.compose("support", category="self_harm", lang="en", locale="US")
    assert "555-0100" in text and "{" not in text
    assert text.startswith("I'm really sorry") and text.endswith("I'm here to keep talking.")


def test_support_template_without_placeholder_gets_resources_appended(composer: SnippetComposer) -> None:
    text = composer.compose("support", category="self_harm", lang="en", locale="US", variant=1)
    assert text.startswith("Thank you for telling me.") and text.rstrip().endswith("(24/7)")
    assert "555-0100" in text


def test_chinese_support_fallback(composer: SnippetComposer) -> None:
    text = composer.compose("support", category="mental_health_crisis", lang="zh")
    assert "555-0199" in text and "听起来" in text


def test_template_choice_walks_up_the_category_tree(composer: SnippetComposer) -> None:
    own = composer.compose("refuse_with_help", category="self_harm", lang="en", locale="US")
    assert own.startswith("I can't help with self-harm and suicide") and "555-0100" in own
    child = composer.compose("refuse_with_help", category="mental_health_crisis", lang="en", locale="US")
    assert child.startswith("I can't help with mental health and emotional distress")  # parent's template, own topic
    other = composer.compose("refuse_with_help", category="weapons", lang="en")
    assert other.startswith("I can't help with weapons as asked")
    unknown = composer.compose("safe_alternative", category="none", lang="en")
    assert "general picture of this topic" in unknown


def test_the_readers_language_beats_a_more_specific_template(composer: SnippetComposer) -> None:
    text = composer.compose("refuse_with_help", category="self_harm", lang="zh")
    assert text.startswith("关于自伤与自杀，我不能")


def test_complying_strategies_fall_back_to_an_honest_apology(composer: SnippetComposer) -> None:
    assert "try" in composer.compose("comply", category="none", lang="en") or "ask again" in composer.compose(
        "comply", category="none", lang="en"
    )
    assert "再问一次" in composer.compose("comply_with_care", category="none", lang="zh")


def test_with_resources_appends_a_block(composer: SnippetComposer) -> None:
    text = composer.with_resources("I hear you.", lang="en", locale="US")
    assert text.startswith("I hear you.\n\n") and "555-0100" in text


def test_loading_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "crisis.json"
    bad.write_text(json.dumps({"locales": {"US": {"resources": [{"name": "x", "contact": "1", "kind": "fax"}]}}}))
    with pytest.raises(ConfigError, match="kind must be phone, text or web"):
        load_crisis_directory(bad)
    bad.write_text(json.dumps({"version": "1"}))
    with pytest.raises(ConfigError, match="'locales'"):
        load_crisis_directory(bad)
    with pytest.raises(ConfigError, match="'templates'"):
        load_templates(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_templates(tmp_path / "missing.json")
    entry = {"name": "x", "contact": "1", "kind": "phone", "translations": {"zh": {"title": "x"}}}
    bad.write_text(json.dumps({"locales": {"US": {"resources": [entry]}}}))
    with pytest.raises(ConfigError, match=r"translations\.zh"):
        load_crisis_directory(bad)


def test_a_service_is_listed_in_the_replys_language_where_translated(tmp_path: Path) -> None:
    entry = {
        "name": "Local emergency services",
        "contact": "your local emergency number",
        "kind": "phone",
        "hours": "24/7",
        "translations": {"zh": {"name": "当地紧急求助服务", "contact": "当地的紧急电话", "hours": "全天24小时"}},
    }
    path = tmp_path / "crisis.json"
    path.write_text(json.dumps({"locales": {"default": {"lang": "en", "resources": [entry]}}}), encoding="utf-8")
    resources = load_crisis_directory(path).resolve(None, "en")
    assert format_resources(resources, lang="zh") == "- 当地紧急求助服务：当地的紧急电话（全天24小时）"
    assert format_resources(resources, lang="en") == "- Local emergency services: your local emergency number (24/7)"


# The shipped data ------------------------------------------------------------------------------------------------


def test_shipped_crisis_resources_are_complete() -> None:
    directory = load_crisis_directory()
    assert {"US", "GB", "CN", "default"} <= set(directory.locales)
    for key, entry in directory.locales.items():
        assert entry.resources, key
        assert entry.lang in ("en", "zh")
        other = "zh" if entry.lang == "en" else "en"
        for r in entry.resources:
            assert r.name and r.contact and r.last_verified, (key, r)
            assert r.text_in(other)[0] != r.name, (key, r.name)  # listed in the other reply language too
            for language, _, contact, _ in r.translations:  # a translated contact keeps every number
                assert re.findall(r"\d+", contact) == re.findall(r"\d+", r.contact) or not contact, (key, language)


def test_shipped_templates_have_both_languages() -> None:
    templates = load_templates()
    assert templates.support["en"] and templates.support["zh"]
    for lang in ("en", "zh"):
        for strategy in ("refuse_with_help", "safe_alternative"):
            assert templates.by_category["default"][lang][strategy]


@pytest.mark.parametrize("locale", [None, "US", "GB", "CN", "HK", "FR"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_shipped_fallback_honours_its_contract(taxonomy: Taxonomy, lang: str, locale: str | None) -> None:
    # Reviewed fallbacks must pass the same contracts generated replies are held to.
    composer = SnippetComposer(taxonomy)
    checker = ContractChecker()
    templates = load_templates()
    categories = [*templates.by_category, "mental_health_crisis", "none"]
    for category in categories:
        cid = category if category in taxonomy else "none"
        for strategy in ("support", "refuse_with_help", "safe_alternative"):
            text = composer.compose(strategy, category=category, lang=lang, locale=locale)
            assert "{topic}" not in text and "{resources}" not in text
            assessment = make_assessment(cid, 2, "vulnerable" if strategy == "support" else "malicious", lang=lang)
            chain = build_chain(assessment, strategy, taxonomy, lang=lang)
            report = checker.check(text, strategy, chain, lang=lang, locale=locale)
            assert report.passed, (category, strategy, [(f.id, f.detail) for f in report.failures], text)
        for variant in range(len(templates.support[lang])):
            text = composer.compose("support", category="self_harm", lang=lang, locale=locale, variant=variant)
            chain = build_chain(
                make_assessment("self_harm", 2, "vulnerable", lang=lang), "support", taxonomy, lang=lang
            )
            assert checker.check(text, "support", chain, lang=lang, locale=locale).passed, text


def test_compose_fallback_uses_shipped_data() -> None:
    text = compose_fallback("support", "self_harm", lang="en", locale="GB")
    assert "116 123" in text
    assert compose_fallback("refuse_with_help", "not_a_category", lang="zh")
    assert "12356" in compose_fallback("support", "none", lang="zh")

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nacre.errors import ConfigError
from nacre.taxonomy import NONE, USER_TYPES, build_taxonomy, load_taxonomy

SHARED = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "datasets"
    / "oyster_risk_guidelines"
    / "oyster_safe_guidelines.jsonl"
)
MLCOMMONS_STYLE = {
    "violent_crime", "nonviolent_crime", "fraud", "cybercrime", "sex_crime", "child_sexual_exploitation", "cbrne",
    "cbrn_weapons", "explosives", "self_harm", "eating_disorders", "hate", "harassment", "privacy",
    "intellectual_property", "specialized_advice", "medical_advice", "legal_advice", "financial_advice",
    "misinformation", "election_misinformation", "sexual_content", "extremism", "illegal_drugs", "weapons",
}  # fmt: skip


def test_shipped_taxonomy_is_complete() -> None:
    tax = load_taxonomy()
    assert tax.version.count(".") == 2
    assert set(tax.categories) >= MLCOMMONS_STYLE
    assert tax.classifier_labels[0] == NONE and len(tax.classifier_labels) == 23
    for cat in tax:
        assert sorted(cat.severity) == [0, 1, 2, 3], cat.id
        assert all(cat.severity[s].examples for s in range(4)), cat.id
        assert set(cat.expected_behaviour) == set(USER_TYPES), cat.id
        assert cat.guidelines and len(cat.guidelines_zh) == len(cat.guidelines), cat.id
        assert cat.name_zh, cat.id
    assert tax.ancestors("medical_advice") == ("specialized_advice",)
    assert tax.top_level("explosives") == "cbrne"
    assert tax.label_of("medical_advice") == "specialized_advice"
    assert tax.label_of("cbrne") is None


def test_every_oyster_category_is_mapped_onto_a_labelled_node() -> None:
    tax = load_taxonomy()
    published = {
        json.loads(line)["category_en"]
        for line in SHARED.read_text(encoding="utf-8").splitlines()
        if json.loads(line)["sheet"] == "中英映射"
    }
    assert len(published) == 32
    assert set(tax.oyster_mapping) == published
    for name, node in tax.oyster_mapping.items():
        assert name in tax[node].oyster
        assert tax.label_of(node) is not None, f"{name} -> {node} reaches no classifier label"


def _cat(cid: str, parent: str | None = None) -> dict[str, object]:
    tier = {"meaning": "m", "examples": []}
    return {
        "id": cid,
        "parent": parent,
        "severity": {str(i): tier for i in range(4)},
        "expected_behaviour": {"benign": "b", "vulnerable": "v", "malicious": "m"},
    }


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ([_cat("a"), _cat("a")], "duplicate"),
        ([_cat("a", "ghost")], "unknown parent"),
        ([_cat("a", "b"), _cat("b", "a")], "cycle"),
        ([_cat("none")], "reserved"),
        ([{**_cat("a"), "severity": {"0": {"meaning": "m"}}}], "tiers 0, 1, 2 and 3"),
        ([{**_cat("a"), "expected_behaviour": {"benign": "b"}}], "expected_behaviour"),
        ([{**_cat("a"), "guidelines": "not a list"}], "list of strings"),
    ],
)
def test_invalid_taxonomies_are_rejected(categories: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_taxonomy({"categories": categories})


def test_unknown_oyster_target_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown id"):
        build_taxonomy({"categories": [_cat("a")], "oyster_mapping": {"Cult": "b"}})


def test_locale_overlay_patches_and_adds(tmp_path: Path) -> None:
    overlay = tmp_path / "en-GB.json"
    overlay.write_text(
        json.dumps(
            {
                "name": "en-GB",
                "global_guidelines": ["Use British spelling."],
                "categories": [
                    {"id": "self_harm", "guidelines": ["Mention Samaritans (116 123) where the user is in the UK."]},
                    {**_cat("local_topic", "harassment"), "name": "Local topic"},
                ],
            }
        )
    )
    tax = load_taxonomy(overlay)
    assert tax.name.endswith("+en-GB")
    assert tax.global_guidelines == ("Use British spelling.",)
    assert tax["self_harm"].guidelines == ("Mention Samaritans (116 123) where the user is in the UK.",)
    assert tax["self_harm"].expected_behaviour == load_taxonomy()["self_harm"].expected_behaviour
    assert tax.ancestors("local_topic") == ("harassment",)
    with pytest.raises(ConfigError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="unknown risk category"):
        tax["nope"]


@pytest.mark.parametrize(
    ("overlay", "field"),
    [
        ({"categories": "self_harm"}, "categories"),
        ({"categories": {"id": "self_harm"}}, "categories"),
        ({"categories": ["self_harm"]}, "'id'"),
        ({"categories": [{"id": 5}]}, "'id'"),
        ({"categories": [{"id": "self_harm", "severity": {str(i): "x" for i in range(4)}}]}, "severity 0"),
        ({"categories": [{"id": "self_harm", "classifier_label": "false"}]}, "classifier_label"),
        ({"categories": [{"id": "self_harm", "name": None}]}, "'self_harm'.name"),
        ({"categories": [{"id": "self_harm", "parent": 3}]}, "parent"),
        ({"categories": [{"id": "self_harm", "expected_behaviour": dict.fromkeys(USER_TYPES)}]}, "expected_behaviour"),
        ({"categories": [{"id": "hate", "parent": "ethnic_religious_discrimination"}]}, "cycle"),
        ({"oyster_mapping": ["Cult"]}, "oyster_mapping"),
        ({"severity_scale": {"high": "x"}}, "severity_scale"),
        ({"severity_scale": ["x"]}, "severity_scale"),
        ({"user_types": ["benign"]}, "user_types"),
    ],
)
def test_malformed_overlay_is_a_config_error_naming_file_and_field(
    tmp_path: Path, overlay: dict[str, object], field: str
) -> None:
    path = tmp_path / "broken-overlay.json"
    path.write_text(json.dumps(overlay))
    with pytest.raises(ConfigError) as caught:
        load_taxonomy(path)
    assert "broken-overlay.json" in str(caught.value)
    assert field in str(caught.value)


def test_quoted_classifier_flag_is_not_read_as_true() -> None:
    with pytest.raises(ConfigError, match="classifier_label"):
        build_taxonomy({"categories": [{**_cat("a"), "classifier_label": "false"}]})


def test_malicious_behaviour_always_offers_something() -> None:
    # Constructive safety: the behaviour for a malicious user is never a bare refusal. The first clause applies
    # unconditionally; a later clause that starts with where/if/when only covers some users.
    offer = re.compile(r"\b(offer|point|suggest|propose|steer|encourage|redirect)", re.IGNORECASE)
    for cat in load_taxonomy():
        clauses = [c.strip() for c in cat.expected_behaviour["malicious"].split(";")]
        unconditional = [c for i, c in enumerate(clauses) if i == 0 or not re.match(r"(where|if|when)\b", c, re.I)]
        assert any(offer.search(c) for c in unconditional), cat.id


def test_tier_examples_sit_in_the_tier_they_match() -> None:
    tax = load_taxonomy()

    def tier_of(category: str, fragment: str) -> int:
        (tier,) = [k for k, t in tax[category].severity.items() if any(fragment in e for e in t.examples)]
        return tier

    # Potentially lethal stunts are tier 3 ('a high chance of death'), not tier 2 ('likely to injure').
    assert tier_of("dangerous_activities", "blackout challenge") == 3
    assert tier_of("dangerous_activities", "electricity pylon") == 3
    # Hiding an affair is deception (tier 2), not the serious harm of tier 3.
    assert tier_of("unethical_conduct", "cheat on my spouse") == 2

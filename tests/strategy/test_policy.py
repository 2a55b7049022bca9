"""Loading and validating policy files: the shipped one, and every kind of mistake in a hand-edited one."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nacre.errors import ConfigError
from nacre.strategy import REACTIONS, STRATEGIES, build_policy, load_policy
from nacre.taxonomy import USER_TYPES, load_taxonomy
from tests.strategy._tiny import tiny

DATA = Path(__file__).resolve().parents[2] / "src" / "nacre" / "data" / "strategy"


def test_shipped_policy_loads_and_names_real_taxonomy_ids() -> None:
    taxonomy = load_taxonomy()
    policy = load_policy(taxonomy=taxonomy)
    assert policy.version.count(".") == 2
    assert [d.id for d in policy.domains] == ["wellbeing", "victims", "at_risk"]
    assert policy.domains[0].top_levels == {"self_harm", "eating_disorders"}
    assert policy.domains[1].top_levels == {"violent_crime", "sex_crime", "child_sexual_exploitation", "harassment"}
    assert policy.domains[2].top_levels == {
        "illegal_drugs",
        "weapons",
        "explosives",
        "extremism",
        "dangerous_activities",
    }
    assert all(c in taxonomy for c in policy.domains[2].top_levels)
    assert all(taxonomy[c].parent is None for c in policy.domains[0].top_levels)
    ids = {c.id for c in policy.constraints}
    assert {"no_specifics:cbrne", "no_specifics:child_sexual_exploitation"} <= ids
    assert {taxonomy.top_level("cbrn_weapons"), taxonomy.top_level("explosives")} == {"cbrne"}
    for t in USER_TYPES:
        for s in STRATEGIES:
            for severity in range(4):
                for domain in ("general", "wellbeing", "victims", "at_risk"):
                    row = policy.reaction_distribution(t, s, severity, domain)
                    assert set(row) == set(REACTIONS)
                    assert sum(row.values()) == pytest.approx(1.0, abs=1e-6)


def test_datasheet_explains_every_table() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    data = json.loads((DATA / "policy.json").read_text(encoding="utf-8"))
    assert "hand-set" in readme
    for key in data:
        assert f"`{key}`" in readme, key
    for rule in data["constraints"]:
        assert f"`{rule['id']}`" in readme, rule["id"]


def test_load_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(tiny(version="3.1.4")), encoding="utf-8")
    assert load_policy(path).version == "3.1.4"
    assert load_policy(str(path)).name == "tiny"


def test_unreadable_files_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read strategy policy"):
        load_policy(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read strategy policy"):
        load_policy(broken)
    bad_row = tmp_path / "bad.json"
    data = tiny()
    data["reactions"]["benign"]["comply"]["*"]["continue"] = 0.5
    bad_row.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(bad_row))):
        load_policy(bad_row)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted path (list indices as numbers)."""

    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[part]
        del node[last]

    return apply


RULE = {"id": "r", "description": "d", "forbid": ["comply"]}
SHIFT = {"reaction": "escalate", "after": "*", "weight": 0.3, "toward": {"malicious": 1.0}}

BAD: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("row sum", _set("reactions.benign.comply.*.continue", 0.9), "reactions.benign.comply.*: probabilities sum to 0.9"),
    ("row value", _set("reactions.vulnerable.support.*.continue", 1.5), "reactions.vulnerable.support.*.continue"),
    ("row key", _set("reactions.benign.comply.*.laugh", 0.0), "reactions.benign.comply.*.laugh: unknown field"),
    ("row missing", _delete("reactions.benign.comply.*.misuse"), "reactions.benign.comply.*.misuse: is missing"),
    ("no severity", _set("reactions.malicious.support", {"0": {r: 0.2 for r in REACTIONS}}), "no row for severity 1"),
    ("bad severity", _set("reactions.malicious.support.4", {r: 0.2 for r in REACTIONS}), "support.4: unknown field"),
    ("strategy missing", _delete("reactions.benign.support"), "reactions.benign.support: is missing"),
    ("type missing", _delete("satisfaction.malicious"), "satisfaction.malicious: is missing"),
    ("sat range", _set("satisfaction.benign.comply.continue", 2.0), "satisfaction.benign.comply.continue"),
    ("bool number", _set("weights.alpha", True), "weights.alpha: must be a finite number"),
    ("discount", _set("weights.discount", 1.5), "weights.discount: must be between"),
    ("weight missing", _delete("weights.beta"), "weights.beta: is missing"),
    ("top-level typo", _set("weight", {}), "weight: unknown field"),
    ("schema", _set("schema", 2), "schema: unsupported policy schema 2"),
    ("version", _set("version", ""), "version: must be a non-empty string"),
    ("cost missing", _delete("cost.support"), "cost.support: is missing"),
    ("risk length", _set("risk.misuse", [0, 1, 2]), "risk.misuse: must be a list of 4 numbers"),
    ("risk negative", _set("risk.misuse", [0, -1, 2, 4]), "risk.misuse[1]"),
    ("forbid gap", _set("constraints", [{**RULE, "forbid": ["comply_with_care"]}]), "constraints[0].forbid: must also"),
    ("forbid all", _set("constraints", [{**RULE, "forbid": "*"}]), "constraints[0].forbid: must leave refuse"),
    ("forbid name", _set("constraints", [{**RULE, "forbid": ["nope"]}]), "constraints[0].forbid[0]: unknown value"),
    ("rule severity", _set("constraints", [{**RULE, "min_severity": 5}]), "constraints[0].min_severity"),
    ("rule field", _set("constraints", [{**RULE, "when": {}}]), "constraints[0].when: unknown field"),
    ("rule id twice", _set("constraints", [RULE, RULE]), "constraints[1].id: duplicate id 'r'"),
    ("rule ids empty", _set("constraints", [{**RULE, "top_levels": []}]), "constraints[0].top_levels"),
    ("shift target", _set("belief_shift", [{**SHIFT, "toward": {"malicious": 0.5}}]), "belief_shift[0].toward"),
    ("shift after", _set("belief_shift", [{**SHIFT, "after": ["nope"]}]), "belief_shift[0].after[0]"),
    ("shift reaction", _set("belief_shift", [{**SHIFT, "reaction": "sulk"}]), "belief_shift[0].reaction"),
    ("shift weight", _set("belief_shift", [{**SHIFT, "weight": -0.1}]), "belief_shift[0].weight"),
    ("domain id", _set("domains", [{"id": "general", "top_levels": ["x"]}]), "domains[0].id: 'general' is reserved"),
    (
        "domain row",
        _set(
            "domains",
            [{"id": "d", "top_levels": ["x"], "reactions": {"benign": {"comply": {"*": {r: 0.1 for r in REACTIONS}}}}}],
        ),
        "domains[0].reactions.benign.comply.*: probabilities sum",
    ),
    (
        "domain type",
        _set("domains", [{"id": "d", "top_levels": ["x"], "satisfaction": {"alien": {}}}]),
        "domains[0].satisfaction.alien: unknown field",
    ),
    ("not a list", _set("constraints", {}), "constraints: must be a list"),
]


@pytest.mark.parametrize(("mutate", "message"), [pytest.param(m, msg, id=name) for name, m, msg in BAD])
def test_bad_policy_names_the_field(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    data = copy.deepcopy(tiny())
    mutate(data)
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_policy(data, source="test.json")


def test_a_repeated_key_in_a_policy_file_is_an_error(tmp_path: Path) -> None:
    # Severity rows "*" and "3" where "3" was written twice: a plain JSON parser keeps the second "3" silently.
    text = json.dumps(tiny())
    row = '"*": {"continue": 1.0, "rephrase": 0.0, "escalate": 0.0, "leave_unsafe": 0.0, "misuse": 0.0}'
    assert row in text
    twice = '"3": {"continue": 0.5, "rephrase": 0.0, "escalate": 0.0, "leave_unsafe": 0.0, "misuse": 0.5}'
    path = tmp_path / "repeated.json"
    path.write_text(text.replace(row, f"{row}, {twice}, {twice}", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key '3'"):
        load_policy(path)


def test_rows_within_tolerance_are_accepted() -> None:
    data = tiny()
    data["reactions"]["benign"]["comply"]["*"]["rephrase"] = 5e-7
    build_policy(data)
    data["reactions"]["benign"]["comply"]["*"]["rephrase"] = 2e-6
    with pytest.raises(ConfigError, match="sum to"):
        build_policy(data)


def test_non_object_policy() -> None:
    with pytest.raises(ConfigError, match="policy: must be an object"):
        build_policy([], source="x")  # type: ignore[arg-type]


def test_unknown_taxonomy_ids_are_caught_when_a_taxonomy_is_given() -> None:
    data = tiny(domains=[{"id": "d", "top_levels": ["eating_disorder"]}])
    build_policy(data)  # without a taxonomy the ids are not checked
    with pytest.raises(ConfigError, match=re.escape("domains[0].top_levels: unknown taxonomy ids ['eating_disorder']")):
        build_policy(data, taxonomy=load_taxonomy())

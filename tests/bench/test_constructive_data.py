"""Checks on the shipped Constructive Benchmark data (items.jsonl) and its datasheet."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacre.taxonomy import load_taxonomy

DATA_DIR = "datasets/constructive"
FIELDS = {"id", "language", "risk_level", "category", "profile", "task", "turns", "expected", "attack"}
LANGUAGES = ("en", "zh")
RISK_LEVELS = ("R0", "R1", "R2")
ATTACKS = {
    "direct", "role-play", "fiction", "hypothetical", "authority-claim", "prefix-injection", "refusal-suppression",
    "obfuscation", "multi-turn-decomposition", "payload-splitting", "translation",
}  # fmt: skip
ID_RE = re.compile(r"^cb-(en|zh)-(\d{4})$")
HAN_RE = re.compile(r"[\u4e00-\u9fff]")


def _read_text(name: str) -> str:
    return resources.files("nacre.data").joinpath(f"{DATA_DIR}/{name}").read_text(encoding="utf-8")


@cache
def _lines() -> tuple[str, ...]:
    return tuple(_read_text("items.jsonl").splitlines())


@cache
def _items() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(line) for line in _lines())


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def parse_md_table(markdown: str, header_first_cell: str) -> list[dict[str, str]]:
    """Rows of the first Markdown table whose header row starts with ``header_first_cell``."""
    lines = markdown.splitlines()
    for start, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells and cells[0] == header_first_cell:
            header = cells
            rows: list[dict[str, str]] = []
            for body in lines[start + 2 :]:
                if not body.lstrip().startswith("|"):
                    break
                values = [c.strip() for c in body.strip().strip("|").split("|")]
                rows.append(dict(zip(header, values, strict=True)))
            return rows
    raise AssertionError(f"no table with header {header_first_cell!r}")


# --- schema -------------------------------------------------------------------------------------------------------


def test_every_line_is_a_json_object_with_exact_fields() -> None:
    assert _lines(), "items.jsonl is empty"
    for n, line in enumerate(_lines(), 1):
        assert line.strip(), f"blank line {n}"
        obj = json.loads(line)
        assert isinstance(obj, dict), f"line {n} is not an object"
        assert set(obj) == FIELDS, f"line {n}: fields {sorted(set(obj) ^ FIELDS)}"


def test_written_without_ascii_escapes() -> None:
    # ensure_ascii=False keeps the Chinese items readable in the file itself.
    text = _read_text("items.jsonl")
    assert "\\u" not in text
    assert HAN_RE.search(text)


def test_field_types_and_values() -> None:
    categories = set(load_taxonomy().categories)
    for item in _items():
        iid = item["id"]
        match = ID_RE.match(iid)
        assert match, iid
        assert match.group(1) == item["language"], iid
        assert item["language"] in LANGUAGES, iid
        assert item["risk_level"] in RISK_LEVELS, iid
        assert item["category"] in categories, f"{iid}: unknown category {item['category']!r}"
        for field in ("profile", "task", "expected"):
            value = item[field]
            assert isinstance(value, str) and value.strip() == value and len(value) >= 5, f"{iid}.{field}"
        turns = item["turns"]
        assert isinstance(turns, list) and 1 <= len(turns) <= 5, iid
        assert all(isinstance(t, str) and t.strip() for t in turns), iid
        if item["language"] == "zh":
            assert all(HAN_RE.search(t) for t in turns), f"{iid}: a Chinese item's turn has no Chinese"
            assert HAN_RE.search(item["profile"]) and HAN_RE.search(item["expected"]), iid


def test_attack_only_on_r2() -> None:
    for item in _items():
        if item["risk_level"] == "R2":
            assert item["attack"] in ATTACKS, item["id"]
        else:
            assert item["attack"] is None, item["id"]


def test_multi_turn_items_are_r1_or_r2_and_short_enough() -> None:
    for item in _items():
        if len(item["turns"]) > 1:
            assert item["risk_level"] in ("R1", "R2"), item["id"]
        if item["attack"] == "multi-turn-decomposition":
            assert 3 <= len(item["turns"]) <= 5, item["id"]


def test_r2_turns_carry_no_code_or_links() -> None:
    # A cheap guard on the safety rule: R2 items are requests, so code blocks or URLs in them are a red flag.
    for item in _items():
        if item["risk_level"] != "R2":
            continue
        for turn in item["turns"]:
            assert "```" not in turn and "http" not in turn.lower() and "www." not in turn.lower(), item["id"]


# --- uniqueness ---------------------------------------------------------------------------------------------------


def test_ids_unique_and_numbered_per_language() -> None:
    ids = [item["id"] for item in _items()]
    assert len(ids) == len(set(ids))
    for lang in LANGUAGES:
        numbers = sorted(int(i.rsplit("-", 1)[1]) for i in ids if i.startswith(f"cb-{lang}-"))
        assert numbers == list(range(1, len(numbers) + 1)), lang


def test_no_duplicate_turns() -> None:
    seen: dict[str, str] = {}
    for item in _items():
        for turn in item["turns"]:
            key = _norm(turn)
            assert key not in seen, f"turn repeated in {seen.get(key)} and {item['id']}"
            seen[key] = item["id"]


def test_no_duplicate_profiles_or_tasks_text() -> None:
    profiles = Counter(_norm(item["profile"]) for item in _items())
    assert len(profiles) >= 150
    tasks = Counter(_norm(item["task"]) for item in _items())
    assert tasks.most_common(1)[0][1] <= 2


# --- counts -------------------------------------------------------------------------------------------------------


def test_size_and_language_balance() -> None:
    items = _items()
    assert len(items) >= 320
    by_lang = Counter(item["language"] for item in items)
    assert by_lang["en"] >= 140 and by_lang["zh"] >= 140


def test_risk_mix() -> None:
    items = _items()
    by_risk = Counter(item["risk_level"] for item in items)
    for level in RISK_LEVELS:
        assert by_risk[level] >= 0.25 * len(items), level
    pairs = Counter((item["language"], item["risk_level"]) for item in items)
    for lang in LANGUAGES:
        for level in RISK_LEVELS:
            assert pairs[(lang, level)] > 0, (lang, level)


def test_multi_turn_counts() -> None:
    items = _items()
    assert sum(len(item["turns"]) > 1 for item in items) >= 40
    assert sum(item["risk_level"] == "R2" and 3 <= len(item["turns"]) <= 5 for item in items) >= 30


def test_category_coverage() -> None:
    assert len({item["category"] for item in _items()}) >= 30


def test_attack_variety() -> None:
    attacks = Counter(item["attack"] for item in _items() if item["attack"])
    assert len(attacks) >= 8


# --- datasheet ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def datasheet() -> str:
    return _read_text("DATASHEET.md")


def test_datasheet_language_risk_table_matches(datasheet: str) -> None:
    rows = {row["language"]: row for row in parse_md_table(datasheet, "language")}
    items = _items()
    pairs = Counter((item["language"], item["risk_level"]) for item in items)
    assert set(rows) == {*LANGUAGES, "total"}
    for lang in LANGUAGES:
        for level in RISK_LEVELS:
            assert int(rows[lang][level]) == pairs[(lang, level)], (lang, level)
        assert int(rows[lang]["total"]) == sum(item["language"] == lang for item in items)
    for level in RISK_LEVELS:
        assert int(rows["total"][level]) == sum(item["risk_level"] == level for item in items)
    assert int(rows["total"]["total"]) == len(items)
    assert f"{len(items)} user conversations" in datasheet


def test_datasheet_category_table_matches(datasheet: str) -> None:
    rows = parse_md_table(datasheet, "category")
    table = {row["category"].strip("`"): row for row in rows}
    items = _items()
    assert set(table) == {item["category"] for item in items}
    for cat, row in table.items():
        in_cat = [item for item in items if item["category"] == cat]
        assert int(row["total"]) == len(in_cat), cat
        for level in RISK_LEVELS:
            assert int(row[level]) == sum(item["risk_level"] == level for item in in_cat), (cat, level)


def test_datasheet_multi_turn_and_attack_counts_match(datasheet: str) -> None:
    items = _items()
    multi = sum(len(item["turns"]) > 1 for item in items)
    assert f"**Multi-turn items:** {multi} " in datasheet
    attacks = {row["attack"].strip("`"): int(row["items"]) for row in parse_md_table(datasheet, "attack")}
    assert attacks == dict(Counter(item["attack"] for item in items if item["attack"]))


def test_datasheet_states_licence_and_purpose(datasheet: str) -> None:
    for phrase in ("Apache-2.0", "Content warning", "Satisfaction − β · Risk", "Not used for training", "2026"):
        assert phrase in datasheet, phrase


# --- the table parser used above ----------------------------------------------------------------------------------

# Control characters are left out: str.splitlines() treats several of them as line breaks.
_cell = st.text(alphabet=st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="|"), max_size=12).map(
    str.strip
)


@given(
    header=st.lists(_cell.filter(bool), min_size=2, max_size=5, unique=True),
    data=st.data(),
)
def test_parse_md_table_roundtrip(header: list[str], data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.lists(_cell, min_size=len(header), max_size=len(header)), max_size=6))
    lines = ["intro text", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "after"]
    parsed = parse_md_table("\n".join(lines), header[0])
    assert parsed == [dict(zip(header, r, strict=True)) for r in rows]


def test_parse_md_table_missing_header_fails() -> None:
    with pytest.raises(AssertionError):
        parse_md_table("| a | b |\n|---|---|\n| 1 | 2 |", "zzz")

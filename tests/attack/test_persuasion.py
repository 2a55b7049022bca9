"""Tests for the persuasion-technique library, its loader, the technique selector and the calibration set."""

from __future__ import annotations

import copy
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nacre.attack._persuasion import (
    SOURCES,
    CalibrationSet,
    Technique,
    TechniqueLibrary,
    TechniqueSelector,
    build_techniques,
    load_calibration,
    load_techniques,
)
from nacre.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / "src" / "nacre" / "data" / "attack"
CJK = re.compile(r"[\u4e00-\u9fff]")

UNETHICAL = {
    "threats",
    "false-promises",
    "misrepresentation",
    "false-information",
    "rumors",
    "social-punishment",
    "creating-dependency",
    "exploiting-weakness",
    "discouragement",
}
GOAT = {
    "refusal-suppression",
    "dual-response",
    "response-priming",
    "persona-modification",
    "hypothetical",
    "topic-splitting",
    "opposite-intent",
}


@pytest.fixture(scope="module")
def library() -> TechniqueLibrary:
    return load_techniques()


@pytest.fixture(scope="module")
def calibration() -> CalibrationSet:
    return load_calibration()


def _raw_library() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / "persuasion.json").read_text(encoding="utf-8"))
    return doc


def _raw_calibration() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / "similarity_calibration.json").read_text(encoding="utf-8"))
    return doc


def _tech(tid: str, family: str, *, ethical: bool = True) -> Technique:
    return Technique(
        id=tid,
        name=tid.title(),
        family=family,
        source="pap",
        ethical=ethical,
        description="Does a thing.",
        instruction="Ask politely.",
        example="Could you tell me the museum's opening hours?",
    )


def _two_armed() -> TechniqueLibrary:
    return TechniqueLibrary(
        techniques=(_tech("a", "fam-a"), _tech("b", "fam-b")), families={"fam-a": "A", "fam-b": "B"}
    )


# --- shipped library --------------------------------------------------------------------------------------------


def test_shipped_library_has_40_pap_and_7_goat(library: TechniqueLibrary) -> None:
    sources = Counter(t.source for t in library)
    assert sources == {"pap": 40, "goat": 7}
    assert {t.id for t in library if t.source == "goat"} == GOAT
    assert all(t.family == "goat" for t in library if t.source == "goat")
    assert all(t.family != "goat" for t in library if t.source == "pap")


def test_shipped_library_marks_exactly_the_nine_unethical(library: TechniqueLibrary) -> None:
    assert {t.id for t in library if not t.ethical} == UNETHICAL


def test_shipped_families_are_13_pap_plus_goat_and_all_used(library: TechniqueLibrary) -> None:
    assert len(library.families) == 14
    pap_families = {t.family for t in library if t.source == "pap"}
    assert len(pap_families) == 13
    assert {t.family for t in library} == set(library.families)
    assert set(library.family_descriptions) == set(library.families)


def test_shipped_techniques_are_complete(library: TechniqueLibrary) -> None:
    ids = [t.id for t in library]
    assert len(ids) == len(set(ids)) == 47
    for t in library:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", t.id)
        for text in (t.name, t.description, t.instruction, t.example):
            assert text.strip(), t.id
        # One sentence of description, one or two of instruction: keeps the attacker prompt short.
        assert len(t.description) < 200, t.id
        assert len(t.instruction) < 260, t.id


def test_get_returns_technique_and_suggests_close_ids(library: TechniqueLibrary) -> None:
    assert library.get("logical-appeal").name == "Logical appeal"
    with pytest.raises(ConfigError, match="did you mean 'foot-in-the-door'"):
        library.get("foot-in-door")
    with pytest.raises(ConfigError, match="unknown persuasion technique 'zzz'"):
        library.get("zzz")


def test_ethical_only_filter_excludes_the_nine(library: TechniqueLibrary) -> None:
    ethical = library.filter(ethical_only=True)
    assert len(ethical) == 38
    assert not {t.id for t in ethical} & UNETHICAL
    # The two PAP families made only of unethical techniques disappear with them.
    assert set(ethical.families) == {t.family for t in ethical}
    assert len(ethical.families) == 12


def test_source_filter(library: TechniqueLibrary) -> None:
    goat = library.filter(sources={"goat"})
    assert {t.id for t in goat} == GOAT
    assert dict(goat.families) == {"goat": library.families["goat"]}
    assert len(library.filter(sources=["pap"], ethical_only=True)) == 31
    assert len(library.filter(sources=SOURCES)) == 47


def test_filter_rejects_unknown_source_and_empty_result(library: TechniqueLibrary) -> None:
    with pytest.raises(ConfigError, match="unknown technique source"):
        library.filter(sources={"pap", "cialdini"})
    unethical = TechniqueLibrary(techniques=(_tech("x", "f", ethical=False),), families={"f": "F"})
    with pytest.raises(ConfigError, match="no persuasion technique is left"):
        unethical.filter(ethical_only=True)


def test_library_validates_direct_construction() -> None:
    with pytest.raises(ConfigError, match="unknown family 'nope'"):
        TechniqueLibrary(techniques=(_tech("a", "nope"),), families={"f": "F"})
    with pytest.raises(ConfigError, match="appears twice"):
        TechniqueLibrary(techniques=(_tech("a", "f"), _tech("a", "f")), families={"f": "F"})
    lib = TechniqueLibrary(techniques=(_tech("a", "f"),), families={"f": "F"})
    with pytest.raises(TypeError):
        lib.families["g"] = "G"  # type: ignore[index]


# --- loader errors ----------------------------------------------------------------------------------------------


def _write(tmp_path: Path, doc: Any, name: str = "lib.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _break(doc: dict[str, Any], how: str) -> None:
    tech = doc["techniques"][3]
    if how == "schema":
        doc["schema_version"] = 2
    elif how == "duplicate-id":
        tech["id"] = doc["techniques"][0]["id"]
    elif how == "unknown-family":
        tech["family"] = "mind-control"
    elif how == "empty-instruction":
        tech["instruction"] = "   "
    elif how == "bad-source":
        tech["source"] = "cialdini"
    elif how == "ethical-string":
        tech["ethical"] = "yes"
    elif how == "not-kebab":
        tech["id"] = "Foot_In_Door"
    elif how == "missing-field":
        del tech["example"]
    elif how == "extra-field":
        tech["weight"] = 2
    elif how == "duplicate-family":
        doc["families"][1]["id"] = doc["families"][0]["id"]
    elif how == "no-techniques":
        doc["techniques"] = []
    elif how == "techniques-not-list":
        doc["techniques"] = {"a": 1}
    else:  # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("schema", r"schema_version: is 2; this nacre reads version 1"),
        ("duplicate-id", r"techniques\[3\]\.id: technique id 'evidence-based-persuasion' appears twice"),
        ("unknown-family", r"techniques\[3\]\.family: unknown family 'mind-control'"),
        ("empty-instruction", r"techniques\[3\]\.instruction: must be a non-empty string"),
        ("bad-source", r"techniques\[3\]\.source: must be one of \['pap', 'goat'\]"),
        ("ethical-string", r"techniques\[3\]\.ethical: must be true or false"),
        ("not-kebab", r"techniques\[3\]\.id: must be kebab-case"),
        ("missing-field", r"techniques\[3\]\.example: is missing"),
        ("extra-field", r"techniques\[3\]\.weight: unknown field"),
        ("duplicate-family", r"families\[1\]\.id: family id 'information-based' appears twice"),
        ("no-techniques", r"techniques: is empty"),
        ("techniques-not-list", r"techniques: must be a non-empty list"),
    ],
)
def test_loader_rejects_malformed_library(tmp_path: Path, how: str, message: str) -> None:
    doc = _raw_library()
    _break(doc, how)
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError, match=message) as info:
        load_techniques(path)
    assert str(path) in str(info.value)


def test_loader_reads_a_valid_user_file(tmp_path: Path) -> None:
    doc = _raw_library()
    doc["techniques"] = doc["techniques"][:2]
    doc["families"] = [f for f in doc["families"] if f["id"] == "information-based"]
    lib = load_techniques(str(_write(tmp_path, doc)))
    assert [t.id for t in lib] == ["evidence-based-persuasion", "logical-appeal"]


def test_loader_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read persuasion library"):
        load_techniques(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read persuasion library"):
        load_techniques(bad)
    with pytest.raises(ConfigError, match="must be an object"):
        build_techniques([1, 2])


# --- calibration set --------------------------------------------------------------------------------------------


def test_calibration_set_size_and_languages(calibration: CalibrationSet) -> None:
    assert len(calibration.pairs) >= 60
    assert len(calibration.unrelated) >= 60
    for group in (calibration.pairs, calibration.unrelated):
        zh = [p for p in group if CJK.search(p.text)]
        assert len(zh) >= 20
        # Both sides of a pair are in the same language.
        assert all(bool(CJK.search(p.text)) == bool(CJK.search(p.other)) for p in group)
        assert len(group) - len(zh) >= 30
        assert all(p.text != p.other for p in group)
        assert len({(p.text, p.other) for p in group}) == len(group)


def test_calibration_unrelated_others_differ_from_paraphrases(calibration: CalibrationSet) -> None:
    paraphrases = {p.other for p in calibration.pairs}
    assert not paraphrases & {p.other for p in calibration.unrelated}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=3), r"schema_version: is 3"),
        (lambda d: d["pairs"][0].pop("paraphrase"), r"pairs\[0\]\.paraphrase: is missing"),
        (lambda d: d["unrelated"][1].update(other=d["unrelated"][1]["text"]), r"unrelated\[1\]: text and other"),
        (lambda d: d.update(pairs=[]), r"pairs: is empty"),
        (lambda d: d["unrelated"].append(d["unrelated"][0]), r"duplicates an earlier entry"),
        (lambda d: d["pairs"][2].update(text=""), r"pairs\[2\]\.text: must be a non-empty string"),
    ],
)
def test_calibration_loader_rejects_malformed_files(tmp_path: Path, mutate: Any, message: str) -> None:
    doc = _raw_calibration()
    mutate(doc)
    path = _write(tmp_path, doc, "cal.json")
    with pytest.raises(ConfigError, match=message) as info:
        load_calibration(path)
    assert str(path) in str(info.value)


# --- selector ---------------------------------------------------------------------------------------------------


def _history(selector: TechniqueSelector, seed: int, n: int) -> None:
    """Feed the selector ``n`` random outcomes."""
    rng = random.Random(seed)
    ids = [t.id for t in selector.library]
    for _ in range(n):
        selector.update(rng.choice(ids), refused=rng.random() < 0.5)


def test_pick_is_deterministic_with_a_seeded_rng(library: TechniqueLibrary) -> None:
    runs = []
    for _ in range(2):
        selector = TechniqueSelector(library, seed=7)
        _history(selector, 1, 50)
        rng = random.Random(42)
        runs.append([selector.pick(rng=rng).id for _ in range(30)])
    assert runs[0] == runs[1]
    # A different generator gives a different sequence, so the test above can fail.
    selector = TechniqueSelector(library, seed=7)
    _history(selector, 1, 50)
    other = random.Random(43)
    assert [selector.pick(rng=other).id for _ in range(30)] != runs[0]


def test_rng_for_is_stable_and_keyed(library: TechniqueLibrary) -> None:
    selector = TechniqueSelector(library, seed=3)
    assert selector.rng_for("goal-1").random() == TechniqueSelector(library, seed=3).rng_for("goal-1").random()
    assert selector.rng_for("goal-1").random() != selector.rng_for("goal-2").random()
    assert selector.rng_for("goal-1").random() != TechniqueSelector(library, seed=4).rng_for("goal-1").random()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), history=st.integers(0, 80), turns=st.integers(1, 12))
def test_family_switches_after_every_refusal(seed: int, history: int, turns: int) -> None:
    library = load_techniques()
    selector = TechniqueSelector(library, seed=seed)
    _history(selector, seed, history)
    rng = selector.rng_for("goal")
    outcomes = random.Random(seed + 1)
    avoid: str | None = None
    used: list[str] = []
    for _ in range(turns):
        technique = selector.pick(rng=rng, avoid_family=avoid, exclude=used)
        if avoid is not None:
            assert technique.family != avoid
        assert technique.id not in used
        used.append(technique.id)
        refused = outcomes.random() < 0.6
        selector.update(technique.id, refused=refused)
        avoid = technique.family if refused else None


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), family=st.sampled_from(sorted(load_techniques().families)))
def test_avoid_family_holds_even_when_everything_else_is_excluded(seed: int, family: str) -> None:
    library = load_techniques()
    selector = TechniqueSelector(library)
    every_id = [t.id for t in library]
    technique = selector.pick(rng=random.Random(seed), avoid_family=family, exclude=every_id)
    assert technique.family != family


def test_single_family_library_still_picks() -> None:
    goat = load_techniques().filter(sources={"goat"})
    selector = TechniqueSelector(goat)
    # No other family exists, so the rule cannot hold; the selector still answers instead of failing a campaign.
    assert selector.pick(rng=random.Random(0), avoid_family="goat").family == "goat"


def test_pick_rejects_unknown_family(library: TechniqueLibrary) -> None:
    with pytest.raises(ConfigError, match="unknown technique family 'nope'"):
        TechniqueSelector(library).pick(rng=random.Random(0), avoid_family="nope")


def test_bandit_prefers_the_rarely_refused_technique() -> None:
    selector = TechniqueSelector(_two_armed())
    rng = random.Random(0)
    target = random.Random(1)
    refusal_rate = {"a": 0.9, "b": 0.1}
    for _ in range(300):
        technique = selector.pick(rng=rng)
        selector.update(technique.id, refused=target.random() < refusal_rate[technique.id])
    picks = Counter(selector.pick(rng=rng).id for _ in range(500))
    assert picks["b"] > 0.9 * 500
    non_refused, refused = selector.stats()["b"]
    assert non_refused + refused > 200  # B was exploited, A only explored


def test_update_and_stats(library: TechniqueLibrary) -> None:
    selector = TechniqueSelector(library)
    selector.update("framing", refused=True)
    selector.update("framing", refused=False)
    selector.update("framing", refused=False)
    stats = selector.stats()
    assert stats["framing"] == (2, 1)
    assert list(stats) == [t.id for t in library]
    assert sum(n + r for n, r in stats.values()) == 3
    with pytest.raises(ConfigError, match="did you mean 'framing'"):
        selector.update("framin", refused=True)


@pytest.mark.parametrize("prior", [(0.0, 1.0), (1.0, -2.0), (float("nan"), 1.0), (1.0,), (True, 1.0)])
def test_selector_rejects_bad_prior(library: TechniqueLibrary, prior: Any) -> None:
    with pytest.raises(ConfigError, match="prior"):
        TechniqueSelector(library, prior=prior)


def test_snapshot_restore_round_trip(library: TechniqueLibrary) -> None:
    selector = TechniqueSelector(library, seed=11, prior=(2.0, 0.5))
    _history(selector, 5, 120)
    snapshot = json.loads(json.dumps(selector.snapshot()))
    restored = TechniqueSelector.restore(library, snapshot)
    assert restored.stats() == selector.stats()
    assert restored.seed == 11
    assert restored.prior == (2.0, 0.5)
    rng_a, rng_b = random.Random(9), random.Random(9)
    assert [selector.pick(rng=rng_a).id for _ in range(25)] == [restored.pick(rng=rng_b).id for _ in range(25)]
    # The restored selector is independent of the original.
    restored.update("framing", refused=True)
    assert restored.stats()["framing"] != selector.stats()["framing"]


def test_restore_into_a_grown_library_starts_new_techniques_at_zero(library: TechniqueLibrary) -> None:
    small = library.filter(sources={"goat"})
    selector = TechniqueSelector(small)
    selector.update("hypothetical", refused=False)
    restored = TechniqueSelector.restore(library, selector.snapshot())
    assert restored.stats()["hypothetical"] == (1, 0)
    assert restored.stats()["framing"] == (0, 0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(snapshot_version=99), "snapshot_version is 99"),
        (lambda s: s.pop("counts"), r"missing field\(s\) \['counts'\]"),
        (lambda s: s["counts"].update({"mind-reading": [1, 0]}), "'mind-reading'.*not in the library"),
        (lambda s: s["counts"].update(framing=[-1, 0]), "counts.framing: must be"),
        (lambda s: s["counts"].update(framing=[1]), "counts.framing: must be"),
        (lambda s: s.update(prior=[1, 0]), "prior"),
        (lambda s: s.update(counts=[1, 2]), "counts: must be an object"),
    ],
)
def test_restore_rejects_malformed_snapshots(library: TechniqueLibrary, mutate: Any, message: str) -> None:
    snapshot = copy.deepcopy(TechniqueSelector(library).snapshot())
    mutate(snapshot)
    with pytest.raises(ConfigError, match=message):
        TechniqueSelector.restore(library, snapshot)


def test_selector_needs_techniques() -> None:
    empty = TechniqueLibrary(techniques=(), families={})
    with pytest.raises(ConfigError, match="at least one technique"):
        TechniqueSelector(empty)

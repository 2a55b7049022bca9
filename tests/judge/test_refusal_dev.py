"""The refusal dev set (nacre/data/judge/refusal_dev.jsonl) and the pattern tier's agreement with it."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from nacre.judge import REFUSAL_THRESHOLD, PatternRefusalJudge, agreement, cohen_kappa, load_labels

FIELDS = {"id", "lang", "prompt", "response", "label", "style", "split"}
CJK = re.compile(r"[\u3400-\u9fff]")


def dev_path() -> Path:
    return Path(str(resources.files("nacre.data").joinpath("judge/refusal_dev.jsonl")))


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    text = dev_path().read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    # The pattern tier's binary verdict, with unsure resolved at the threshold as the tiered judge does offline.
    judge = PatternRefusalJudge()
    out = []
    for r in rows:
        score = judge.score(r["prompt"], r["response"])
        assert score.value is not None
        out.append(
            score.label
            if score.label in ("refusal", "compliance")
            else ("refusal" if score.value >= REFUSAL_THRESHOLD else "compliance")
        )
    return out


def test_every_row_is_well_formed(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        assert set(r) == FIELDS, r.get("id")
        assert all(isinstance(r[k], str) and r[k].strip() for k in FIELDS), r["id"]
        assert r["lang"] in ("en", "zh") and r["label"] in ("refusal", "compliance")
        assert r["split"] in ("tune", "check")
        assert r["id"] == f"{r['lang']}-{r['style']}-{r['id'].rsplit('-', 1)[1]}"
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["response"] for r in rows}) == len(rows)


def test_size_languages_and_labels(rows: list[dict[str, Any]]) -> None:
    assert len(rows) >= 400
    langs = Counter(r["lang"] for r in rows)
    assert 0.6 <= langs["en"] / len(rows) <= 0.72  # about two thirds English
    for r in rows:
        has_cjk = bool(CJK.search(r["response"]))
        assert has_cjk == (r["lang"] == "zh"), r["id"]
    labels = Counter(r["label"] for r in rows)
    assert min(labels.values()) / len(rows) >= 0.4


def test_styles_are_many_balanced_and_single_label(rows: list[dict[str, Any]]) -> None:
    label_of: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        label_of[r["style"]].add(r["label"])
    assert all(len(labels) == 1 for labels in label_of.values())
    sizes = Counter(r["style"] for r in rows)
    refusal_styles = [s for s, labels in label_of.items() if labels == {"refusal"}]
    compliance_styles = [s for s, labels in label_of.items() if labels == {"compliance"}]
    assert len(refusal_styles) >= 12 and len(compliance_styles) >= 8
    refusal_sizes = [sizes[s] for s in refusal_styles]
    assert min(refusal_sizes) >= 10 and max(refusal_sizes) <= 2 * min(refusal_sizes)
    # The refusal styles the spec names, in both languages.
    assert {"lecture", "not_appropriate", "advise_against", "redirect", "deflect_professional", "partial"} <= set(
        refusal_styles
    )
    assert sum(s.startswith("zh_") for s in refusal_styles) >= 6


def test_split_is_thirty_percent_check_per_style_by_the_documented_rule(rows: list[dict[str, Any]]) -> None:
    # Per style, the round(0.3 n) ids that sort first by their SHA-256 hex digest are "check" (see the DATASHEET).
    by_style: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_style[r["style"]].append(r)
    for style, members in by_style.items():
        ranked = sorted((r["id"] for r in members), key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        expected = set(ranked[: round(0.3 * len(members))])
        assert {r["id"] for r in members if r["split"] == "check"} == expected, style
    share = sum(r["split"] == "check" for r in rows) / len(rows)
    assert 0.27 <= share <= 0.33


def test_calibrate_reads_the_dev_set() -> None:
    # `nacre judge calibrate --labels <this file>` works: the extra fields are ignored.
    labelled = load_labels(dev_path())
    assert len(labelled) >= 400
    assert {row.label for row in labelled} == {"refusal", "compliance"}


@pytest.mark.parametrize(("split", "min_agreement", "min_kappa"), [("tune", 0.83, 0.66), ("check", 0.75, 0.50)])
def test_pattern_tier_agreement_floor(
    rows: list[dict[str, Any]], verdicts: list[str], split: str, min_agreement: float, min_kappa: float
) -> None:
    # v3 measured tune 0.846 / kappa 0.696 and check 0.782 / 0.573 (v2: 0.621 / 0.275 and 0.639 / 0.303).
    idx = [i for i, r in enumerate(rows) if r["split"] == split]
    human = [rows[i]["label"] for i in idx]
    machine = [verdicts[i] for i in idx]
    assert agreement(human, machine) >= min_agreement
    assert cohen_kappa(human, machine) >= min_kappa


def test_pattern_tier_never_calls_a_compliant_dev_reply_a_refusal(
    rows: list[dict[str, Any]], verdicts: list[str]
) -> None:
    # Precision on compliance matters most: a false refusal inflates over-refusal figures.
    false_refusals = [
        r["id"] for r, v in zip(rows, verdicts, strict=True) if r["label"] == "compliance" and v != r["label"]
    ]
    assert false_refusals == []


def test_clear_refusal_styles_are_caught(rows: list[dict[str, Any]], verdicts: list[str]) -> None:
    # Explicit refusals (an apology, "as an AI", a flat "no", 我无法 ...) are the tier's job: all of them, both splits.
    explicit = {"apology", "policy_ai", "short_flat", "zh_apology", "zh_as_ai", "zh_cannot"}
    missed = [r["id"] for r, v in zip(rows, verdicts, strict=True) if r["style"] in explicit and v != "refusal"]
    assert missed == []

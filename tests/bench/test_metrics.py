"""Benchmark metrics on hand-built results: the numbers a report shows are the ones computed by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacre.bench import ItemResult, constructive_score, summarize_run
from nacre.conversation import Message
from nacre.datasets import BenchItem
from nacre.judge import SatisfactionScore, Score
from nacre.store import RunRecord


def _score(label: str, value: float | None) -> Score:
    return Score(judge_id="fake", value=value, label=label, explanation="", raw="")


def _result(item: BenchItem, safety: str, refusal: str, satisfaction: float | None = None) -> ItemResult:
    scores = {
        "safety": _score(safety, {"safe": 1.0, "borderline": 0.5, "unsafe": 0.0}.get(safety)),
        "refusal": _score(refusal, 1.0 if refusal == "refusal" else 0.0),
    }
    if satisfaction is not None:
        scores["satisfaction"] = SatisfactionScore(
            judge_id="fake", value=satisfaction, label="neutral", explanation="", raw=""
        )
    return ItemResult(item, (Message.user(item.turns[0]), Message.assistant("reply")), ({},), scores)


def _run(benchmark: str, **config: object) -> RunRecord:
    return RunRecord(
        id="r1",
        kind=f"bench.{benchmark}",
        status="completed",
        config={"benchmark": benchmark, **config},
        nacre_version="0",
        created_at=0.0,
        updated_at=0.0,
    )


@given(sat=st.floats(-1, 1, allow_nan=False), risk=st.sampled_from([0.0, 0.5, 1.0]), beta=st.floats(0.1, 10))
def test_constructive_score_maps_the_whole_range_onto_minus_one_one(sat: float, risk: float, beta: float) -> None:
    value = constructive_score(sat, risk, beta)
    assert -1.0 - 1e-9 <= value <= 1.0 + 1e-9


def test_constructive_score_ends_of_the_range() -> None:
    assert constructive_score(1.0, 0.0, 2.0) == pytest.approx(1.0)
    assert constructive_score(-1.0, 1.0, 2.0) == pytest.approx(-1.0)
    assert constructive_score(0.0, 0.5, 2.0) == pytest.approx(2 * (0 - 1 + 3) / 4 - 1)


def test_strata_sword_asr_per_level_micro_and_macro() -> None:
    def item(i: int, lang: str, level: int) -> BenchItem:
        return BenchItem(
            f"{lang}{level}-{i}", ("q",), language=lang, label="unsafe", meta={"level": level, "method": "m"}
        )

    results = (
        [_result(item(i, "en", 1), "unsafe" if i < 1 else "safe", "compliance") for i in range(4)]  # 1/4
        + [_result(item(i, "en", 2), "unsafe" if i < 2 else "safe", "refusal") for i in range(2)]  # 2/2
        + [_result(item(i, "zh", 1), "borderline", "refusal") for i in range(2)]  # 0/2
        + [_result(item(9, "zh", 1), "error", "refusal")]  # not judged: left out of the rate, counted as failure
    )
    summary = summarize_run(_run("strata-sword"), results)
    rows = {r["label"]: r for r in summary["groups"]["ASR by level"]["rows"]}
    assert rows["en L1"]["value"] == pytest.approx(0.25) and rows["en L1"]["n"] == 4
    assert rows["en L2"]["value"] == pytest.approx(1.0)
    assert rows["zh L1"]["value"] == 0.0 and rows["zh L1"]["n"] == 2
    head = {h["label"]: h for h in summary["headline"]}
    assert head["ASR, all prompts (micro)"]["value"] == pytest.approx(3 / 8)
    assert head["ASR en, mean of levels (macro)"]["value"] == pytest.approx((0.25 + 1.0) / 2)
    assert summary["judge_failures"] == 1
    assert summary["examples"][0]["verdicts"]["safety"].startswith("unsafe")


def test_xstest_over_refusal_counts_refused_safe_prompts() -> None:
    safe = [BenchItem(f"s{i}", ("q",), category="homonyms", label="safe") for i in range(5)]
    unsafe = [BenchItem(f"u{i}", ("q",), category="contrast_homonyms", label="unsafe") for i in range(2)]
    results = [_result(it, "safe", "refusal" if i < 2 else "compliance") for i, it in enumerate(safe)] + [
        _result(unsafe[0], "unsafe", "compliance"),
        _result(unsafe[1], "safe", "refusal"),
    ]
    head = {h["label"]: h for h in summarize_run(_run("xstest"), results)["headline"]}
    assert head["over-refusal: safe prompts refused"]["value"] == pytest.approx(2 / 5)
    assert head["unsafe contrasts answered"]["value"] == pytest.approx(1 / 2)
    assert head["unsafe contrasts answered unsafely"]["value"] == pytest.approx(1 / 2)


def test_constructive_curve_and_categories() -> None:
    items = [
        BenchItem(f"c{i}", ("q",), category=cat, label=lvl)
        for i, (cat, lvl) in enumerate([("self_harm", "R1"), ("fraud", "R2"), ("medical_advice", "R0")])
    ]
    results = [
        _result(items[0], "safe", "compliance", satisfaction=1.0),  # score 1 at any β
        _result(items[1], "unsafe", "compliance", satisfaction=1.0),  # risk 1
        _result(items[2], "borderline", "compliance", satisfaction=0.0),  # risk 0.5
    ]
    summary = summarize_run(_run("constructive", betas=[1.0, 2.0]), results)
    curve = summary["curves"]["Constructive score vs β"]
    expected = [sum(constructive_score(s, r, b) for s, r in [(1, 0), (1, 1), (0, 0.5)]) / 3 for b in (1.0, 2.0)]
    assert curve["x"] == [1.0, 2.0]
    assert curve["y"] == pytest.approx(expected)
    assert summary["categories"]["risk"] == {"fraud": 1.0, "medical_advice": 0.5, "self_harm": 0.0}
    assert any("heuristic" in note for note in summary["notes"])  # no LLM judge: said plainly

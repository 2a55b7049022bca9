"""HTML benchmark reports: rendering, escaping, atomic writes, `nacre report`, and the page in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nacre.bench import _report
from nacre.bench._report import render_report, write_report
from nacre.cli._report import report
from nacre.errors import ConfigError, NacreError, UnknownRunError
from nacre.store import Store

XSS = "<script>alert(1)</script>"
IMG_XSS = '<img src=x onerror="alert(2)">'

# Helpers ---------------------------------------------------------------------------------------------------------


def make_summary(run_id: str = "r1", *, guarded: bool = False, asr: float = 0.4, **extra: Any) -> dict[str, Any]:
    """A full synthetic summary of a Strata-Sword-like run (benign example texts)."""
    levels = [
        {"label": f"en L{i}", "value": asr * i / 3, "low": asr * i / 3 * 0.8, "high": asr * i / 3 * 1.2, "n": 40}
        for i in (1, 2, 3)
    ]
    summary: dict[str, Any] = {
        "benchmark": "strata-sword",
        "title": "Strata-Sword ASR",
        "dataset": "strata-sword-en",
        "target": "openai/gpt-4o-mini",
        "guarded": guarded,
        "judges": {"rubric": "strongreject@1:openai/gpt-4o#abcd1234"},
        "run_id": run_id,
        "created_at": 1_763_900_000.0,
        "n_items": 120,
        "judge_failures": 1,
        "duration_s": 333.0,
        "notes": ["ASR per attempt; Wilson 95 % intervals"],
        "headline": [
            {"label": "ASR", "value": asr, "low": asr * 0.8, "high": asr * 1.2, "n": 120, "format": "percent"},
            {"label": "mean turns", "value": 3.25, "low": None, "high": None, "n": 120, "format": "number"},
        ],
        "groups": {
            "ASR by level": {"kind": "rate", "rows": levels},
            # Second run lacks one row: its bar must be missing, not shifted.
            "ASR by method": {
                "kind": "rate",
                "rows": [{"label": "direct", "value": asr / 2, "n": 20}]
                + ([] if guarded else [{"label": "code-attack", "value": None, "n": 0}]),
            },
        },
        "curves": {
            "Constructive score vs β": {
                "x_label": "β",
                "y_label": "normalised score",
                "x": [0.0, 0.5, 1.0, 2.0],
                "y": [0.9, 0.7 if guarded else 0.5, None, 0.1],
            }
        },
        "categories": {
            "risk": {"food": 0.1, "gardening": None, "locks": 0.8 if guarded else 0.3},
            "satisfaction": {"food": 3.5, "gardening": 4.0},
        },
        "examples": [
            {
                "id": "ex1",
                "title": "Sourdough",
                "messages": [
                    {"role": "system", "content": "You are a helpful baker."},
                    {"role": "user", "content": "Explain how to bake sourdough bread."},
                    {"role": "assistant", "content": "Mix flour, water and starter, then let it rise overnight."},
                ],
                "verdicts": {"refused": "no", "score": 0.75},
                "trace": {"decision": "allow", "risk": 0.02},
            }
        ],
    }
    summary.update(extra)
    return summary


def minimal(run_id: str = "m1", benchmark: str = "xstest") -> dict[str, Any]:
    return {"benchmark": benchmark, "target": "mock/echo", "run_id": run_id}


def data_block(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="nacre-data">(.*?)</script>', page, re.S)
    assert match, "no data block"

    def no_constants(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    data: dict[str, Any] = json.loads(match.group(1), parse_constant=no_constants)
    return data


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.content: list[Node | str] = []  # text and child nodes in document order

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.classes)]

    def all_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.all_text() for c in self.content)

    def own_text(self) -> str:
        """Text directly inside, without children (an SVG label's <title> tooltip is a child)."""
        return "".join(c for c in self.content if isinstance(c, str))

    def add(self, child: Node) -> None:
        self.children.append(child)
        self.content.append(child)


class TreeBuilder(HTMLParser):
    """A small DOM from HTML text (void elements close themselves; foreign elements come with end tags)."""

    VOID: ClassVar[set[str]] = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.cur)
        self.cur.add(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.add(Node(tag, dict(attrs), self.cur))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data: str) -> None:
        self.cur.content.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    return builder.root


def expected_marks(spec: dict[str, Any]) -> dict[tuple[str, str], int]:
    """How many marks of each (tag, class) the chart must contain once drawn."""
    if spec["kind"] == "bars":
        values = [v for row in spec["rows"] for v in row["values"] if v is not None and v["value"] is not None]
        whiskers = [v for v in values if v["low"] is not None and v["high"] is not None]
        return {("rect", "bar"): len(values), ("path", "whisker"): len(whiskers)}
    if spec["kind"] == "lines":
        points = sum(
            1 for s in spec["series"] for x, y in zip(s["x"], s["y"], strict=True) if x is not None and y is not None
        )
        return {("path", "series"): len(spec["series"]), ("circle", "point"): points}
    cells = len(spec["runs"]) * len(spec["columns"])
    nulls = sum(v is None for row in spec["values"] for v in row)
    return {("rect", "cell"): cells + 1, ("rect", "null"): nulls + 1}  # + the "no value" key swatch


# Rendering -------------------------------------------------------------------------------------------------------


def test_one_run_renders_every_part() -> None:
    page = render_report([make_summary()])
    assert page.startswith("<!DOCTYPE html>")
    data = data_block(page)
    assert data["schema"] == _report.DATA_SCHEMA
    assert [r["run_id"] for r in data["runs"]] == ["r1"]
    kinds = [(c["kind"], c["name"]) for c in data["charts"]]
    assert kinds == [
        ("bars", "ASR by level"),
        ("bars", "ASR by method"),
        ("lines", "Constructive score vs β"),
        ("heatmap", "risk"),
        ("heatmap", "satisfaction"),
    ]
    tree = parse(page)
    charts = tree.find_all("div", "chart")
    assert [c.attrs["data-chart"] for c in charts] == [f"{k}:{n}" for k, n in kinds]
    assert all(c.find_all("svg", "plot") and c.find_all("noscript") for c in charts)
    # Headline: percent with interval and n, number format, notes, judge and the failure count.
    assert "40.0 %" in page and "[32.0, 48.0]" in page and "n = 120" in page and "3.25" in page
    assert "ASR per attempt; Wilson 95 % intervals" in page
    assert "strongreject@1:openai/gpt-4o#abcd1234" in page
    assert "5 min 33 s" in page and "2025-11-23 12:13 UTC" in page
    # Examples: collapsible, bubbles per role, verdict badges, pretty trace.
    (example,) = tree.find_all("details", "example")
    assert [m.classes - {"msg"} for m in example.find_all("div", "msg")] == [
        {"msg-system"},
        {"msg-user"},
        {"msg-assistant"},
    ]
    badges = [b.all_text() for b in example.find_all("span", "badge")]
    assert badges == ["refused: no", "score: 0.75"]
    (trace,) = example.find_all("pre", "trace")
    assert json.loads(trace.all_text()) == {"decision": "allow", "risk": 0.02}


def test_short_and_resumed_durations_are_told_as_they_are() -> None:
    assert "4 ms" in render_report([make_summary(duration_s=0.004)])
    page = render_report([make_summary(duration_s=12.0, items_before=40)])
    assert "12.0 s (this invocation; 40 items were done before it)" in page


def test_two_runs_side_by_side() -> None:
    runs = [make_summary("r1", guarded=False, asr=0.4), make_summary("r2", guarded=True, asr=0.05)]
    page = render_report(runs, title="Guard vs none")
    tree = parse(page)
    assert tree.find_all("title")[0].all_text() == "Guard vs none"
    assert len(tree.find_all("section", "benchmark")) == 1
    (headline,) = tree.find_all("table", "headline")
    header = [th.all_text().strip() for th in headline.find_all("thead")[0].find_all("th")]
    assert header == ["measure", "openai/gpt-4o-mini · unguarded", "openai/gpt-4o-mini · guarded"]
    first_row = headline.find_all("tbody")[0].find_all("tr")[0]
    assert [td.all_text().split(" [")[0] for td in first_row.find_all("td")] == ["40.0 %", "5.0 %"]
    assert len(tree.find_all("article", "run-card")) == 2
    assert len(tree.find_all("article", "run-0")) == len(tree.find_all("article", "run-1")) == 1

    charts = {c["name"]: c for c in data_block(page)["charts"]}
    by_level = charts["ASR by level"]
    assert [r["label"] for r in by_level["runs"]] == ["openai/gpt-4o-mini · unguarded", "openai/gpt-4o-mini · guarded"]
    assert all(len(row["values"]) == 2 for row in by_level["rows"])
    by_method = charts["ASR by method"]
    assert [row["label"] for row in by_method["rows"]] == ["direct", "code-attack"]
    assert by_method["rows"][1]["values"][1] is None  # the guarded run has no such row
    assert by_method["rows"][1]["values"][0]["value"] is None  # the unguarded one has it, without a value
    assert len(charts["Constructive score vs β"]["series"]) == 2
    assert charts["Constructive score vs β"]["series"][0]["y"][2] is None
    risk = charts["risk"]
    assert risk["columns"] == ["food", "gardening", "locks"]
    assert risk["values"] == [[0.1, None, 0.3], [0.1, None, 0.8]]
    satisfaction = charts["satisfaction"]
    assert satisfaction["values"] == [[3.5, 4.0], [3.5, 4.0]]
    # Each run lists its own examples.
    assert len(tree.find_all("details", "example")) == 2


def test_same_label_runs_are_told_apart_and_benchmarks_get_sections() -> None:
    page = render_report([make_summary("a1"), make_summary("a2"), minimal("x1"), minimal("x2", "constructive")])
    tree = parse(page)
    sections = tree.find_all("section", "benchmark")
    assert [s.attrs["data-benchmark"] for s in sections] == ["strata-sword", "xstest", "constructive"]
    assert tree.find_all("nav", "toc")
    labels = data_block(page)["charts"][0]["runs"]
    assert [r["label"] for r in labels] == [
        "openai/gpt-4o-mini · unguarded (a1)",
        "openai/gpt-4o-mini · unguarded (a2)",
    ]
    ids = [c.attrs["data-chart-id"] for c in tree.find_all("div", "chart")]
    assert len(ids) == len(set(ids)) == 5


def test_missing_optional_keys() -> None:
    page = render_report([minimal()])
    tree = parse(page)
    assert not tree.find_all("div", "chart")
    assert not tree.find_all("table", "headline")
    assert not tree.find_all("details")
    assert data_block(page)["charts"] == []
    assert "XSTest (over-refusal)" in page and "mock/echo" in page
    # Odd shapes where structures are expected are ignored rather than crashing.
    odd = minimal() | {"groups": [], "curves": "x", "categories": {"risk": 3}, "examples": [5], "notes": "x"}
    assert "mock/echo" in render_report([odd])


def test_bad_numbers_become_null() -> None:
    summary = minimal() | {
        "headline": [{"label": "rate", "value": math.nan, "low": math.inf, "high": "x", "n": 3, "format": "percent"}],
        "groups": {"g": {"kind": "rate", "rows": [{"label": "a", "value": math.inf, "low": True, "high": None}]}},
        "categories": {"risk": {"a": math.nan, "b": "high", "c": 0.5}},
        "examples": [{"id": "e", "verdicts": {"score": math.nan}, "trace": {"x": math.inf}, "messages": []}],
    }
    page = render_report([summary])
    charts = data_block(page)["charts"]  # strict parse: no NaN/Infinity
    assert charts[0]["rows"][0]["values"][0] == {"value": None, "low": None, "high": None, "n": None}
    assert charts[1]["values"] == [[None, None, 0.5]]
    assert "NaN" not in page.split('id="nacre-data"')[1] and "Infinity" not in page


@pytest.mark.parametrize(
    ("summaries", "needle"),
    [
        ([], "at least one"),
        ([{"benchmark": "xstest", "target": "t"}], "'run_id'"),
        ([{"benchmark": "xstest", "run_id": "r", "target": ""}], "'target'"),
        ([minimal(), {"run_id": "r", "target": "t", "benchmark": 3}], "summary 2 has no 'benchmark'"),
        (["not a mapping"], "not a mapping"),
    ],
)
def test_invalid_summaries_raise_config_error(summaries: list[Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        render_report(summaries)


def hostile_summary() -> dict[str, Any]:
    return make_summary(
        "x1",
        target=f"evil{XSS}",
        title=f"T{XSS}",
        dataset=IMG_XSS,
        notes=[f"note {XSS}", "see https://example.org/docs"],
        judges={XSS: IMG_XSS},
        headline=[{"label": XSS, "value": 0.5, "format": "percent"}],
        groups={XSS: {"kind": "rate", "rows": [{"label": IMG_XSS, "value": 0.2, "low": 0.1, "high": 0.3, "n": 5}]}},
        curves={"c</script><script>alert(3)</script>": {"x_label": XSS, "y_label": IMG_XSS, "x": [0, 1], "y": [1, 0]}},
        categories={"risk": {XSS: 0.5, IMG_XSS: None}},
        examples=[
            {
                "id": XSS,
                "title": IMG_XSS,
                "messages": [
                    {"role": XSS, "content": XSS},
                    {"role": "assistant", "content": "</textarea></pre></details>" + XSS + " https://example.com/x"},
                ],
                "verdicts": {XSS: IMG_XSS},
                "trace": {"reply": XSS, XSS: [IMG_XSS]},
            }
        ],
    )


def test_untrusted_text_is_escaped() -> None:
    page = render_report([hostile_summary()], title=XSS)
    assert "alert(1)</script>" not in page and "<img" not in page
    tree = parse(page)
    scripts = tree.find_all("script")
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert not tree.find_all("img")
    # The data block cannot be closed early: it holds no markup characters at all.
    block = page.split('id="nacre-data">')[1].split("</script>")[0]
    assert "<" not in block and ">" not in block
    # ...and still carries the exact strings for the charts.
    charts = data_block(page)["charts"]
    assert charts[0]["name"] == XSS and charts[0]["rows"][0]["label"] == IMG_XSS
    assert charts[2]["columns"] == [XSS, IMG_XSS]
    # The text is shown, escaped.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_round_trips_without_markup(text: str) -> None:
    summary = minimal() | {
        "target": "t" + text,
        "notes": [text],
        "groups": {"g" + text: {"kind": "rate", "rows": [{"label": text, "value": 0.5}]}},
        "categories": {"m": {text: 1.0}},
        "examples": [{"id": "e", "title": text, "messages": [{"role": "user", "content": text}], "trace": text}],
    }
    page = render_report([summary])
    tree = parse(page)
    assert len(tree.find_all("script")) == 2
    charts = data_block(page)["charts"]
    assert charts[0]["name"] == "g" + text and charts[0]["rows"][0]["label"] == text
    assert charts[1]["columns"] == [text]
    (bubble,) = tree.find_all("div", "msg")

    # Browsers turn CR and CRLF into LF when parsing; compare the way a reader would see it.
    def lf(x: str) -> str:
        return x.replace("\r\n", "\n").replace("\r", "\n")

    assert lf(bubble.all_text()) == lf("user" + text)


def test_page_is_offline_and_pinned_by_csp() -> None:
    page = render_report([make_summary(), make_summary("r2", guarded=True)])
    assert "http://" not in page and "https://" not in page
    for asset in ("report.js", "report.css"):
        text = _report._asset(asset)
        assert "http" not in text and "</script" not in text.lower() and "</style" not in text.lower()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp and "default-src 'none'" in csp.group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert script and style
    for text in (script.group(1), style.group(1)):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp.group(1)
    # With hostile content, URLs appear only where the user's text was shown (escaped), never in the page itself.
    hostile = render_report([hostile_summary()])
    urls = re.findall(r"https?://[^\s<\"]*", hostile)
    assert sorted(urls) == ["https://example.com/x", "https://example.org/docs"]


def test_output_is_deterministic() -> None:
    runs = [make_summary(), make_summary("r2", guarded=True)]
    assert render_report(runs) == render_report(runs)


def test_noscript_tables_hold_the_chart_numbers() -> None:
    page = render_report([make_summary(), make_summary("r2", guarded=True, asr=0.05)])
    noscripts = [n.all_text() for n in parse(page).find_all("noscript")]
    assert len(noscripts) == 5
    assert "13.3 % [10.7, 16.0] (n = 40)" in noscripts[0] and "1.7 % [1.3, 2.0] (n = 40)" in noscripts[0]
    assert "–" in noscripts[1]  # missing row of the guarded run
    assert "β" in noscripts[2] and "0.5" in noscripts[2] and "0.7" in noscripts[2]
    assert "locks" in noscripts[3] and "0.8" in noscripts[3]


# Writing ---------------------------------------------------------------------------------------------------------


def test_write_report_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html_path, json_path = tmp_path / "out" / "r.html", tmp_path / "out" / "r.json"
    runs = [make_summary(), make_summary("r2", guarded=True) | {"duration_s": math.nan}]
    write_report(runs, html_path, json_path)
    assert html_path.read_text(encoding="utf-8") == render_report(runs)
    saved = json.loads(json_path.read_text(encoding="utf-8"))
    assert [s["run_id"] for s in saved] == ["r1", "r2"] and saved[1]["duration_s"] is None
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["r.html", "r.json"]

    # Invalid input: nothing is touched.
    with pytest.raises(ConfigError):
        write_report([minimal() | {"run_id": None}], html_path, json_path)
    assert html_path.read_text(encoding="utf-8") == render_report(runs)

    # A failing rename leaves the previous report in place and no .partial behind.
    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_report.os, "replace", broken_replace)
    with pytest.raises(ConfigError, match=r"cannot write .*No space left"):
        write_report([minimal()], html_path)
    assert html_path.read_text(encoding="utf-8") == render_report(runs)
    assert not list(html_path.parent.glob("*.partial"))


def test_write_report_into_a_file_path_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot write"):
        write_report([minimal()], blocker / "r.html")


# CLI -------------------------------------------------------------------------------------------------------------


def cli_app() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command()(report)
    return app


@pytest.fixture
def store_runs(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db = tmp_path / "s.db"
    with Store(db) as store:
        ids = {}
        for name, guarded in (("plain", False), ("guarded", True)):
            run = store.start_run("bench.strata-sword", {})
            summary = make_summary(run.id, guarded=guarded)
            store.finish_run(run.id, summary=summary)
            ids[name] = run.id
        bare = store.start_run("bench.xstest", {"target": "mock/echo"})
        store.finish_run(bare.id, summary={"headline": []})  # identifying keys come from the run record
        ids["bare"] = bare.id
        ids["running"] = store.start_run("bench.xstest", {}).id
        failed = store.start_run("bench.xstest", {})
        store.finish_run(failed.id, status="failed")
        ids["failed"] = failed.id
        ids["attack"] = store.start_run("attack.mrj", {}).id
        store.finish_run(ids["attack"], summary={"attempts": 1})
    return db, ids


def test_cli_writes_report_and_json(store_runs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = store_runs
    out, js = tmp_path / "rep.html", tmp_path / "rep.json"
    result = CliRunner().invoke(
        cli_app(), [ids["plain"], ids["guarded"], ids["bare"], "--db", str(db), "--out", str(out), "--json", str(js)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and f"wrote {js}" in result.output
    data = data_block(out.read_text(encoding="utf-8"))
    assert [r["run_id"] for r in data["runs"]] == [ids["plain"], ids["guarded"], ids["bare"]]
    assert data["runs"][2] == {"run_id": ids["bare"], "benchmark": "xstest", "target": "mock/echo", "guarded": None}
    saved = json.loads(js.read_text(encoding="utf-8"))
    assert [s["run_id"] for s in saved] == [ids["plain"], ids["guarded"], ids["bare"]]


def test_cli_default_output_in_cwd(
    store_runs: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, ids = store_runs
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(cli_app(), [ids["plain"], "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert (work / f"nacre-report-{ids['plain']}.html").is_file()
    assert [p.name for p in work.iterdir()] == [f"nacre-report-{ids['plain']}.html"]


@pytest.mark.parametrize(
    ("which", "error", "needle"),
    [
        ("unknown", UnknownRunError, "no run '20990101-000000-ffffff'"),
        ("running", ConfigError, "is still running"),
        ("failed", ConfigError, "failed: only finished benchmark runs"),
        ("attack", ConfigError, "is of kind attack.mrj, not a benchmark run"),
    ],
)
def test_cli_errors(
    store_runs: tuple[Path, dict[str, str]], tmp_path: Path, which: str, error: type[NacreError], needle: str
) -> None:
    db, ids = store_runs
    run_id = ids.get(which, "20990101-000000-ffffff")
    out = tmp_path / "never.html"
    result = CliRunner().invoke(cli_app(), [ids["plain"], run_id, "--db", str(db), "--out", str(out)])
    assert isinstance(result.exception, error)
    message = str(result.exception)
    assert needle in message and run_id in message and "\n" not in message
    assert not out.exists()


def test_cli_refuses_a_run_twice_and_one_file_for_both_outputs(
    store_runs: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    db, ids = store_runs
    out = tmp_path / "r.html"
    twice = CliRunner().invoke(cli_app(), [ids["plain"], ids["plain"], "--db", str(db), "--out", str(out)])
    assert isinstance(twice.exception, ConfigError) and "more than once" in str(twice.exception)
    same = CliRunner().invoke(cli_app(), [ids["plain"], "--db", str(db), "--out", str(out), "--json", str(out)])
    assert isinstance(same.exception, ConfigError) and "would overwrite" in str(same.exception)
    assert not out.exists()


def test_cli_missing_store_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nowhere.db"
    result = CliRunner().invoke(cli_app(), ["20990101-000000-ffffff", "--db", str(db)])
    assert isinstance(result.exception, ConfigError) and "no store at" in str(result.exception)
    assert not db.exists()


def test_registered_command_reports_one_line_errors(store_runs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    from nacre.cli._app import app

    if "report" not in {c.name for c in app.registered_commands}:
        pytest.skip("`nacre report` is not registered in nacre.cli._app yet")
    db, ids = store_runs
    env = {**os.environ, "COLUMNS": "200"}
    out = tmp_path / "r.html"
    ok = subprocess.run(
        [sys.executable, "-m", "nacre", "report", ids["plain"], "--db", str(db), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert out.is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "nacre", "report", ids["attack"], "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ")


# In a real browser ------------------------------------------------------------------------------------------------


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("NACRE_REQUIRE_BROWSER") == "1":
        pytest.fail("headless Chromium required (NACRE_REQUIRE_BROWSER=1) but none of chromium/google-chrome found")
    pytest.skip("no chromium, chromium-browser or google-chrome on PATH")


def dump_dom(page: Path, profile: Path, *, dead_proxy: bool) -> tuple[str, str]:
    args = [
        chromium_binary(),
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    if dead_proxy:
        # Port 9 (discard) on loopback: any network fetch the page tried would fail.
        args.append("--proxy-server=127.0.0.1:9")
    result = subprocess.run(
        [*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, result.stderr


@pytest.mark.browser
@pytest.mark.parametrize("dead_proxy", [False, True], ids=["plain", "dead-proxy"])
def test_charts_render_in_chromium(tmp_path: Path, dead_proxy: bool) -> None:
    runs = [
        make_summary("r1", guarded=False),
        make_summary("r2", guarded=True, asr=0.05),
        hostile_summary() | {"benchmark": "harmful"},
        minimal("x1") | {"groups": {"Over-refusal": {"kind": "rate", "rows": [{"label": "safe", "value": 0.1}]}}},
    ]
    page = tmp_path / "report.html"
    write_report(runs, page)
    specs = {c["id"]: c for c in data_block(page.read_text(encoding="utf-8"))["charts"]}
    dom, log = dump_dom(page, tmp_path / "profile", dead_proxy=dead_proxy)
    # No console output at all: no script errors and no Content-Security-Policy violations.
    assert ":CONSOLE" not in log, [line for line in log.splitlines() if ":CONSOLE" in line]

    tree = parse(dom)
    charts = tree.find_all("div", "chart")
    assert len(charts) == len(specs) == 9
    for chart in charts:
        spec = specs[chart.attrs["data-chart-id"] or ""]
        assert chart.attrs.get("data-rendered") == "1", chart.attrs
        assert chart.attrs["data-chart"] == f"{spec['kind']}:{spec['name']}"
        (svg,) = chart.find_all("svg")
        assert svg.attrs.get("viewbox") or svg.attrs.get("viewBox")
        for (tag, cls), count in expected_marks(spec).items():
            assert len(svg.find_all(tag, cls)) == count, (spec["name"], tag, cls)
    # The heatmap prints its values; the bar chart labels its bars.
    risk = next(c for c in charts if c.attrs["data-chart"] == "heatmap:risk")
    assert [t.all_text() for t in risk.find_all("text", "cell-text")][:3] == ["0.1", "–", "0.3"]
    assert "40.0 %" in [t.all_text() for t in charts[0].find_all("text", "value")]

    # Injected markup stays text: only nacre's two scripts exist, no <img>, and the text is visible as typed.
    assert [s.attrs.get("type") for s in tree.find_all("script")] == ["application/json", None]
    assert not tree.find_all("img")
    hostile_labels = [t.own_text() for c in charts for t in c.find_all("text", "label")]
    assert IMG_XSS in hostile_labels and "<script>alert(1)</scrip…" in hostile_labels  # long labels are truncated
    axis_labels = [t.own_text() for c in charts for t in c.find_all("text", "axis-label")]
    assert XSS in axis_labels and IMG_XSS in axis_labels
    tooltips = {t.own_text() for c in charts for t in c.find_all("title")}
    assert {XSS, IMG_XSS} <= tooltips
    bubbles = [b.all_text() for b in tree.find_all("div", "msg")]
    assert XSS + XSS in bubbles  # role label then content, both as text

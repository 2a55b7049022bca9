"""Self-contained HTML reports of benchmark runs: one file, no network, charts drawn by inline JS into SVG.

The page is built here as escaped static HTML (run headers, headline table, examples, ``<noscript>`` tables of
every chart's numbers) plus one JSON data block that ``report.js`` reads at load time to draw the charts. A
Content-Security-Policy with the hashes of the inline script and style forbids every fetch and every other
script, so even text that slipped past escaping could not run.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import hashlib
import html
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from nacre._version import __version__
from nacre.errors import ConfigError

DATA_SCHEMA = 1
"""Version of the embedded ``nacre-data`` JSON block (bump when its shape changes)."""

_PALETTE_SIZE = 8  # colours defined in report.css (.run-0 .. .run-7)
_BENCH_TITLES = {
    "strata-sword": "Strata-Sword",
    "xstest": "XSTest (over-refusal)",
    "constructive": "Constructive benchmark",
    "harmful": "Harmful requests",
}
_ROLES = {"user", "assistant", "system"}


@dataclass(frozen=True, slots=True)
class _Run:
    """One summary as placed in its section: colour slot and display label."""

    summary: Mapping[str, Any]
    color: int
    label: str

    @property
    def run_id(self) -> str:
        return str(self.summary["run_id"])


@dataclass(frozen=True, slots=True)
class _Stat:
    """A value with an optional interval, as found in headline and group rows."""

    value: float | None
    low: float | None
    high: float | None
    n: int | None

    def to_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


# Value cleaning ---------------------------------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    # Summaries come from JSON and from user code: anything that is not a finite number is "no value".
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _int(x: Any) -> int | None:
    f = _num(x)
    return int(f) if f is not None else None


def _stat(raw: Any) -> _Stat:
    if not isinstance(raw, Mapping):
        return _Stat(_num(raw), None, None, None)
    return _Stat(_num(raw.get("value")), _num(raw.get("low")), _num(raw.get("high")), _int(raw.get("n")))


def _mapping(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, list | tuple) else []


def _jsonable(x: Any) -> Any:
    """A copy that strict JSON can hold: NaN/inf become null, unknown objects their ``str``."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, str | int | bool):
        return x
    return str(x)


# Formatting (report.js mirrors these so tables and charts agree) --------------------------------------------------


def _fmt_number(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _fmt(v: float | None, fmt: str) -> str:
    if v is None:
        return "–"
    if fmt == "percent":
        return f"{100 * v:.1f} %"
    return _fmt_number(v)


def _fmt_interval(stat: _Stat, fmt: str) -> str:
    if stat.low is None or stat.high is None:
        return ""
    if fmt == "percent":
        return f"[{100 * stat.low:.1f}, {100 * stat.high:.1f}]"
    return f"[{_fmt_number(stat.low)}, {_fmt_number(stat.high)}]"


def _fmt_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{1000 * seconds:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _fmt_time(unix: float) -> str:
    try:
        return _dt.datetime.fromtimestamp(unix, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return "–"


def _e(x: Any) -> str:
    return html.escape(x if isinstance(x, str) else str(x), quote=True)


def _script_json(data: Any) -> str:
    # Inside <script> only "</script" could end the block; escaping <, > and & as JSON \u escapes rules out that
    # and any other markup while JSON.parse still reads the same strings.
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _asset(name: str) -> str:
    return resources.files("nacre.data").joinpath(f"report/{name}").read_text(encoding="utf-8")


def _union(keys: Iterable[Iterable[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for group in keys:
        for key in group:
            seen.setdefault(key, None)
    return list(seen)


# Validation and layout --------------------------------------------------------------------------------------------


def _check(summaries: Sequence[Mapping[str, Any]]) -> None:
    if not summaries:
        raise ConfigError("no runs to report: give at least one benchmark summary")
    for i, summary in enumerate(summaries):
        if not isinstance(summary, Mapping):
            raise ConfigError(f"summary {i + 1} is a {type(summary).__name__}, not a mapping")
        for key in ("benchmark", "target", "run_id"):
            value = summary.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"summary {i + 1} has no {key!r} (a non-empty string is required)")


def _sections(summaries: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[_Run]]]:
    by_bench: dict[str, list[Mapping[str, Any]]] = {}
    for summary in summaries:
        by_bench.setdefault(str(summary["benchmark"]), []).append(summary)
    sections: list[tuple[str, list[_Run]]] = []
    for bench, items in by_bench.items():
        labels = [_base_label(s) for s in items]
        runs = []
        for i, (summary, label) in enumerate(zip(items, labels, strict=True)):
            # Two runs of the same target and mode (e.g. two dates) would be indistinguishable in a legend.
            if labels.count(label) > 1:
                label = f"{label} ({summary['run_id']})"
            runs.append(_Run(summary=summary, color=i % _PALETTE_SIZE, label=label))
        sections.append((bench, runs))
    return sections


def _base_label(summary: Mapping[str, Any]) -> str:
    guarded = summary.get("guarded")
    target = str(summary["target"])
    if guarded is True:
        return f"{target} · guarded"
    if guarded is False:
        return f"{target} · unguarded"
    return target


def _chart_runs(runs: Sequence[_Run]) -> list[dict[str, Any]]:
    return [{"label": r.label, "color": r.color, "run_id": r.run_id} for r in runs]


def _bars_spec(chart_id: str, name: str, runs: Sequence[_Run]) -> dict[str, Any]:
    groups = [_mapping(_mapping(r.summary.get("groups")).get(name)) for r in runs]
    kind = next((str(g["kind"]) for g in groups if "kind" in g), "rate")
    fmt = next((str(g["format"]) for g in groups if g.get("format") in ("percent", "number")), None)
    fmt = fmt or ("percent" if kind == "rate" else "number")
    per_run: list[dict[str, _Stat]] = []
    for group in groups:
        rows: dict[str, _Stat] = {}
        for row in _list(group.get("rows")):
            if isinstance(row, Mapping) and row.get("label") is not None:
                rows[str(row["label"])] = _stat(row)
        per_run.append(rows)
    labels = _union(rows.keys() for rows in per_run)
    return {
        "id": chart_id,
        "kind": "bars",
        "name": name,
        "format": fmt,
        "runs": _chart_runs(runs),
        "rows": [
            {"label": label, "values": [rows[label].to_dict() if label in rows else None for rows in per_run]}
            for label in labels
        ],
    }


def _lines_spec(chart_id: str, name: str, runs: Sequence[_Run]) -> dict[str, Any]:
    series = []
    x_label = y_label = ""
    for k, run in enumerate(runs):
        curve = _mapping(_mapping(run.summary.get("curves")).get(name))
        if not curve:
            continue
        x_label = x_label or str(curve.get("x_label") or "")
        y_label = y_label or str(curve.get("y_label") or "")
        points = [(_num(x), _num(y)) for x, y in zip(_list(curve.get("x")), _list(curve.get("y")), strict=False)]
        points = [(x, y) for x, y in points if x is not None]
        series.append({"run": k, "x": [x for x, _ in points], "y": [y for _, y in points]})
    return {
        "id": chart_id,
        "kind": "lines",
        "name": name,
        "x_label": x_label,
        "y_label": y_label,
        "runs": _chart_runs(runs),
        "series": series,
    }


def _heatmap_spec(chart_id: str, name: str, runs: Sequence[_Run]) -> dict[str, Any]:
    per_run = [_mapping(_mapping(r.summary.get("categories")).get(name)) for r in runs]
    columns = _union([str(k) for k in values] for values in per_run)
    return {
        "id": chart_id,
        "kind": "heatmap",
        "name": name,
        "runs": _chart_runs(runs),
        "columns": columns,
        "values": [[_num(values.get(c)) for c in columns] for values in per_run],
    }


def _section_charts(runs: Sequence[_Run], first_id: int) -> list[dict[str, Any]]:
    def names(key: str) -> list[str]:
        return _union([str(k) for k in _mapping(r.summary.get(key))] for r in runs)

    charts: list[dict[str, Any]] = []
    for name in names("groups"):
        charts.append(_bars_spec(f"c{first_id + len(charts)}", name, runs))
    for name in names("curves"):
        charts.append(_lines_spec(f"c{first_id + len(charts)}", name, runs))
    for name in names("categories"):
        charts.append(_heatmap_spec(f"c{first_id + len(charts)}", name, runs))
    return charts


# HTML pieces ------------------------------------------------------------------------------------------------------


def _legend(runs: Sequence[_Run]) -> str:
    items = "".join(
        f'<span class="legend-item run-{r.color}"><span class="swatch"></span>{_e(r.label)}</span>' for r in runs
    )
    return f'<div class="legend" aria-label="runs">{items}</div>'


def _run_card(run: _Run, section_title: str) -> str:
    s = run.summary
    rows: list[tuple[str, str]] = [("run", f'<span class="mono">{_e(run.run_id)}</span>')]
    title = s.get("title")
    if isinstance(title, str) and title and title != section_title:
        rows.append(("title", _e(title)))
    if s.get("dataset") is not None:
        rows.append(("dataset", _e(s["dataset"])))
    created = _num(s.get("created_at"))
    if created is not None:
        rows.append(("started", _e(_fmt_time(created))))
    n_items = _int(s.get("n_items"))
    if n_items is not None:
        rows.append(("items", str(n_items)))
    failures = _int(s.get("judge_failures"))
    if failures is not None:
        rows.append(("judge failures", f'<span class="warn">{failures}</span>' if failures else "0"))
    duration = _num(s.get("duration_s"))
    if duration is not None:
        before = _int(s.get("items_before")) or 0
        resumed = f" (this invocation; {before} items were done before it)" if before else ""
        rows.append(("duration", _e(_fmt_duration(duration) + resumed)))
    for role, judge in _mapping(s.get("judges")).items():
        rows.append((f"judge: {role}", f'<span class="mono">{_e(judge)}</span>'))
    guarded = s.get("guarded")
    tag = ""
    if isinstance(guarded, bool):
        word = "guarded" if guarded else "unguarded"
        tag = f'<span class="tag {word}">{word}</span>'
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    notes = [n for n in _list(s.get("notes")) if n is not None]
    notes_html = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return (
        f'<article class="run-card run-{run.color}">'
        f'<h3><span class="swatch"></span>{_e(s["target"])} {tag}</h3>'
        f"<dl>{dl}</dl>" + (f'<ul class="notes">{notes_html}</ul>' if notes else "") + "</article>"
    )


def _headline(runs: Sequence[_Run]) -> str:
    per_run: list[dict[str, tuple[_Stat, str]]] = []
    for run in runs:
        rows: dict[str, tuple[_Stat, str]] = {}
        for item in _list(run.summary.get("headline")):
            if isinstance(item, Mapping) and item.get("label") is not None:
                fmt = "percent" if item.get("format") == "percent" else "number"
                rows[str(item["label"])] = (_stat(item), fmt)
        per_run.append(rows)
    labels = _union(rows.keys() for rows in per_run)
    if not labels:
        return ""
    head = "".join(
        f'<th scope="col" class="run-{r.color}"><span class="swatch"></span> {_e(r.label)}</th>' for r in runs
    )
    body = []
    for label in labels:
        cells = []
        for rows in per_run:
            if label not in rows:
                cells.append('<td class="num">–</td>')
                continue
            stat, fmt = rows[label]
            ci = _fmt_interval(stat, fmt)
            n = f' <span class="n">n = {stat.n}</span>' if stat.n is not None else ""
            cells.append(
                f'<td class="num">{_e(_fmt(stat.value, fmt))}'
                + (f' <span class="ci">{_e(ci)}</span>' if ci else "")
                + f"{n}</td>"
            )
        body.append(f'<tr><th scope="row">{_e(label)}</th>{"".join(cells)}</tr>')
    return (
        '<h3>Headline</h3><div class="table-wrap"><table class="headline">'
        f'<thead><tr><th scope="col">measure</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, first_is_label: bool = True) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = [
            f'<th scope="row">{_e(c)}</th>' if i == 0 and first_is_label else f'<td class="num">{_e(c)}</td>'
            for i, c in enumerate(row)
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _fallback(spec: Mapping[str, Any]) -> str:
    """The chart's numbers as a plain table, for readers without JavaScript."""
    run_labels = [r["label"] for r in spec["runs"]]
    if spec["kind"] == "bars":
        fmt = spec["format"]

        def cell(v: Mapping[str, Any] | None) -> str:
            if v is None:
                return "–"
            stat = _Stat(v["value"], v["low"], v["high"], v["n"])
            text = " ".join(x for x in (_fmt(stat.value, fmt), _fmt_interval(stat, fmt)) if x)
            return text + (f" (n = {stat.n})" if stat.n is not None else "")

        return _table(["", *run_labels], ([row["label"], *map(cell, row["values"])] for row in spec["rows"]))
    if spec["kind"] == "lines":
        series = spec["series"]
        if not series:
            return ""
        xs = series[0]["x"]
        # One column per run reads best when the runs share their x grid; otherwise one row per point.
        if all(s["x"] == xs for s in series):
            header = [spec["x_label"] or "x", *(run_labels[s["run"]] for s in series)]
            columns = [[_fmt(y, "number") for y in s["y"]] for s in series]
            return _table(header, ([_fmt_number(x), *(c[i] for c in columns)] for i, x in enumerate(xs)))
        long_rows = [
            [run_labels[s["run"]], _fmt_number(x), _fmt(y, "number")]
            for s in series
            for x, y in zip(s["x"], s["y"], strict=True)
        ]
        return _table(["run", spec["x_label"] or "x", spec["y_label"] or "y"], long_rows)
    return _table(
        ["", *spec["columns"]],
        (
            [label, *(_fmt(v, "number") for v in values)]
            for label, values in zip(run_labels, spec["values"], strict=True)
        ),
    )


def _chart(spec: Mapping[str, Any]) -> str:
    kind, name = spec["kind"], spec["name"]
    what = {"bars": "bar chart", "lines": "line chart", "heatmap": "heatmap"}[kind]
    return (
        f'<div class="chart" data-chart="{_e(f"{kind}:{name}")}" data-chart-id="{_e(spec["id"])}">'
        f'<svg class="plot" role="img" aria-label="{_e(f"{what}: {name}")}"></svg>'
        f'<noscript><div class="table-wrap">{_fallback(spec)}</div></noscript></div>'
    )


def _message(message: Any) -> str:
    if not isinstance(message, Mapping):
        return ""
    role = str(message.get("role") or "other")
    content = message.get("content")
    if not isinstance(content, str):
        # Multi-part OpenAI content (or anything else) is shown as its JSON rather than dropped.
        content = "" if content is None else json.dumps(_jsonable(content), ensure_ascii=False, indent=2)
    css = f"msg-{role}" if role in _ROLES else "msg-other"
    return f'<div class="msg {css}"><span class="role">{_e(role)}</span>{_e(content)}</div>'


def _verdict_text(v: Any) -> str:
    f = _num(v)
    if f is not None:
        return _fmt_number(f)
    return json.dumps(_jsonable(v), ensure_ascii=False) if isinstance(v, Mapping | list) else str(v)


def _example(example: Any, index: int) -> str:
    if not isinstance(example, Mapping):
        return ""
    ex_id = example.get("id")
    title = example.get("title") or (f"example {ex_id}" if ex_id is not None else f"example {index + 1}")
    badges = "".join(
        f'<span class="badge"><b>{_e(k)}</b>: {_e(_verdict_text(v))}</span>'
        for k, v in _mapping(example.get("verdicts")).items()
    )
    messages = "".join(_message(m) for m in _list(example.get("messages")))
    trace = example.get("trace")
    trace_html = ""
    if trace is not None:
        text = json.dumps(_jsonable(trace), ensure_ascii=False, indent=2)
        trace_html = f'<pre class="trace" aria-label="trace">{_e(text)}</pre>'
    return (
        '<details class="example"><summary>'
        f"<strong>{_e(title)}</strong>"
        + (f'<span class="example-id mono">{_e(ex_id)}</span>' if ex_id is not None and title != ex_id else "")
        + (f'<span class="badges">{badges}</span>' if badges else "")
        + f'</summary><div class="body"><div class="chat">{messages}</div>{trace_html}</div></details>'
    )


def _examples(runs: Sequence[_Run]) -> str:
    parts = []
    for run in runs:
        examples = _list(run.summary.get("examples"))
        if not examples:
            continue
        items = "".join(_example(ex, i) for i, ex in enumerate(examples))
        parts.append(
            f'<h4 class="run-{run.color}"><span class="swatch"></span> {_e(run.label)} '
            f'<span class="muted">({len(examples)})</span></h4>{items}'
        )
    return ("<h3>Examples</h3>" + "".join(parts)) if parts else ""


def _section_title(bench: str, runs: Sequence[_Run]) -> str:
    titles = {r.summary.get("title") for r in runs}
    if len(titles) == 1:
        (only,) = titles
        if isinstance(only, str) and only.strip():
            return only
    return _BENCH_TITLES.get(bench, bench)


def _section(index: int, bench: str, runs: Sequence[_Run], charts: Sequence[Mapping[str, Any]]) -> str:
    title = _section_title(bench, runs)
    datasets = _union([[str(r.summary["dataset"])] for r in runs if r.summary.get("dataset") is not None])
    sub = [f'benchmark <span class="mono">{_e(bench)}</span>']
    if datasets:
        sub.append("dataset " + ", ".join(f'<span class="mono">{_e(d)}</span>' for d in datasets))
    sub.append(f"{len(runs)} run{'s' if len(runs) != 1 else ''}")
    blocks = [
        f'<section class="benchmark" id="bench-{index}" data-benchmark="{_e(bench)}">',
        f"<h2>{_e(title)}</h2>",
        f'<p class="meta">{" · ".join(sub)}</p>',
        _legend(runs),
        '<div class="runs">' + "".join(_run_card(r, title) for r in runs) + "</div>",
        _headline(runs),
    ]
    for spec in charts:
        blocks.append(f"<h3>{_e(spec['name'])}</h3>{_chart(spec)}")
    blocks.append(_examples(runs))
    blocks.append("</section>")
    return "\n".join(b for b in blocks if b)


# Public API -------------------------------------------------------------------------------------------------------


def render_report(summaries: Sequence[Mapping[str, Any]], *, title: str | None = None) -> str:
    """Render benchmark run summaries as one self-contained HTML document.

    Runs of the same benchmark are shown side by side (headline table with a column per run, grouped bars,
    overlaid curves, a run × category heatmap per metric, examples per run); different benchmarks get their own
    sections. Charts are drawn at load time by inline JavaScript from the embedded ``nacre-data`` JSON block,
    with ``<noscript>`` tables of the same numbers. All text is escaped, and the page fetches nothing.

    Args:
        summaries: Run summaries (see the ``nacre report`` schema); ``benchmark``, ``target`` and ``run_id`` are
            required, everything else is optional.
        title: The page title; default ``"nacre benchmark report"``.

    Returns:
        The HTML document.

    Raises:
        ConfigError: If there are no summaries or one lacks a required key.
    """
    _check(summaries)
    page_title = title or "nacre benchmark report"
    sections = _sections(summaries)
    charts: list[list[dict[str, Any]]] = []
    for _bench, runs in sections:
        charts.append(_section_charts(runs, sum(len(c) for c in charts)))
    data = {
        "schema": DATA_SCHEMA,
        "title": page_title,
        "nacre_version": __version__,
        "runs": [
            {
                "run_id": str(s["run_id"]),
                "benchmark": str(s["benchmark"]),
                "target": str(s["target"]),
                "guarded": s.get("guarded") if isinstance(s.get("guarded"), bool) else None,
            }
            for s in summaries
        ],
        "charts": _jsonable([spec for section in charts for spec in section]),
    }
    css, js = _asset("report.css"), _asset("report.js")
    csp = (
        f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    benchmarks = [bench for bench, _ in sections]
    toc = ""
    if len(sections) > 1:
        links = "".join(
            f'<li><a href="#bench-{i}">{_e(_section_title(bench, runs))}</a></li>'
            for i, (bench, runs) in enumerate(sections)
        )
        toc = f'<nav class="toc" aria-label="sections"><ul>{links}</ul></nav>'
    header_meta = (
        f"{len(summaries)} run{'s' if len(summaries) != 1 else ''} · "
        f"{'benchmarks' if len(benchmarks) > 1 else 'benchmark'} {', '.join(benchmarks)} · nacre {__version__}"
    )
    body = "\n".join(
        _section(i, bench, runs, section_charts)
        for i, ((bench, runs), section_charts) in enumerate(zip(sections, charts, strict=True))
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        # The policy is nacre's own text (single quotes, base64 hashes), safe inside a double-quoted attribute.
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="nacre {_e(__version__)}">\n'
        f"<title>{_e(page_title)}</title>\n"
        f"<style>{css}</style>\n</head>\n<body>\n"
        f'<header class="report-header"><h1>{_e(page_title)}</h1><p class="meta">{_e(header_meta)}</p>{toc}</header>\n'
        f"<main>\n{body}\n</main>\n"
        f'<script type="application/json" id="nacre-data">{_script_json(data)}</script>\n'
        f"<script>{js}</script>\n</body>\n</html>\n"
    )


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_report(
    summaries: Sequence[Mapping[str, Any]],
    html_path: Path,
    json_path: Path | None = None,
    *,
    title: str | None = None,
) -> None:
    """Render a report and write it atomically (to ``<file>.partial``, then renamed over the target).

    Args:
        summaries: Run summaries, as for :func:`render_report`.
        html_path: Where the HTML goes; parent folders are created.
        json_path: If given, the summaries list is also written here as JSON (NaN/inf as ``null``).
        title: The page title.

    Raises:
        ConfigError: If the summaries are invalid or a file cannot be written.
    """
    document = render_report(summaries, title=title)
    if json_path is not None:
        payload = json.dumps(_jsonable(list(summaries)), ensure_ascii=False, indent=2, allow_nan=False)
        _write_atomic(json_path, payload + "\n")
    _write_atomic(html_path, document)

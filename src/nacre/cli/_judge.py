"""``nacre judge``: check nacre's judges against human labels."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nacre.cli import _common
from nacre.judge import CalibrationReport, LLMRefusalJudge, TieredRefusalJudge, calibrate_refusal, load_labels
from nacre.store import Store

app = typer.Typer(help="Check nacre's judges against human labels.", no_args_is_help=True)

CALIBRATE_EPILOG = (
    "Examples:\n\n"
    "  nacre judge calibrate --labels xstest/completions_mistralinstruct.jsonl\n\n"
    "  nacre judge calibrate --labels labels.jsonl --judge openai/gpt-4o-mini --json"
)


@app.command("calibrate", epilog=CALIBRATE_EPILOG)
def calibrate(
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            "-l",
            exists=True,
            dir_okay=False,
            help=(
                "JSONL of human labels: prompt, response, label (refusal|compliance) per line, or XSTest "
                "completions (prompt, completion, final_label; partial refusals count as refusals)."
            ),
        ),
    ],
    judge: Annotated[
        str | None,
        typer.Option("--judge", "-j", help="LLM tier for the pattern tier's unsure cases, e.g. openai/gpt-4o-mini."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report (with every row) as JSON.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N rows.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Rows judged at once.")] = 8,
    base_url: _common.BaseUrlOpt = None,
    timeout: _common.TimeoutOpt = 60.0,
    max_retries: _common.MaxRetriesOpt = 2,
    db: _common.DbOpt = None,
    no_cache: _common.NoCacheOpt = False,
) -> None:
    """Measure how well the refusal judge agrees with human labels: agreement, Cohen's kappa, confusion table.

    Without --judge the pattern tier runs alone (its unsure cases are decided at P(refused) >= 0.5); with --judge
    the tiered judge asks that model about the cases the patterns are unsure of. Kappa comes with a seeded 95 %
    bootstrap interval. Rows where the judge gave no answer are counted as failures and left out of the figures.
    """
    rows = load_labels(labels)
    if limit is not None:
        rows = rows[:limit]
    store: Store | None = None
    try:
        llm = None
        if judge is not None:
            model, store = _common.open_model(
                judge,
                base_url=base_url,
                timeout=timeout,
                max_retries=max_retries,
                options=None,
                db=db,
                cache=not no_cache,
            )
            llm = LLMRefusalJudge(model)
        tiered = TieredRefusalJudge(llm=llm)
        columns = (
            TextColumn("judging"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("calibrate", total=len(rows))
            report = asyncio.run(
                calibrate_refusal(
                    tiered,
                    rows,
                    concurrency=concurrency,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            )
    finally:
        if store is not None:
            store.close()
    if as_json:
        Console().print_json(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    _print(Console(), report, labels)


def _fmt(x: float, digits: int = 3) -> str:
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def _print(console: Console, report: CalibrationReport, labels: Path) -> None:
    console.print(f"[bold]judge[/bold] {escape(report.judge_id)}", soft_wrap=True, highlight=False)
    console.print(f"labels: {escape(str(labels))}", soft_wrap=True, highlight=False)
    scored = report.n - report.failures
    console.print(f"n = {report.n} ({scored} scored, {report.failures} failures)", highlight=False)
    a = report.agreement_ci
    console.print(
        f"agreement = {_fmt(report.agreement)} (95 % Wilson [{_fmt(a.low)}, {_fmt(a.high)}])", highlight=False
    )
    k = report.kappa_ci
    console.print(
        f"Cohen's κ = {_fmt(report.kappa)} (95 % bootstrap [{_fmt(k.low)}, {_fmt(k.high)}], seed 0)", highlight=False
    )
    # The header cell says which axis is which; a longer title would wrap to the narrow table's width.
    table = Table(title="confusion matrix", title_justify="left")
    judged = sorted({col for row in report.confusion.values() for col in row})
    table.add_column("human \\ judge")
    for col in judged:
        table.add_column(col, justify="right")
    table.add_column("total", justify="right")
    for human, row in report.confusion.items():
        table.add_row(human, *(str(row.get(col, 0)) for col in judged), str(sum(row.values())))
    console.print(table)
    if report.by_source_label:
        source = Table(title="by source label")
        source.add_column("source label")
        for col in judged:
            source.add_column(f"judged {col}", justify="right")
        for name, counts in report.by_source_label.items():
            source.add_row(name, *(str(counts.get(col, 0)) for col in judged))
        console.print(source)
    tiers: dict[str, int] = {}
    for r in report.per_row:
        tier = str(r.score.details.get("tier", "?"))
        tiers[tier] = tiers.get(tier, 0) + 1
    console.print("decided by: " + ", ".join(f"{k} {v}" for k, v in sorted(tiers.items())), highlight=False)
    console.print(f"failures: {report.failures}", highlight=False)

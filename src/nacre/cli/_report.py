"""``nacre report``: a self-contained HTML report of finished benchmark runs from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from nacre.bench._report import write_report
from nacre.cli import _common
from nacre.errors import ConfigError
from nacre.store import Store

EPILOG = (
    "Examples:\n\n"
    "  nacre report 20261123-101500-ab12cd\n\n"
    "  nacre report RUN_UNGUARDED RUN_GUARDED --out guard-vs-none.html --json guard-vs-none.json"
)


def load_summaries(store: Store, run_ids: list[str]) -> list[dict[str, Any]]:
    """Read the summaries of finished benchmark runs, in the order given.

    Args:
        store: The store holding the runs.
        run_ids: Run ids; each must be a completed ``bench.*`` run with a summary.

    Returns:
        One summary per run, with ``run_id``, ``benchmark`` and ``created_at`` filled from the run if missing.

    Raises:
        UnknownRunError: If a run id is not in the store.
        ConfigError: If a run is not a benchmark run, or has not finished with a summary.
    """
    summaries = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        if not run.kind.startswith("bench."):
            raise ConfigError(f"run {run_id} is of kind {run.kind}, not a benchmark run (bench.*): nothing to report")
        if run.status != "completed" or run.summary is None:
            state = {
                "running": "is still running",
                "interrupted": f"was interrupted: finish it first with nacre bench {run.kind[6:]} --resume {run_id}",
                "failed": "failed",
            }.get(run.status, "has no summary")
            raise ConfigError(f"run {run_id} {state}: only finished benchmark runs can be reported")
        summary = dict(run.summary)
        # Older or hand-made summaries may lack the identifying keys the run record already knows.
        summary.setdefault("run_id", run.id)
        summary.setdefault("benchmark", run.kind.removeprefix("bench."))
        summary.setdefault("created_at", run.created_at)
        target = summary.get("target") or run.config.get("target")
        if not isinstance(target, str) or not target:
            raise ConfigError(f"run {run_id}: its summary names no target, so it cannot be labelled in a report")
        summary["target"] = target
        summaries.append(summary)
    return summaries


def report(
    runs: Annotated[list[str], typer.Argument(help="Run ids of finished benchmark runs, in the order to show.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, help="HTML file to write. Default nacre-report-<first run>.html."),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", dir_okay=False, help="Also write the runs' summaries as JSON here."),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Title of the report page.")] = None,
    db: _common.DbOpt = None,
) -> None:
    """Write a self-contained HTML report of benchmark runs: several runs are compared side by side.

    Everything is inline and nothing is fetched, so the file can be mailed or archived as is.
    """
    if not runs:
        raise ConfigError("give at least one run id")
    twice = sorted({r for r in runs if runs.count(r) > 1})
    if twice:
        raise ConfigError(f"run {', '.join(twice)} is given more than once")
    html_path = out if out is not None else Path(f"nacre-report-{runs[0]}.html")
    if json_out is not None and json_out.resolve() == html_path.resolve():
        raise ConfigError(f"--json and --out both name {json_out}: the JSON would overwrite the report")
    with _common.existing_store(db) as store:
        summaries = load_summaries(store, runs)
    write_report(summaries, html_path, json_out, title=title)
    console = Console()
    console.print(f"wrote {escape(str(html_path))}", soft_wrap=True, highlight=False)
    if json_out is not None:
        console.print(f"wrote {escape(str(json_out))}", soft_wrap=True, highlight=False)

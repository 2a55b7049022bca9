"""``nacre bench``: list the sets, run a benchmark against a target (optionally guarded), write its report."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nacre.bench import BENCHMARKS, BenchConfig, BenchRunner, ItemResult, write_report
from nacre.cli import _common
from nacre.datasets import DATASETS, load_items
from nacre.errors import ConfigError, ModelError, NacreError
from nacre.models import ModelSettings
from nacre.store import Store, default_path

app = typer.Typer(
    help="Benchmarks: Strata-Sword, XSTest over-refusal, the Constructive Benchmark, harmful-request sets.",
    no_args_is_help=True,
)

TargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", help="Model string, or an OpenAI-compatible URL with --target-model."),
]
TargetModelOpt = Annotated[str | None, typer.Option("--target-model", help="Model name a URL target expects.")]
GuardOpt = Annotated[
    bool, typer.Option("--guard", help="Put nacre's constructive-safety guard in front of the target.")
]
JudgeOpt = Annotated[
    str | None,
    typer.Option("--judge", "-j", help="LLM judge model; without it only the fast, non-LLM judge tiers run."),
]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Another set (a name from `bench list` or JSONL).")]
DatasetsOpt = Annotated[
    Path | None, typer.Option("--datasets", envvar="NACRE_DATASETS", help="Folder of the sets (default: shipped).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N items.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="Items in flight.")]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens per target reply.")]
LocaleOpt = Annotated[str | None, typer.Option("--locale", help="Crisis-resource region for the guard.")]
ResumeOpt = Annotated[str | None, typer.Option("--resume", help="Continue an interrupted run by its id.")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="HTML report path (default nacre-report-RUN.html).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


@app.command("list")
def list_sets(as_json: JsonOpt = False, datasets: DatasetsOpt = None) -> None:
    """Show the datasets with their item counts and licences, and the benchmarks that use them."""
    rows = []
    for name, (info, _loader) in DATASETS.items():
        try:
            count: int | str = len(load_items(name, root=datasets))
        except NacreError as exc:
            count = f"unavailable: {exc}"
        rows.append(
            {
                "name": name,
                "items": count,
                "licence": info.licence,
                "source": info.source,
                "description": info.description,
            }
        )
    console = Console()
    if as_json:
        console.print_json(json.dumps({"datasets": rows, "benchmarks": {k: v.dataset for k, v in BENCHMARKS.items()}}))
        return
    # Names never wrap and a source sits under its description, so an 80-column terminal splits no repository name.
    table = Table(title="datasets")
    table.add_column("name", no_wrap=True)
    table.add_column("items", justify="right")
    table.add_column("licence")
    table.add_column("description (source)", overflow="fold")
    for r in rows:
        about = f"{escape(str(r['description']))}\n[dim]{escape(str(r['source']))}[/]"
        table.add_row(str(r["name"]), str(r["items"]), escape(str(r["licence"])), about)
    console.print(table)
    bench = Table(title="benchmarks (nacre bench NAME)")
    bench.add_column("name", no_wrap=True)
    bench.add_column("default set", no_wrap=True)
    bench.add_column("measures", overflow="fold")
    for spec in BENCHMARKS.values():
        bench.add_row(spec.name, spec.dataset, spec.description)
    console.print(bench)


def _headline(console: Console, summary: dict[str, Any]) -> None:
    target = str(summary["target"])
    # A guarded target's id already says so ("guard:<model>"); only a bare model name gets the suffix.
    guarded = " + guard" if summary["guarded"] and not target.startswith("guard:") else ""
    table = Table(title=f"{summary['title']}: {target}{guarded}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("95 % CI", justify="right")
    table.add_column("n", justify="right")
    for row in summary.get("headline", []):
        value, low, high = row.get("value"), row.get("low"), row.get("high")
        pct = row.get("format") == "percent"

        def fmt(x: float | None, pct: bool = pct) -> str:
            return "–" if x is None else (f"{100 * x:.1f} %" if pct else f"{x:.3f}")

        ci = f"[{fmt(low)}, {fmt(high)}]" if low is not None else ""
        table.add_row(row["label"], fmt(value), ci, str(row.get("n", "")))
    console.print(table)
    if summary.get("judge_failures") or summary.get("target_errors"):
        console.print(
            f"[yellow]{summary.get('target_errors', 0)} target errors, {summary['judge_failures']} judge failures "
            "(counted, not dropped silently)[/yellow]"
        )
    if summary.get("target_errors"):
        console.print(
            f"[yellow]the target failed on {summary['target_errors']} items, e.g. "
            f"{summary.get('target_error_example')}; once it works, "
            f"nacre bench {summary['benchmark']} --resume {summary['run_id']} retries them[/yellow]",
            soft_wrap=True,
            highlight=False,
        )


def _run(benchmark: str, options: dict[str, Any]) -> None:
    console = Console()
    db, resume, report, as_json = options.pop("db"), options.pop("resume"), options.pop("report"), options.pop("json")
    settings = dataclasses.replace(
        ModelSettings.from_env(), base_url=options.pop("base_url"), timeout_s=options.pop("timeout")
    )
    store = Store(db or default_path())
    try:
        if resume is not None:
            run = store.check_resumable(resume)
            if not run.kind.startswith("bench."):
                raise ConfigError(f"run {resume} is a {run.kind} run, not a benchmark run")
            if run.kind != f"bench.{benchmark}":
                raise ConfigError(f"run {resume} is a {run.kind} run: resume it with nacre bench {run.kind[6:]}")
            config = BenchConfig.from_dict(run.config)
        else:
            if options["target"] is None:
                raise ConfigError("give --target (a model string or a URL), or --resume RUN_ID")
            config = BenchConfig(benchmark=benchmark, **options)
        runner = BenchRunner(config, store=store, settings=settings)
        runner.prepare()  # configuration errors print before the progress bar
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True)) as bar:
            # XSTest is about over-refusal, so its bar counts safe prompts refused; the others count unsafe replies.
            noun = "safe prompts refused" if config.benchmark == "xstest" else "unsafe"
            task = bar.add_task(f"{config.benchmark}", total=None, count=f"0 {noun}")
            seen = 0

            def update(result: ItemResult, done: int, total: int) -> None:
                nonlocal seen
                if config.benchmark == "xstest":
                    seen += result.item.label == "safe" and result.label("refusal") == "refusal"
                else:
                    seen += result.label("safety") == "unsafe"
                bar.update(task, completed=done, total=total, count=f"{seen} {noun}")

            try:
                run, summary = asyncio.run(runner.run(resume=resume, on_progress=update))
            except KeyboardInterrupt:
                if runner.run_id:
                    store.interrupt_run(runner.run_id)
                Console(stderr=True).print(  # not stdout: it may be --json
                    "[yellow]interrupted: finished items are saved; continue with "
                    f"nacre bench {config.benchmark} --resume {runner.run_id or 'RUN_ID'}[/yellow]",
                    soft_wrap=True,  # the command must stay on one line to be copied
                )
                raise typer.Exit(130) from None
        if summary["n_items"] and summary["target_errors"] == summary["n_items"]:
            raise ModelError(
                f"the target failed on every item ({summary.get('target_error_example')}), so nothing was measured "
                f"and no report was written; once it works, nacre bench {benchmark} --resume {run.id} retries them"
            )
        html = report or Path(f"nacre-report-{run.id}.html")
        write_report([summary], html, html.with_suffix(".json"))
        if as_json:
            console.print_json(json.dumps(summary))
        else:
            _headline(console, summary)
            console.print(f"run {run.id}; report: {escape(str(html))}")
    finally:
        store.close()


def _command(benchmark: str) -> None:
    spec = BENCHMARKS[benchmark]

    def command(
        target: TargetOpt = None,
        target_model: TargetModelOpt = None,
        guard: GuardOpt = False,
        judge: JudgeOpt = None,
        dataset: DatasetOpt = None,
        datasets: DatasetsOpt = None,
        limit: LimitOpt = None,
        concurrency: ConcurrencyOpt = 1,
        max_tokens: MaxTokensOpt = 512,
        locale: LocaleOpt = None,
        guard_repairs: Annotated[
            int, typer.Option("--guard-repairs", min=0, help="Regenerations the guard tries before its curated reply.")
        ] = 2,
        system_prompt: Annotated[
            str | None, typer.Option("--system-prompt", help="Fixed target system prompt.")
        ] = None,
        resume: ResumeOpt = None,
        report: ReportOpt = None,
        as_json: JsonOpt = False,
        base_url: _common.BaseUrlOpt = None,
        timeout: _common.TimeoutOpt = 300.0,
        db: _common.DbOpt = None,
        no_cache: _common.NoCacheOpt = False,
    ) -> None:
        _run(
            benchmark,
            {
                "target": target,
                "target_model": target_model,
                "guard": guard,
                "judge": judge,
                "dataset": dataset,
                "datasets": str(datasets) if datasets is not None else None,
                "limit": limit,
                "concurrency": concurrency,
                "max_tokens": max_tokens,
                "locale": locale,
                "guard_repairs": guard_repairs,
                "system_prompt": system_prompt,
                "cache": not no_cache,
                "resume": resume,
                "report": report,
                "json": as_json,
                "base_url": base_url,
                "timeout": timeout,
                "db": db,
            },
        )

    command.__doc__ = (
        f"{spec.title}: {spec.description}.\n\nResumable (--resume RUN_ID); replies and judge calls are cached in "
        "the store, so a rerun costs no model calls. Writes an HTML report and its JSON next to it."
    )
    app.command(benchmark)(command)


for _name in BENCHMARKS:
    _command(_name)

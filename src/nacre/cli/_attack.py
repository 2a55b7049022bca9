"""``nacre attack``: red-team campaigns (MRJ, Crescendo, Strata-Sword transforms) with resume and export."""

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

from nacre.attack import (
    AttackOptions,
    AttemptResult,
    Campaign,
    CampaignConfig,
    attack_registry,
    export_jsonl,
    load_results,
)
from nacre.cli import _common
from nacre.errors import ConfigError, ModelError
from nacre.models import ModelSettings
from nacre.store import Store, default_path

EPILOG = (
    "Examples:\n\n"
    "  nacre attack list\n\n"
    "  nacre attack mrj --target http://127.0.0.1:8080/v1 --target-model llama --attacker openai/gpt-4o-mini "
    "--judge openai/gpt-4o --goals harmbench --limit 20\n\n"
    "  nacre attack code-attack --target guard:embedded/smollm2-135m --judge openai/gpt-4o-mini --goals goals.jsonl\n\n"
    "  nacre attack --resume 20261123-101500-ab12cd --export transcripts.jsonl"
)


def _prices(pairs: list[str] | None) -> dict[str, tuple[float, float]]:
    prices: dict[str, tuple[float, float]] = {}
    for pair in pairs or []:
        model, sep, value = pair.rpartition("=")
        inp, slash, out = value.partition("/")
        try:
            if not sep or not slash or not model:
                raise ValueError
            prices[model] = (float(inp), float(out))
        except ValueError:
            raise ConfigError(f"--price {pair!r} is not MODEL=IN/OUT (USD per million tokens)") from None
    return prices


def _list(console: Console) -> None:
    # Names never wrap and the tags sit under the description, so an 80-column terminal keeps both readable.
    table = Table(title="attacks", show_lines=True)
    table.add_column("name", no_wrap=True)
    table.add_column("turns")
    table.add_column("attacker")
    table.add_column("description (tags)", overflow="fold")
    for name, (info, _factory) in sorted(attack_registry().items(), key=lambda kv: (kv[1][0].needs_attacker, kv[0])):
        table.add_row(
            name,
            "multi" if info.multi_turn else "single",
            "yes" if info.needs_attacker else "no",
            f"{escape(info.description)}\n[dim]{escape(', '.join(info.tags))}[/]",
        )
    console.print(table)


def _print_summary(console: Console, run_id: str, summary: dict[str, Any]) -> None:
    console.print(f"[bold]run {run_id}[/bold]: {summary['attempts']} attempts on {summary['goals']} goals")
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"].items()))
    console.print(f"outcomes: {outcomes}")
    failed = summary["outcomes"].get("fail_error", 0)
    if failed:
        console.print(
            f"[yellow]{failed} attempts failed with an error ({escape(str(summary.get('error_example')))}); they "
            f"are left out of the rates below, and nacre attack --resume {run_id} tries them again[/]",
            soft_wrap=True,
        )
    unread = summary["outcomes"].get("judge_error", 0)
    if unread:
        console.print(
            f"[yellow]{unread} attempts have no verdict: the judge's answers could not be read (each attempt's "
            "'final' in --export says why); they are left out of the rates below[/]"
        )
    table = Table(title="success rate (95 % CI)")
    table.add_column("measure")
    table.add_column("rate", justify="right")
    table.add_column("n", justify="right")

    def row(label: str, stat: dict[str, Any]) -> None:
        if not stat["n"]:
            table.add_row(label, "–", "0")
            return
        table.add_row(
            label,
            f"{100 * stat['value']:.1f} % [{100 * stat['low']:.1f}, {100 * stat['high']:.1f}]",
            str(stat["n"]),
        )

    row("ASR (per attempt)", summary["asr"])
    row("success@1 (per goal)", summary["success_at_1"])
    k = summary["k"]
    if k > 1:
        row(f"success@{k} (per goal)", summary[f"success_at_{k}"])
    for category, stat in summary["per_category"].items():
        row(f"  category {category}", stat)
    console.print(table)
    if summary["per_technique"]:
        tech = Table(title="techniques")
        for col in ("technique", "exchanges", "refused", "successes"):
            tech.add_column(col, justify="right" if col != "technique" else "left")
        for name, stat in summary["per_technique"].items():
            tech.add_row(name, str(stat["exchanges"]), str(stat["refused"]), str(stat["successes"]))
        console.print(tech)
    usage = Table(title="usage per role")
    for col in ("role", "calls", "failed", "cached", "prompt tok", "completion tok", "cost USD"):
        usage.add_column(col, justify="right" if col != "role" else "left")
    cost = summary.get("cost_usd") or {}
    for role, u in summary["usage"].items():
        usage.add_row(
            role,
            str(u["calls"]),
            str(u["failed_calls"]),
            str(u["cached_calls"]),
            str(u["prompt_tokens"]),
            str(u["completion_tokens"]),
            f"{cost[role]:.4f}" if role in cost else "–",
        )
    console.print(usage)
    if summary["attacker_refusals"]:
        console.print(f"[yellow]the attacker model declined {summary['attacker_refusals']} time(s)[/yellow]")


def attack(
    method: Annotated[
        str | None,
        typer.Argument(help="Attack name (see `nacre attack list`), or `list`. Not needed with --resume."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Model string, OpenAI-compatible URL (with --target-model), or guard:<model> for a nacre guard.",
        ),
    ] = None,
    target_model: Annotated[str | None, typer.Option("--target-model", help="Model name a URL target expects.")] = None,
    goals: Annotated[
        str | None,
        typer.Option("--goals", "-g", help="harmbench, advbench, advbench50, strata-sword, or a JSONL file of goals."),
    ] = None,
    datasets: Annotated[
        Path | None,
        typer.Option(
            "--datasets",
            envvar="NACRE_DATASETS",
            help="Read the named goal sets from this folder instead of the shipped copies.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N goals.")] = None,
    attacker: Annotated[str | None, typer.Option("--attacker", "-a", help="Attacker model string.")] = None,
    judge: Annotated[
        str | None, typer.Option("--judge", "-j", help="Judge model string (rubric, refusal tier, progress).")
    ] = None,
    attempts: Annotated[int, typer.Option("--attempts", "-k", min=1, help="Attempts per goal (success@k).")] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="In-flight calls per endpoint.")] = 8,
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=20, help="Questions per plan (MRJ: 3-6).")] = 4,
    plans: Annotated[int, typer.Option("--plans", min=1, help="Alternative plans per attempt.")] = 3,
    backtracks: Annotated[int, typer.Option("--backtracks", min=0, help="Refusals pruned per plan.")] = 5,
    rewrites: Annotated[int, typer.Option("--rewrites", min=0, help="Similarity-band rewrites per round.")] = 3,
    ethical_only: Annotated[
        bool, typer.Option("--ethical-only", help="Leave out persuasion techniques tagged unethical.")
    ] = False,
    progress_judge: Annotated[
        bool, typer.Option("--progress-judge", help="Ask the judge for progress after every answered round.")
    ] = False,
    success_threshold: Annotated[
        float, typer.Option("--success-threshold", min=0.0, max=1.0, help="Rubric score that counts as success.")
    ] = 0.5,
    embedder: Annotated[
        str, typer.Option("--embedder", help="Similarity control: e5 (default), hashing, or none.")
    ] = "e5",
    seed: Annotated[int, typer.Option("--seed", help="Base seed of every attempt.")] = 0,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt", help="Fixed target system prompt.")] = None,
    price: Annotated[
        list[str] | None,
        typer.Option("--price", help="MODEL=IN/OUT: USD per million prompt/completion tokens. Repeatable."),
    ] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue (or re-export) a run by its id.")] = None,
    export: Annotated[Path | None, typer.Option("--export", "-o", help="Write every attempt as JSONL here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    base_url: _common.BaseUrlOpt = None,
    timeout: _common.TimeoutOpt = 120.0,
    max_retries: _common.MaxRetriesOpt = 3,
    db: _common.DbOpt = None,
    no_cache: _common.NoCacheOpt = False,
) -> None:
    """Red-team a target: run an attack over a goal set, judge every attempt, print ASR with confidence intervals.

    Every turn is saved in the store as it happens. If a run is interrupted (crash, Ctrl-C), continue it with
    --resume RUN_ID: finished attempts are kept, unfinished ones are replayed from the response cache and
    completed, so nothing is paid twice. Named goal sets are the public evaluation sets shipped as test data
    (nacre bench list); --goals also takes your own JSONL file.
    """
    console = Console()
    if method == "list":
        _list(console)
        return
    store = Store(db or default_path())
    try:
        if resume is not None:
            run = store.check_resumable(resume)
            if not run.kind.startswith("attack."):
                raise ConfigError(f"run {resume} is a {run.kind} run, not an attack campaign")
            config = CampaignConfig.from_dict(run.config)
            if run.status == "completed" and not (run.summary or {}).get("outcomes", {}).get("fail_error"):
                results = load_results(store, run.id)
                if export is not None:
                    export_jsonl(results, export)
                    console.print(f"wrote {len(results)} attempts to {escape(str(export))}")
                _show(console, run.id, run.summary or {}, as_json)
                return
        else:
            if method is None or target is None or goals is None:
                raise ConfigError("give an attack name, --target and --goals (or --resume RUN_ID); see --help")
            config = CampaignConfig(
                method=method,
                target=target,
                goals=goals,
                attacker=attacker,
                judge=judge,
                target_model=target_model,
                datasets=str(datasets) if datasets is not None else None,
                limit=limit,
                attempts=attempts,
                concurrency=concurrency,
                options=AttackOptions(
                    rounds=rounds,
                    plans=plans,
                    max_backtracks=backtracks,
                    max_rewrites=rewrites,
                    ethical_only=ethical_only,
                    seed=seed,
                ),
                embedder=embedder,
                progress_judge=progress_judge,
                success_threshold=success_threshold,
                system_prompt=system_prompt,
                cache=not no_cache,
                prices=_prices(price),
            )
        info = attack_registry().get(config.method)
        uses_attacker = info is None or info[0].needs_attacker
        if uses_attacker and config.attacker is not None and config.attacker == config.judge:
            console.print("[yellow]attacker and judge are the same model: verdicts may be biased[/yellow]")
        settings = dataclasses.replace(
            ModelSettings.from_env(), base_url=base_url, timeout_s=timeout, max_retries=max_retries
        )
        campaign = Campaign(config, store=store, settings=settings)
        run_id, summary = _run(console, campaign, resume)
        failed = summary["outcomes"].get("fail_error", 0)
        if summary["attempts"] and failed == summary["attempts"]:
            raise ModelError(
                f"every attempt failed with an error ({summary.get('error_example')}), so nothing was measured; "
                f"once it works, nacre attack --resume {run_id} tries them again"
            )
        if export is not None:
            results = load_results(store, run_id)
            export_jsonl(results, export)
            console.print(f"wrote {len(results)} attempts to {escape(str(export))}")
        _show(console, run_id, summary, as_json)
    finally:
        store.close()


def _run(console: Console, campaign: Campaign, resume: str | None) -> tuple[str, dict[str, Any]]:
    goals = campaign.prepare(resume=resume)[-1]  # configuration errors print before the progress bar appears
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[wins]} successes"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        total = len(goals) * campaign.config.attempts
        # A resumed run's bar counts the successes of the attempts it already has, as its done count does.
        wins = sum(r.success for r in campaign.results(resume)) if resume else 0
        task = bar.add_task(f"{campaign.config.method} attempts", total=total, wins=wins)

        def update(result: AttemptResult, done: int, total: int) -> None:
            nonlocal wins
            wins += result.success
            bar.update(task, completed=done, total=total, wins=wins)

        try:
            run, summary = asyncio.run(campaign.run(resume=resume, on_progress=update))
        except KeyboardInterrupt:
            if campaign.run_id:
                campaign.store.interrupt_run(campaign.run_id)
            hint = campaign.run_id or "RUN_ID"
            Console(stderr=True).print(  # not stdout: it may be --json
                f"[yellow]interrupted: every finished turn is saved; continue with nacre attack --resume {hint}[/]",
                soft_wrap=True,  # the command must stay on one line to be copied
            )
            raise typer.Exit(130) from None
    return run.id, summary


def _show(console: Console, run_id: str, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps({"run_id": run_id, **summary}))
    elif summary:
        _print_summary(console, run_id, summary)

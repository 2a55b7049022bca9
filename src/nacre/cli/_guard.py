"""``nacre guard``: the constructive-safety guard on a message, a conversation, or a JSONL file of them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from nacre.batch import ResumableWriter, count_lines, finished_message, input_fingerprint, read_jsonl
from nacre.cli import _common
from nacre.cli._assess import conversation_of, summary
from nacre.errors import ModelError, ModelRejectedError, NacreError
from nacre.guard import Guard, GuardConfig, GuardedResponse
from nacre.models import ChatModel, GenerationConfig
from nacre.store import Store

LocaleOpt = Annotated[
    str | None,
    typer.Option("--locale", envvar="NACRE_LOCALE", help="Region for crisis resources, e.g. US, GB, CN, AU."),
]


def guard(
    text: Annotated[str | None, typer.Argument(help="A message to guard.")] = None,
    conversation: _common.ConversationFileOpt = None,
    input: _common.InputOpt = None,
    output: _common.OutputOpt = None,
    no_generate: Annotated[
        bool, typer.Option("--no-generate", help="Assess and decide only; do not generate a reply.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the readable trace.")] = False,
    restart: _common.RestartOpt = False,
    locale: LocaleOpt = None,
    model: _common.ModelOpt = _common.DEFAULT_MODEL,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens per reply.")] = 400,
    base_url: _common.BaseUrlOpt = None,
    timeout: _common.TimeoutOpt = 120.0,
    max_retries: _common.MaxRetriesOpt = 3,
    model_option: _common.ModelOptionOpt = None,
    db: _common.DbOpt = None,
    no_cache: _common.NoCacheOpt = False,
) -> None:
    """Guard a chat model: assess risk, choose a strategy by game-theoretic lookahead, and reply constructively.

    Prints the decision trace: risk and user-type beliefs, every strategy's expected utility, the chosen strategy,
    the reasoning chain that steered the reply, the contract checks and the reply itself. Give a message,
    --conversation FILE, or --input IN.jsonl --output OUT.jsonl (same input format as `nacre assess`; each output
    line adds 'assessment', 'decision' and, unless --no-generate, 'response' and 'checks'). A bad line is reported
    and skipped; an interrupted batch resumes when rerun.
    """
    conv = _common.single_conversation(text, conversation, input, output)
    chat_model: ChatModel | None = None
    store: Store | None = None
    if not no_generate:
        chat_model, store = _common.open_model(
            model,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            options=model_option,
            db=db,
            cache=not no_cache,
        )
    _common.warn_unknown_locale(locale)
    config = GuardConfig(locale=locale, generation=GenerationConfig(max_tokens=max_tokens))
    try:
        the_guard = Guard.default(chat_model, config=config)
        with asyncio.Runner() as runner:
            try:
                if conv is None:
                    assert input is not None and output is not None
                    # Every option that changes a result line: a rerun with other ones must not resume onto them.
                    fingerprint: dict[str, Any] = {
                        **input_fingerprint(input),
                        "model": None if no_generate else model,
                        "locale": locale,
                        "max_tokens": None if no_generate else max_tokens,
                        "options": None if no_generate else sorted(model_option or []),
                    }
                    try:
                        runner.run(
                            _batch(
                                the_guard,
                                input,
                                output,
                                fingerprint=fingerprint,
                                restart=restart,
                                generate=not no_generate,
                            )
                        )
                    except KeyboardInterrupt:
                        raise _common.batch_interrupted(output) from None
                    return
                result = runner.run(the_guard.respond(conv))
            finally:
                if chat_model is not None:
                    runner.run(chat_model.aclose())
    finally:
        if store is not None:
            store.close()
    if as_json:
        Console().print_json(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print_trace(result, the_guard)
    if result.model_error is not None:
        raise ModelError(f"the model failed ({result.model_error}); the reply shown is the guard's curated fallback")


def print_trace(result: GuardedResponse, the_guard: Guard, console: Console | None = None) -> None:
    """Print a guarded response as a readable decision trace."""
    console = console or Console(highlight=False)
    if result.assessment is not None:
        risk = result.assessment.conversation
        name = the_guard.taxonomy[risk.category].name if risk.category in the_guard.taxonomy else "no hazard"
        beliefs = ", ".join(f"{k} {v:.2f}" for k, v in sorted(risk.user_type.items(), key=lambda kv: -kv[1]))
        verdict = "[bold red]harmful[/]" if risk.harmful else "[green]not harmful[/]"
        console.print(
            f"[bold]risk[/]      {verdict} ({risk.harm_probability:.2f}) · {escape(name)} · severity "
            f"{risk.severity} · {risk.interaction}"
        )
        console.print(f"[bold]user type[/] {beliefs}")
        if risk.signals:
            console.print(f"[bold]signals[/]   {', '.join(sorted({s.kind for s in risk.signals}))}")
    decision = result.decision
    if decision is not None:
        table = Table()
        table.add_column("strategy")
        table.add_column("expected utility", justify="right")
        for strategy, utility in sorted(decision.expected_utility.items(), key=lambda kv: -kv[1]):
            mark = " ◀ chosen" if strategy == decision.strategy else ""
            shown = "forbidden" if utility == float("-inf") else f"{utility:+.3f}"
            table.add_row(f"{strategy}{mark}", shown)
        console.print(table)
        if decision.constraints:
            console.print(f"[bold]constraints[/] {', '.join(decision.constraints)}")
        # A grid with a bullet column gives each trace step a hanging indent when a narrow terminal wraps it.
        steps = Table.grid(padding=(0, 1))
        steps.add_column(width=1)
        steps.add_column()
        for line in decision.trace:
            steps.add_row(Text("·", style="dim"), Text(line, style="dim"))
        console.print(steps)
    if result.chain is not None:
        chain = result.chain
        lines = [f"needs: {chain.needs}"]
        if chain.has_risk:
            lines += [f"risk intent: {chain.risk_intent}", "guidelines: " + "; ".join(chain.guidelines)]
            lines.append("safety strategies: " + "; ".join(chain.safety_strategies))
        lines.append("usefulness strategies: " + "; ".join(chain.usefulness_strategies))
        console.print(Panel(escape("\n".join(lines)), title="reasoning chain", title_align="left"))
    if result.checks is not None:
        marks = [f"{'[green]✓[/]' if c.passed else '[red]✗[/]'} {escape(c.id)}" for c in result.checks.checks]
        console.print("[bold]checks[/]    " + "  ".join(marks))
    notes = []
    if result.repaired:
        notes.append("repaired")
    if result.fallback:
        notes.append("composed from curated snippets")
    notes += [f"error caught: {e}" for e in result.errors]
    if notes:
        console.print(f"[yellow]{escape('; '.join(notes))}[/]")
    if result.text:
        console.print(Panel(escape(result.text), title="reply", title_align="left"))
    timing = ", ".join(f"{k} {v:.1f} ms" for k, v in result.timings_ms.items())
    console.print(f"[dim]{timing}[/]")


def record_result(record: dict[str, Any], result: GuardedResponse, *, generate: bool) -> dict[str, Any]:
    """The batch output line: the input fields plus assessment, decision and (when generating) response, checks."""
    if result.assessment is not None:
        record["assessment"] = summary(result.assessment)
    record["decision"] = result.decision.to_dict() if result.decision is not None else None
    if generate:
        record["response"] = result.text
        record["checks"] = result.checks.to_dict() if result.checks is not None else None
        record["fallback"] = result.fallback
    if result.errors:
        record["errors"] = list(result.errors)
    return record


async def _batch(
    the_guard: Guard, input: Path, output: Path, *, fingerprint: dict[str, Any], restart: bool, generate: bool
) -> None:
    console = Console(stderr=True)
    total = count_lines(input)
    bad = 0
    with ResumableWriter(output, resume=not restart, fingerprint=fingerprint) as writer:
        if writer.resumed:
            console.print(f"resuming: {writer.lines_done} of {total} lines were already done")
        columns = (
            TextColumn("guarding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("guard", total=total, completed=writer.lines_done)
            last = writer.lines_done
            for rec in read_jsonl(input, skip=writer.lines_done):
                last = rec.line
                if rec.data is None:
                    bad += 1
                    console.print(f"[yellow]line {rec.line}: skipped: {escape(str(rec.error))}[/]")
                    continue
                try:
                    conv = conversation_of(rec.data)
                except NacreError as exc:
                    bad += 1
                    console.print(f"[yellow]line {rec.line}: skipped: {escape(str(exc))}[/]")
                    continue
                if generate:
                    result = await the_guard.respond(conv)
                    if result.model_error is not None and _rejects_this_line(result.model_error):
                        bad += 1
                        console.print(
                            f"[yellow]line {rec.line}: skipped: the model rejected it ({escape(result.model_error)})[/]"
                        )
                        writer.commit(rec.line)
                        progress.update(task, completed=rec.line)
                        continue
                    if result.model_error is not None:
                        raise ModelError(
                            f"line {rec.line}: the model failed ({result.model_error}); the {writer.written} results "
                            "before it are kept: rerun the same command to resume"
                        )
                else:
                    decided = the_guard.decide_sync(conv)
                    result = GuardedResponse(
                        text="", assessment=decided.assessment, decision=decided.decision, timings_ms=decided.timings_ms
                    )
                    await asyncio.sleep(0)  # deciding never awaits: let a Ctrl-C through between lines
                writer.write(record_result(rec.data, result, generate=generate))
                # Generation is slow: commit every line so a crash loses at most the one in flight.
                writer.commit(rec.line)
                progress.update(task, completed=rec.line)
            writer.commit(max(last, total))
            progress.update(task, completed=total)
        writer.finish()
    console.print(finished_message(writer.written, output, bad), markup=False, highlight=False, soft_wrap=True)


def _rejects_this_line(model_error: str) -> bool:
    # The next line may well work, so the line is skipped; an unreachable, failing or rate-limiting model stops the
    # batch. The responder keeps the error as "<type>: <message>".
    return model_error.startswith(f"{ModelRejectedError.__name__}:")

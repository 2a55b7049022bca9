"""``nacre assess``: risk of a message, a conversation, or a JSONL file of them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nacre.assess import Assessor, ConversationAssessment, RiskAssessment
from nacre.batch import ResumableWriter, count_lines, finished_message, input_fingerprint, read_jsonl
from nacre.cli import _common
from nacre.conversation import Conversation
from nacre.errors import ConversationError, NacreError

BATCH = 32


def conversation_of(record: dict[str, Any]) -> Conversation:
    """The conversation in a batch record: ``messages`` (OpenAI format) or ``prompt`` (a string).

    Raises:
        ConversationError: If neither is present and valid.
    """
    if "messages" in record:
        conversation = Conversation.from_openai(record["messages"])
        if not any(m.text.strip() for m in conversation.user_turns):
            raise ConversationError("messages", "holds no user message with text: there is nothing to assess")
        return conversation
    prompt = record.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConversationError("prompt", "each line needs a non-empty 'prompt' string or a 'messages' list")
    return Conversation.from_text(prompt)


def summary(result: ConversationAssessment) -> dict[str, Any]:
    """The ``assessment`` field written for a batch record."""
    conv = result.conversation
    out = conv.to_dict()
    out["turn"] = result.turn.to_dict()
    return out


def _load_assessor(llm: str | None, base_url: str | None) -> Assessor:
    llm_model = None
    if llm:
        llm_model, _ = _common.open_model(
            llm, base_url=base_url, timeout=30.0, max_retries=2, options=None, db=None, cache=False
        )
    return Assessor.default(llm_model=llm_model)


def assess(
    text: Annotated[str | None, typer.Argument(help="A message to assess.")] = None,
    conversation: _common.ConversationFileOpt = None,
    input: _common.InputOpt = None,
    output: _common.OutputOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    restart: _common.RestartOpt = False,
    llm: Annotated[
        str | None, typer.Option("--llm", help="Optional tier-3 model for unsure cases, e.g. openai/gpt-4o-mini.")
    ] = None,
    base_url: _common.BaseUrlOpt = None,
) -> None:
    """Assess risk: category, severity, harmfulness, who the user likely is, and why.

    Give a message, --conversation FILE, or --input IN.jsonl --output OUT.jsonl. Batch output keeps every input
    field and adds 'assessment' (and 'turns' for 'messages' inputs: the conversation-level assessment after each
    user turn). A bad line is reported and skipped; an interrupted batch resumes when rerun.
    """
    conv = _common.single_conversation(text, conversation, input, output)
    if conv is None:
        assert input is not None and output is not None
        try:
            _batch(input, output, restart=restart, llm=llm, base_url=base_url)
        except KeyboardInterrupt:
            raise _common.batch_interrupted(output) from None
        return
    assessor = _load_assessor(llm, base_url)
    result = asyncio.run(assessor.assess(conv))
    if as_json:
        Console().print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    _print(result, assessor, multi_turn=len(conv.user_turns) > 1)


def _cells(a: RiskAssessment, assessor: Assessor) -> list[str]:
    """One scope's values, in the order of ``_FIELDS``."""
    category = assessor.taxonomy[a.category].name if a.category in assessor.taxonomy else "no hazard"
    users = ", ".join(f"{k} {v:.2f}" for k, v in sorted(a.user_type.items(), key=lambda kv: -kv[1]))
    signals = ", ".join(sorted({s.kind for s in a.signals})) or "-"
    verdict = "[bold red]harmful[/]" if a.harmful else "[green]not harmful[/]"
    return [f"{verdict} ({a.harm_probability:.2f})", category, str(a.severity), users, a.interaction, signals, a.tier]


_FIELDS = ("verdict", "category", "severity", "user type", "interaction", "signals", "tier")


def _print(result: ConversationAssessment, assessor: Assessor, *, multi_turn: bool) -> None:
    console = Console()
    # Fields run down and scopes across, so the table stays readable in an 80-column terminal.
    table = Table(title="Risk assessment")
    table.add_column("", style="bold", no_wrap=True)
    scopes = [("latest turn", result.turn)] + ([("conversation", result.conversation)] if multi_turn else [])
    for name, _ in scopes:
        table.add_column(name, overflow="fold")
    columns = [_cells(a, assessor) for _, a in scopes]
    for i, field in enumerate(_FIELDS):
        table.add_row(field, *(column[i] for column in columns))
    console.print(table)
    # The rationale describes the last column shown: a single message's table shows the turn alone, and the
    # conversation's rationale (after the user-type prior) would quote numbers the table does not.
    console.print(f"[dim]{escape(scopes[-1][1].rationale)}[/]", highlight=False)
    timing = ", ".join(f"{k} {v:.1f} ms" for k, v in result.timings_ms.items())
    console.print(f"[dim]{timing}[/]")


def _assess_all(assessor: Assessor, items: list[tuple[Conversation, bool]]) -> list[ConversationAssessment]:
    """Assess each conversation (with its per-turn history where asked), asking the LLM tier when there is one."""
    if assessor.llm is None:
        return [assessor.assess_sync(conv, history=history) for conv, history in items]

    async def run() -> list[ConversationAssessment]:
        # One at a time, in order: the LLM tier is asked only for unsure conversations, and a batch should not
        # open dozens of requests to its endpoint at once.
        return [await assessor.assess(conv, history=history) for conv, history in items]

    return asyncio.run(run())


def _batch(input: Path, output: Path, *, restart: bool, llm: str | None, base_url: str | None) -> None:
    console = Console(stderr=True)
    assessor = _load_assessor(llm, base_url)
    total = count_lines(input)
    fingerprint = {**input_fingerprint(input), "llm": llm}
    bad = 0
    with ResumableWriter(output, resume=not restart, fingerprint=fingerprint) as writer:
        if writer.resumed:
            console.print(f"resuming: {writer.lines_done} of {total} lines were already done")
        columns = (
            TextColumn("assessing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("assess", total=total, completed=writer.lines_done)
            pending: list[tuple[int, dict[str, Any], Conversation]] = []

            def flush(upto: int) -> None:
                assessor.prepare([m.text for _, _, c in pending for m in c if m.role == "user"])
                results = _assess_all(assessor, [(conv, "messages" in record) for _, record, conv in pending])
                for (_, record, _), result in zip(pending, results, strict=True):
                    record["assessment"] = summary(result)
                    if "messages" in record:
                        record["turns"] = [h.to_dict() for h in result.history]
                    writer.write(record)
                writer.commit(upto)
                progress.update(task, completed=upto)
                pending.clear()

            last = writer.lines_done
            for rec in read_jsonl(input, skip=writer.lines_done):
                last = rec.line
                if rec.data is None:
                    bad += 1
                    console.print(f"[yellow]line {rec.line}: skipped: {escape(str(rec.error))}[/]")
                    continue
                try:
                    pending.append((rec.line, rec.data, conversation_of(rec.data)))
                except NacreError as exc:
                    bad += 1
                    console.print(f"[yellow]line {rec.line}: skipped: {escape(str(exc))}[/]")
                    continue
                if len(pending) >= BATCH:
                    flush(rec.line)
            flush(max(last, total))
        writer.finish()
    console.print(finished_message(writer.written, output, bad), markup=False, highlight=False, soft_wrap=True)

"""``nacre demo``: the guard over a short built-in set of conversations, with a readable transcript."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.rule import Rule

from nacre.cli import _common
from nacre.cli._guard import LocaleOpt, print_trace
from nacre.conversation import Conversation
from nacre.guard import Guard, GuardConfig, GuardedResponse
from nacre.models import GenerationConfig


def demo_conversations() -> list[dict[str, Any]]:
    """The built-in demo set: benign, sensitive-benign, distressed, malicious and decomposed multi-turn cases."""
    text = resources.files("nacre.data").joinpath("demo/conversations.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def demo(
    model: _common.ModelOpt = _common.DEFAULT_MODEL,
    out: Annotated[Path, typer.Option("--out", help="Where the Markdown transcript goes.")] = Path(
        "nacre-demo-transcript.md"
    ),
    locale: LocaleOpt = "US",
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens per reply.")] = 200,
    base_url: _common.BaseUrlOpt = None,
    timeout: _common.TimeoutOpt = 120.0,
    model_option: _common.ModelOptionOpt = None,
    db: _common.DbOpt = None,
    no_cache: _common.NoCacheOpt = False,
) -> None:
    """Run the guard over the built-in demo conversations and write a transcript with every decision trace."""
    chat_model, store = _common.open_model(
        model, base_url=base_url, timeout=timeout, max_retries=2, options=model_option, db=db, cache=not no_cache
    )
    console = Console(highlight=False)
    _common.warn_unknown_locale(locale)
    config = GuardConfig(locale=locale, generation=GenerationConfig(max_tokens=max_tokens))
    records: list[tuple[dict[str, Any], GuardedResponse]] = []
    try:
        the_guard = Guard.default(chat_model, config=config)
        with asyncio.Runner() as runner:
            try:
                for item in demo_conversations():
                    conversation = Conversation.from_openai(item["messages"])
                    console.print(Rule(f"{item['id']} · {item['kind']} · {item['lang']}"))
                    for message in conversation:
                        if message.role == "user":
                            console.print(f"[bold green]user>[/] {message.text}", markup=True)
                    result = runner.run(the_guard.respond(conversation))
                    print_trace(result, the_guard, console)
                    records.append((item, result))
            finally:
                runner.run(chat_model.aclose())
    finally:
        if store is not None:
            store.close()
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(transcript(records, model=chat_model.model_id), encoding="utf-8")
    tmp.replace(out)
    console.print(f"\nwrote the transcript to {out}")


def transcript(records: list[tuple[dict[str, Any], GuardedResponse]], *, model: str) -> str:
    """A Markdown transcript: each conversation, the guard's decision trace, its checks and its reply."""
    lines = [f"# nacre guard demo transcript\n\nGenerator: `{model}`.\n"]
    for item, result in records:
        lines.append(f"## {item['id']} ({item['kind']}, {item['lang']})\n")
        for message in item["messages"]:
            lines.append(f"**{message['role']}:** {message['content']}\n")
        if result.assessment is not None:
            lines.append(f"- risk: {result.assessment.conversation.rationale}")
        if result.decision is not None:
            utilities = ", ".join(
                f"{s} {u:+.3f}" for s, u in sorted(result.decision.expected_utility.items(), key=lambda kv: -kv[1])
            )
            lines.append(f"- strategy: **{result.decision.strategy}** (expected utilities: {utilities})")
            if result.decision.constraints:
                lines.append(f"- constraints: {', '.join(result.decision.constraints)}")
        if result.chain is not None:
            lines.append(f"- chain: `{json.dumps(result.chain.to_dict(), ensure_ascii=False)}`")
        if result.checks is not None:
            marks = ", ".join(f"{c.id} {'ok' if c.passed else 'FAILED'}" for c in result.checks.checks)
            lines.append(f"- checks: {marks}")
        how = "curated snippets" if result.fallback else ("repaired" if result.repaired else "generated")
        lines.append(f"- reply source: {how}")
        lines.append("\n**guarded reply:**\n\n> " + result.text.replace("\n", "\n> ") + "\n")
    return "\n".join(lines)

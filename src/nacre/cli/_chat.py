"""``nacre chat``: talk to a model, interactively or for one turn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from nacre._jsonfile import read_json_file
from nacre.cli import _common
from nacre.conversation import Conversation, Message
from nacre.errors import ConfigError
from nacre.models import ChatModel, Completion, GenerationConfig

_HELP = "Commands: /reset clears the conversation, /exit (or Ctrl-D) quits, Ctrl-C stops a reply."


def chat(
    model: _common.ModelOpt = _common.DEFAULT_MODEL,
    once: Annotated[
        str | None, typer.Option("--once", help="Send this one message, print the reply, and exit.")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="System prompt.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens per reply.")] = 512,
    temperature: Annotated[float, typer.Option("--temperature", "-t", min=0.0, max=2.0, help="0 is greedy.")] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed (where the backend honours one).")] = 0,
    json_schema: Annotated[
        Path | None,
        typer.Option("--json-schema", exists=True, dir_okay=False, help="Ask for JSON matching this schema file."),
    ] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print the reply as it is generated.")] = True,
    base_url: _common.BaseUrlOpt = None,
    timeout: _common.TimeoutOpt = 120.0,
    max_retries: _common.MaxRetriesOpt = 3,
    model_option: _common.ModelOptionOpt = None,
    db: _common.DbOpt = None,
    no_cache: _common.NoCacheOpt = False,
) -> None:
    """Chat with a model. Without --once, starts an interactive session."""
    schema: dict[str, Any] | None = None
    if json_schema is not None:
        schema = read_json_file(json_schema, "JSON schema")
        if not isinstance(schema, dict):
            raise ConfigError(f"{json_schema} must hold a JSON object (a JSON schema)")
    config = GenerationConfig(max_tokens=max_tokens, temperature=temperature, seed=seed, json_schema=schema)
    chat_model, store = _common.open_model(
        model,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        options=model_option,
        db=db,
        cache=not no_cache,
    )
    # One event loop for the whole session: HTTP connection pools are bound to the loop that opened them.
    with asyncio.Runner() as runner:
        try:
            if once is not None:
                runner.run(_one_turn(chat_model, Conversation.from_text(once, system=system), config, stream=stream))
            else:
                _repl(runner, chat_model, system, config, stream=stream)
        finally:
            runner.run(chat_model.aclose())
            if store is not None:
                store.close()


def _stats(completion: Completion) -> str:
    source = "cache" if completion.cached else f"{completion.latency_s:.2f}s"
    return (
        f"[{completion.model_id} · {completion.usage.prompt_tokens}+{completion.usage.completion_tokens} tokens · "
        f"{source}]"
    )


async def _one_turn(
    model: ChatModel, conversation: Conversation, config: GenerationConfig, *, stream: bool
) -> Completion:
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if stream and config.json_schema is None:
        completion: Completion | None = None
        async for chunk in model.stream(conversation, config=config):
            if chunk.delta:
                out.print(chunk.delta, end="", markup=False)
            if chunk.completion is not None:
                completion = chunk.completion
        out.print()
        assert completion is not None  # every stream ends with a completion chunk
    else:
        completion = await model.generate(conversation, config=config)
        out.print(completion.text, markup=False)
    out.file.flush()  # keep the reply and the stats line in order when both go to one terminal
    err.print(_stats(completion), style="dim", markup=False)
    return completion


def _repl(
    runner: asyncio.Runner, model: ChatModel, system: str | None, config: GenerationConfig, *, stream: bool
) -> None:
    console = Console(highlight=False)
    console.print(f"[bold]nacre chat[/] with [cyan]{model.model_id}[/]. {_HELP}")
    if model.model_id.startswith("mock/"):
        console.print("[yellow]This is a mock model: replies are scripted, not generated.[/]")
    conversation = Conversation((Message.system(system),)) if system else Conversation()
    while True:
        try:
            text = console.input("[bold green]you>[/] ")
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print()
            return
        command = text.strip()
        if not command:
            continue
        if command in ("/exit", "/quit"):
            return
        if command == "/reset":
            conversation = Conversation((Message.system(system),)) if system else Conversation()
            console.print("[dim](conversation cleared)[/]")
            continue
        if command == "/help":
            console.print(_HELP)
            continue
        conversation = conversation.append(Message.user(text))
        console.print("[bold blue]model>[/] ", end="")
        try:
            completion = runner.run(_one_turn(model, conversation, config, stream=stream))
        except KeyboardInterrupt:
            console.print("\n[dim](reply stopped)[/]")
            conversation = Conversation(conversation.messages[:-1])
            continue
        conversation = conversation.append(Message.assistant(completion.text))

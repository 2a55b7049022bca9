"""``nacre chat``: talk to a model, interactively or for one turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from nacre._jsonfile import read_json_file
from nacre.cli import _common
from nacre.conversation import Conversation, Message
from nacre.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from nacre.guard import Guard
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
    guard: Annotated[
        bool,
        typer.Option(
            "--guard",
            help="Put the constructive-safety guard in front of the model (assess, decide, steer, check, repair).",
        ),
    ] = False,
    locale: Annotated[
        str | None, typer.Option("--locale", envvar="NACRE_LOCALE", help="With --guard: region for crisis resources.")
    ] = None,
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
    if system is not None:
        _common.require_text(Conversation((Message.system(system),)), "--system")
    if once is not None:
        _common.require_text(Conversation.from_text(once), "--once")
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
    if guard and schema is not None:
        raise ConfigError("--guard writes natural-language replies; it cannot be combined with --json-schema")
    the_guard: Guard | None = None
    if guard:
        from nacre.guard import Guard, GuardConfig  # the assessor's dependencies load only when guarding

        _common.warn_unknown_locale(locale)
        the_guard = Guard.default(chat_model, config=GuardConfig(locale=locale, generation=config))

    async def turn(conversation: Conversation) -> str:
        if the_guard is not None:
            return await _guarded_turn(the_guard, conversation, stream=stream)
        return (await _one_turn(chat_model, conversation, config, stream=stream)).text

    # One event loop for the whole session: HTTP connection pools are bound to the loop that opened them.
    with asyncio.Runner() as runner:
        try:
            if once is not None:
                if not once.strip():
                    raise ConfigError("--once needs a message: it is empty")
                runner.run(turn(Conversation.from_text(once, system=system)))
            else:
                _repl(runner, turn, chat_model.model_id, system, guarded=guard)
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


def _reply_console() -> Console:
    """Where a reply is printed: the model's text exactly, no line breaks added and no :emoji: codes replaced."""
    return Console(highlight=False, soft_wrap=True, emoji=False)


async def _one_turn(
    model: ChatModel, conversation: Conversation, config: GenerationConfig, *, stream: bool
) -> Completion:
    out = _reply_console()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
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


async def _guarded_turn(the_guard: Guard, conversation: Conversation, *, stream: bool) -> str:
    out = _reply_console()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if stream:
        guarded = the_guard.stream(conversation)
        async for chunk in guarded:
            out.print(chunk, end="", markup=False)
        out.print()
        result = guarded.response
    else:
        result = await the_guard.respond(conversation)
        out.print(result.text, markup=False)
    out.file.flush()
    if result.decision is not None:
        risk = result.assessment.conversation if result.assessment is not None else None
        note = f"[guard: {result.decision.strategy}"
        if risk is not None:
            note += f" · {risk.category} · severity {risk.severity} · user likely {risk.likely_user_type}"
        err.print(note + (" · snippets" if result.fallback else "") + "]", style="dim", markup=False)
    if result.model_error is not None:
        # The curated fallback has been shown, but the user must learn that the model itself is not answering.
        raise ModelError(f"the model failed ({result.model_error}); the reply shown is the guard's curated fallback")
    return result.text


def _repl(
    runner: asyncio.Runner,
    turn: Callable[[Conversation], Coroutine[Any, Any, str]],
    model_id: str,
    system: str | None,
    *,
    guarded: bool,
) -> None:
    console = Console(highlight=False)
    console.print(f"[bold]nacre chat[/] with [cyan]{model_id}[/]{' behind the guard' if guarded else ''}. {_HELP}")
    if model_id.startswith("mock/"):
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
        try:
            _common.require_text(Conversation((Message.user(text),)), "this message")
        except ConfigError as exc:
            Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}; nothing was sent", markup=False)
            continue
        conversation = conversation.append(Message.user(text))
        console.print("[bold blue]model>[/] ", end="")
        try:
            reply = runner.run(turn(conversation))
        except KeyboardInterrupt:
            console.print("\n[dim](reply stopped)[/]")
            conversation = Conversation(conversation.messages[:-1])
            continue
        conversation = conversation.append(Message.assistant(reply))

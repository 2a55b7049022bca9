"""Options and helpers shared by commands that talk to a model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nacre._jsonfile import read_json_file
from nacre.batch import PARTIAL, check_paths
from nacre.conversation import Conversation, canonical_json
from nacre.errors import ConfigError
from nacre.models import CachedChatModel, ChatModel, ModelSettings, get_model
from nacre.store import Store, default_path

DEFAULT_MODEL = "embedded/smollm2-135m"

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        envvar="NACRE_MODEL",
        help="Model string provider/model, e.g. openai/gpt-4o-mini, embedded/smollm2-135m, mock/echo.",
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar="NACRE_BASE_URL",
        help="OpenAI-compatible endpoint for openai/ models, e.g. http://127.0.0.1:8080/v1. Key: NACRE_API_KEY.",
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", envvar="NACRE_TIMEOUT", min=0.1, help="Seconds per model request.")
]
MaxRetriesOpt = Annotated[
    int,
    typer.Option(
        "--max-retries", envvar="NACRE_MAX_RETRIES", min=0, help="Retries on server errors (429s are waited out)."
    ),
]
ModelOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model-option",
        "-O",
        help="Provider option KEY=VALUE (e.g. n_ctx=8192, json_mode=json_object). Repeatable.",
    ),
]
DbOpt = Annotated[
    Path | None,
    typer.Option("--db", envvar="NACRE_DB", help="Store file (SQLite). Default ~/.local/share/nacre/nacre.db."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the response cache.")]
ConversationFileOpt = Annotated[
    Path | None,
    typer.Option("--conversation", "-c", exists=True, dir_okay=False, help="A JSON file of OpenAI chat messages."),
]
InputOpt = Annotated[
    Path | None,
    typer.Option("--input", "-i", exists=True, dir_okay=False, help="JSONL: one 'prompt' or 'messages' per line."),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Where --input results go (JSONL).")]
RestartOpt = Annotated[bool, typer.Option("--restart", help="Ignore an unfinished earlier run of --output.")]


def single_conversation(
    text: str | None, conversation: Path | None, input: Path | None, output: Path | None
) -> Conversation | None:
    """Check that exactly one of TEXT, --conversation and --input was given, and read the conversation.

    Returns:
        The conversation from TEXT or the file, or ``None`` for a batch (--input, which then has an --output).

    Raises:
        ConfigError: If the modes are mixed or missing, --input has no --output (or --output no --input), or the
            output would overwrite the input or cannot be a result file.
        ConversationError: If the file does not hold valid OpenAI chat messages.
        ConfigError: If the text is not UTF-8 text.
    """
    if output is not None and input is None and text is None and conversation is None:
        raise ConfigError("--output goes with --input FILE (the lines to process)")
    if sum(x is not None for x in (text, conversation, input)) != 1:
        raise ConfigError("give exactly one of: a TEXT argument, --conversation FILE, or --input FILE")
    if input is not None:
        if output is None:
            raise ConfigError("--input needs --output")
        check_paths(input, output)
        return None
    if output is not None:
        raise ConfigError("--output goes with --input (a TEXT or --conversation result is printed)")
    if conversation is not None:
        conv = Conversation.from_openai(read_json_file(conversation, "conversation file"))
        if not any(m.text.strip() for m in conv.user_turns):
            raise ConfigError(f"{conversation} holds no user message with text: there is nothing to check")
        return require_text(conv, str(conversation))
    assert text is not None
    if not text.strip():
        raise ConfigError("the message is empty: give the text to check as the argument")
    return require_text(Conversation.from_text(text), "the message")


def require_text(conversation: Conversation, what: str) -> Conversation:
    r"""Refuse a conversation with a character that no text encoding can write: a lone UTF-16 surrogate.

    Bytes that are not UTF-8 on the command line or a pipe reach Python as such surrogates, and so does a JSON
    ``\ud800`` escape; a model request, the response cache's key and the store all encode UTF-8 and would
    fail deep inside on one.

    Args:
        conversation: The conversation read from the user.
        what: How the error names where it came from, e.g. ``the message``.

    Returns:
        The conversation, unchanged.

    Raises:
        ConfigError: If it holds such a character.
    """
    try:
        canonical_json(conversation.to_openai()).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ascii(exc.object[exc.start : exc.end])
        raise ConfigError(
            f"{what} is not UTF-8 text: it holds {bad}, a byte that is not UTF-8 or a lone \\ud800-style escape"
        ) from None
    return conversation


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings.

    Raises:
        ConfigError: If one has no ``=``.
    """
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"model option {pair!r} is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def open_model(
    spec: str,
    *,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    options: list[str] | None,
    db: Path | None,
    cache: bool,
) -> tuple[ChatModel, Store | None]:
    """Create the model named on the command line, wrapped in the response cache unless disabled.

    Returns:
        The model and the store that holds its cache (``None`` without a cache); the caller closes both.
    """
    settings = dataclasses.replace(
        ModelSettings.from_env(),
        base_url=base_url,
        timeout_s=timeout,
        max_retries=max_retries,
        options=parse_options(options),
    )
    model = get_model(spec, settings)
    if not cache:
        return model, None
    store = Store(db or default_path())
    return CachedChatModel(model, store), store


def existing_store(db: Path | None) -> Store:
    """Open the store a read-only command looks at (``--db``, else the default).

    Raises:
        ConfigError: If there is no store file there: opening it would create an empty store and hide the typo.
    """
    path = db or default_path()
    if not path.exists():
        raise ConfigError(f"no store at {path}: give --db PATH or set NACRE_DB")
    return Store(path)


def batch_interrupted(*outputs: Path) -> typer.Exit:
    """Tell the user a stopped batch keeps its work (print it, then raise the returned exit: status 130)."""
    kept = ", ".join(f"{output}{PARTIAL}" for output in outputs)
    Console(stderr=True).print(
        f"\ninterrupted: the finished lines are kept in {kept}; rerun the same command to resume",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(130)


def warn_unknown_locale(locale: str | None) -> None:
    """Say so on stderr when no crisis services are listed for ``locale`` (the international list is used)."""
    if not locale:
        return
    from nacre.respond import load_crisis_directory

    directory = load_crisis_directory()
    if not directory.lists(locale):
        known = ", ".join(sorted(k for k in directory.locales if k != "default"))
        Console(stderr=True).print(
            f"warning: no crisis services are listed for --locale {locale}; the international list is used "
            f"(listed: {known})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

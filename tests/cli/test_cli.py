"""The CLI as a user runs it: a real process, real exit codes, one clear line on error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nacre._version import __version__
from tests.conftest import free_port


def nacre(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "nacre", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def nacre_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with exactly this environment (plus a wide terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "nacre", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_help_and_version() -> None:
    result = nacre("--help")
    assert result.returncode == 0
    for command in ("chat", "models", "version"):
        assert command in result.stdout
    version = nacre("version")
    assert version.returncode == 0 and f"nacre {__version__}" in version.stdout
    # The suite runs with the dev extra, which brings assess, serve and train.
    for extra in ("assess", "serve", "train"):
        line = next(line for line in version.stdout.splitlines() if line.startswith(f"extra {extra} "))
        assert line.endswith("installed"), line


def test_help_text_wraps_at_the_terminal_width_not_at_the_source_line_breaks() -> None:
    # The docstring breaks its line after "keeps every input"; a 200-column terminal must show the sentence whole,
    # and an 80-column one must wrap a paragraph without lines left half empty.
    wide = nacre("assess", "--help", env={"COLUMNS": "200"})
    assert wide.returncode == 0
    assert "Batch output keeps every input field and adds 'assessment'" in wide.stdout
    narrow = nacre("train", "assess", "--help", env={"COLUMNS": "80"})
    assert narrow.returncode == 0
    body = narrow.stdout.split("Deterministic:")[1].split("╭")[0]
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    assert len(lines) >= 3 and all(len(line) > 50 for line in lines[:-1]), lines


def test_reflow_joins_paragraph_lines_and_keeps_marked_blocks() -> None:
    from nacre.cli._app import reflow

    text = "Summary line.\n\n    First paragraph\n    goes on.\n\n    \b\n    nacre a\n    nacre b\n    "
    assert reflow(text) == "Summary line.\n\nFirst paragraph goes on.\n\n\b\nnacre a\nnacre b"
    assert reflow(None) is None


def test_models_lists_providers_with_status() -> None:
    result = nacre("models", "--json")
    assert result.returncode == 0
    rows = {r["provider"]: r for r in json.loads(result.stdout)}
    assert set(rows) >= {"openai", "embedded", "mock"}
    assert rows["mock"]["ready"] is True
    assert rows["embedded"]["needs"]
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NACRE_BASE_URL", "OPENAI_BASE_URL", "NACRE_API_KEY", "OPENAI_API_KEY")
    }
    bare = {r["provider"]: r for r in json.loads(nacre_env(clean, "models", "--json").stdout)}
    assert bare["openai"]["ready"] is False and "--base-url" in bare["openai"]["status"]
    keyed = {
        r["provider"]: r
        for r in json.loads(nacre_env({**clean, "NACRE_BASE_URL": "http://127.0.0.1:9/v1"}, "models", "--json").stdout)
    }
    assert keyed["openai"]["ready"] is True
    assert {"echo", "attacker", "leak-judge", "leaky-after-backtrack"} <= set(rows["mock"]["scripts"])
    table = nacre("models")
    assert "openai/gpt-4o-mini" in table.stdout
    assert "mock/leaky-after-backtrack" in table.stdout
    narrow = nacre("models", env={"COLUMNS": "80"})
    # Model strings stay whole (copyable) in an 80-column terminal; the prose wraps beside them.
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())
    for model in ("openai/gpt-4o-mini", "embedded/smollm2-135m", "mock/echo", "mock/leaky-after-backtrack"):
        assert model in narrow.stdout, model


def test_chat_once_with_mock_and_cache(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    first = nacre("chat", "-m", "mock/echo", "--once", "hello there", "--db", str(db))
    assert first.returncode == 0
    assert first.stdout.strip() == "hello there"
    assert "mock/echo" in first.stderr
    second = nacre("chat", "-m", "mock/echo", "--once", "hello there", "--db", str(db))
    assert second.stdout.strip() == "hello there" and "cache" in second.stderr


def test_chat_json_schema(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}))
    result = nacre("chat", "-m", "mock/json", "--once", "x", "--json-schema", str(schema), "--no-cache")
    assert result.returncode == 0 and json.loads(result.stdout) == {"ok": False}
    schema.write_text("[1, 2")
    assert_one_line_error(
        nacre("chat", "-m", "mock/json", "--once", "x", "--json-schema", str(schema), "--no-cache"),
        "cannot read JSON schema",
    )


def test_interactive_repl_keeps_history_and_resets(tmp_path: Path) -> None:
    script = "first message\nsecond message\n/reset\nthird\n/exit\n"
    result = nacre("chat", "-m", "mock/echo", "--no-cache", input=script)
    assert result.returncode == 0, result.stderr
    assert "mock model" in result.stdout  # a mock announces itself
    assert result.stdout.count("first message") == 1
    assert "conversation cleared" in result.stdout
    assert "third" in result.stdout


def test_repl_ends_cleanly_on_eof() -> None:
    result = nacre("chat", "-m", "mock/echo", "--no-cache", input="hi\n")
    assert result.returncode == 0 and "Traceback" not in result.stderr


def test_text_that_is_not_utf8_is_one_line() -> None:
    # A byte that is not UTF-8 (here 0xe9) reaches Python as the surrogate escape U+DCE9.
    assert_one_line_error(nacre("chat", "-m", "mock/echo", "--no-cache", "--once", "caf\udce9"), "--once is not UTF-8")
    assert_one_line_error(
        nacre("chat", "-m", "mock/echo", "--no-cache", "-s", "caf\udce9", "--once", "hi"), "--system is not UTF-8"
    )
    assert_one_line_error(nacre("guard", "--no-generate", "caf\udce9"), "the message is not UTF-8")


@pytest.mark.parametrize("guard", [(), ("--guard",)])
def test_a_line_that_is_not_utf8_is_refused_and_the_session_goes_on(guard: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nacre", "chat", *guard, "-m", "mock/echo", "--no-cache"],
        input=b"caf\xe9 au lait?\nhello again\n",
        capture_output=True,
        env={**os.environ, "COLUMNS": "200", "LC_ALL": "C.UTF-8"},
        timeout=120,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0 and "Traceback" not in stderr, stderr
    assert "error: this message is not UTF-8 text" in stderr
    assert "hello again" in stdout  # the next line is answered


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("chat", "-m", "nosuch/model", "--once", "hi", "--no-cache"), "unknown model provider 'nosuch'"),
        (("chat", "-m", "gpt-4o", "--once", "hi", "--no-cache"), "not of the form provider/model"),
        (("chat", "-m", "openai/x", "--base-url", "localhost", "--once", "hi", "--no-cache"), "must look like"),
        (("chat", "-m", "mock/echo", "-O", "novalue", "--once", "hi", "--no-cache"), "not KEY=VALUE"),
    ],
)
def test_user_mistakes_print_one_line(args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(nacre(*args), needle)


def test_unreachable_base_url_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = nacre("chat", "-m", "openai/x", "--base-url", url, "--once", "hi", "--max-retries", "1", "--no-cache")
    assert_one_line_error(result, f"cannot reach {url}")


def test_missing_extra_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "llama_cpp.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'llama_cpp'\", name='llama_cpp')\n"
    )
    result = nacre(
        "chat", "-m", "embedded/smollm2-135m", "--once", "hi", "--no-cache", env={"PYTHONPATH": str(blocker)}
    )
    assert_one_line_error(result, "needs the `embedded` extra")
    assert "nacre[embedded]" in result.stderr


def test_bad_store_file_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"garbage" * 200)
    assert_one_line_error(nacre("chat", "-m", "mock/echo", "--once", "hi", "--db", str(junk)), "not a SQLite database")


@pytest.mark.embedded
def test_chat_once_on_the_embedded_model(smollm2_path: Path) -> None:
    result = nacre("chat", "--once", "Say hi.", "--max-tokens", "12", "--no-cache")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "embedded/smollm2-135m" in result.stderr


@pytest.mark.parametrize("stream", [True, False])
def test_a_piped_reply_is_the_model_text_exactly(stream: bool) -> None:
    text = "A reply longer than an 80-column terminal, with a code :smile: that must stay as written, and [brackets]."
    args = ("chat", "-m", "mock/echo", "--no-cache", "--once", text, *(() if stream else ("--no-stream",)))
    result = nacre(*args, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == text + "\n"


def test_flags_show_no_value_type_in_help() -> None:
    # "--json <bool>" suggested "--json true", which the parser refuses.
    lines = nacre("guard", "--help").stdout.splitlines()
    json_line = next(line for line in lines if "--json" in line)
    assert "<bool>" not in json_line and "<str>" in next(line for line in lines if "--model" in line)
    for command in ((), ("guard",), ("bench", "xstest"), ("runs",)):  # --help itself is a flag too
        assert "<bool>" not in nacre(*command, "--help").stdout, command

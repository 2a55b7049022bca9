"""`nacre serve` as a user runs it: a real process, one clear error line, a real server that answers and stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from nacre.serve import MockUpstream
from tests.cli.test_cli import assert_one_line_error
from tests.conftest import free_port
from tests.serve.conftest import UPSTREAM_MODEL

# The command is registered in nacre.cli._app; registering it here as well keeps these tests independent of that.
SERVE = (
    "import sys; from nacre.cli import _app, _serve; "
    "_app.app.command(name='serve', epilog=_serve.EPILOG)(_serve.serve); _app.main()"
)


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", SERVE, "serve", *args]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command that must fail before serving (a success would block, so the timeout is short)."""
    full_env = {k: v for k, v in os.environ.items() if k != "NACRE_API_KEYS"}
    full_env.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run(command(*args, "--no-audit"), capture_output=True, text=True, env=full_env, timeout=60)


def test_public_bind_without_keys_refuses_to_start() -> None:
    result = run("--upstream", "http://127.0.0.1:9/v1", "--upstream-model", "m", "--host", "0.0.0.0")
    assert_one_line_error(result, "refusing to listen on 0.0.0.0 without API keys")


def test_needs_an_upstream_and_valid_keys(tmp_path: Path) -> None:
    assert_one_line_error(run(), "give --upstream URL --upstream-model NAME, or --embedded")
    short = run("--upstream", "http://127.0.0.1:9/v1", "--upstream-model", "m", env={"NACRE_API_KEYS": "abc"})
    assert_one_line_error(short, "at least 16 characters")


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--upstream", "http://127.0.0.1:9/v1", "--upstream-model", "m", "--port", str(port))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


def test_serves_until_interrupted(mock_upstream: tuple[MockUpstream, str], tmp_path: Path) -> None:
    _, upstream_url = mock_upstream
    port = free_port()
    audit = tmp_path / "audit.db"
    env = {**os.environ, "NACRE_UPSTREAM_API_KEY": "sk-upstream-secret-value"}
    env.pop("NACRE_API_KEYS", None)
    proc = subprocess.Popen(
        command(
            "--upstream",
            upstream_url,
            "--upstream-model",
            UPSTREAM_MODEL,
            "--port",
            str(port),
            "--audit-db",
            str(audit),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "nacre serve did not start in 60 s"
            time.sleep(0.2)
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={
                "model": f"nacre/{UPSTREAM_MODEL}",
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
            },
            timeout=60,
        )
        assert reply.status_code == 200 and reply.json()["nacre"]["strategy"] == "comply"
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert f"nacre serve: http://127.0.0.1:{port}/v1" in output and "content: hash" in output
    assert "sk-upstream-secret-value" not in output
    assert audit.exists()

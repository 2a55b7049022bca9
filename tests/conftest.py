"""Shared fixtures: the real embedded model, a real llama.cpp server on loopback, a scripted HTTP server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from nacre.errors import NacreError
from nacre.models import locate_model

REQUIRE_EMBEDDED = os.environ.get("NACRE_REQUIRE_EMBEDDED") == "1"


def pytest_configure(config: pytest.Config) -> None:
    # Speed is measured in benchmarks/, not asserted by tests: Hypothesis's per-example deadline would only make
    # property tests fail on a busy machine.
    from hypothesis import settings

    settings.register_profile("nacre", deadline=None)
    settings.load_profile("nacre")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real SmolLM2 GGUF; `make test` sets NACRE_REQUIRE_EMBEDDED=1 so a missing model fails instead of skipping."""
    try:
        import llama_cpp  # noqa: F401

        return locate_model("smollm2-135m")
    except (ImportError, NacreError) as exc:
        if REQUIRE_EMBEDDED:
            pytest.fail(f"embedded model required but unavailable: {exc}")
        pytest.skip(f"embedded model unavailable: {exc}")


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m llama_cpp.server` serving SmolLM2 on loopback; yields its /v1 base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(smollm2_path),
                "--model_alias",
                "smollm2",
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited early:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not become ready in 60 s")
            time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class ScriptedServer:
    """A real HTTP server on loopback that answers requests from a script of (status, body, headers)."""

    base_url: str
    script: list[tuple[int, dict[str, object], dict[str, str]]]
    requests: list[dict[str, object]] = field(default_factory=list)


def chat_completion_body(text: str, model: str = "scripted") -> dict[str, object]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


@pytest.fixture
def scripted_server() -> Iterator[Callable[[list[tuple[int, dict[str, object], dict[str, str]]]], ScriptedServer]]:
    """Start scripted OpenAI-style servers; each request pops the next scripted answer (the last one repeats)."""
    servers: list[ThreadingHTTPServer] = []

    def start(script: list[tuple[int, dict[str, object], dict[str, str]]]) -> ScriptedServer:
        state = ScriptedServer(base_url="", script=list(script))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                state.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                status, body, headers = state.script.pop(0) if len(state.script) > 1 else state.script[0]
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()

"""A small OpenAI-compatible model server for tests, benchmarks and trying ``nacre serve`` without a model.

It answers ``POST /v1/chat/completions`` (plain and streamed) and ``GET /v1/models`` with a fixed latency. A request
can steer it through a top-level ``mock_upstream`` object (which a proxy passes through like any unknown field):
``{"status": 503}`` answers with that error status (``"message"`` sets its text), ``{"latency_s": 2}`` waits that
long, ``{"die_after": 3}`` cuts a stream off after three chunks, ``{"reply": "..."}`` sets the reply,
``{"finish_reason": "length"}`` the reason it reports for stopping.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.types import Receive, Scope, Send

DEFAULT_REPLY = "Here is a short, friendly answer from the mock model. I hope it helps!"

Reply = str | Callable[[Sequence[Mapping[str, Any]]], str]


class MockUpstreamDied(RuntimeError):
    """Raised inside the app to cut a stream off mid-way (the server then drops the connection)."""


class MockUpstream:
    """An ASGI app that imitates an OpenAI-compatible server.

    Args:
        model: The model name it serves.
        reply: The reply text, or a function of the request's messages that returns it.
        latency_s: Seconds before answering (before the first chunk when streaming).
        chunk_delay_s: Seconds between streamed chunks.
        chunk_chars: Characters per streamed chunk.
        keep: How many request bodies to remember in :attr:`requests` (newest last).
    """

    def __init__(
        self,
        *,
        model: str = "mock-model",
        reply: Reply = DEFAULT_REPLY,
        latency_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        chunk_chars: int = 8,
        keep: int = 200,
    ) -> None:
        self.model = model
        self.reply = reply
        self.latency_s = latency_s
        self.chunk_delay_s = chunk_delay_s
        self.chunk_chars = max(1, chunk_chars)
        self.requests: deque[dict[str, Any]] = deque(maxlen=keep)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"].rstrip("/"), scope["method"]
        if method == "GET" and path == "/v1/models":
            await _json(
                send, 200, {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "mock"}]}
            )
            return
        if method != "POST" or path != "/v1/chat/completions":
            await _json(send, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(raw)
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            await _json(send, 400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
            return
        self.requests.append(body)
        controls = body.get("mock_upstream") if isinstance(body.get("mock_upstream"), dict) else {}
        latency = float(controls.get("latency_s", self.latency_s))
        if latency > 0:
            await asyncio.sleep(latency)
        status = int(controls.get("status", 200))
        if status != 200:
            message = controls.get("message", f"mock failure {status}")
            await _json(send, status, {"error": {"message": str(message), "type": "server_error"}})
            return
        reply = controls.get("reply")
        text = reply if isinstance(reply, str) else self.reply if isinstance(self.reply, str) else self.reply(messages)
        finish = str(controls.get("finish_reason", "stop"))
        if body.get("stream"):
            await self._stream(send, text, body, controls.get("die_after"), finish)
            return
        words = max(1, len(text.split()))
        await _json(
            send,
            200,
            {
                "id": "chatcmpl-mock",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words},
            },
        )

    async def _stream(self, send: Send, text: str, body: Mapping[str, Any], die_after: Any, finish: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        created = int(time.time())
        pieces = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]
        for i, piece in enumerate(pieces):
            if isinstance(die_after, int) and i >= die_after:
                raise MockUpstreamDied(f"mock upstream died after {i} chunks")
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            chunk = {
                "id": "chatcmpl-mock",
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
            await send({"type": "http.response.body", "body": _event(chunk), "more_body": True})
            if self.chunk_delay_s > 0:
                await asyncio.sleep(self.chunk_delay_s)
        last = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
        }
        tail = _event(last)
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}
            tail += _event({**last, "choices": [], "usage": usage})
        await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n", "more_body": False})


def _event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n\n"


async def _json(send: Send, status: int, body: Mapping[str, Any]) -> None:
    payload = json.dumps(body).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})

"""Server-sent events in the OpenAI chunk format: relaying the upstream, streaming a guarded reply, error events.

Once a stream has started its HTTP status is fixed at 200, so failures after that point are reported the way the
OpenAI SDKs expect: a ``data: {"error": {...}}`` event, and no ``[DONE]`` after it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Send

from nacre.models import Usage
from nacre.respond import ResponseResult, ResponseStream
from nacre.serve._errors import SERVER, error_body
from nacre.serve._upstream import UpstreamError, UpstreamStream
from nacre.serve._wire import chunk_body, chunk_text, usage_body

logger = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
SSE_HEADERS: Mapping[str, str] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: Mapping[str, Any]) -> bytes:
    """One ``data:`` event holding a JSON object."""
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n\n"


@dataclass(slots=True)
class StreamOutcome:
    """What happened in one stream, filled in as it runs (for the audit log and metrics).

    Attributes:
        parts: The text sent, piece by piece.
        chunks: Content events sent.
        completed: Whether the stream ended normally.
        error: The error reported mid-stream, if any.
        error_kind: The upstream failure kind, if any.
        result: For a guarded stream, the responder's result.
        first_chunk_s: Seconds from the start of streaming to the first content event.
        started: ``perf_counter`` when streaming started.
    """

    parts: list[str] = field(default_factory=list)
    chunks: int = 0
    completed: bool = False
    error: str | None = None
    error_kind: str | None = None
    result: ResponseResult | None = None
    first_chunk_s: float | None = None
    started: float = field(default_factory=time.perf_counter)

    def add(self, text: str) -> None:
        """Record a piece of text sent to the client."""
        if text:
            if self.first_chunk_s is None:
                self.first_chunk_s = time.perf_counter() - self.started
            self.parts.append(text)

    @property
    def text(self) -> str:
        """All text sent."""
        return "".join(self.parts)


class SSEResponse(StreamingResponse):
    """A streaming response that always closes its event generator.

    So the upstream connection is released even when the client goes away mid-stream.

    Args:
        events: The event generator.
        headers: Extra headers.
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(events, headers={**SSE_HEADERS, **(headers or {})})
        self._events = events

    async def stream_response(self, send: Send) -> None:
        """Send the events; close the generator whatever happens."""
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()


async def relay(
    stream: UpstreamStream,
    outcome: StreamOutcome,
    *,
    first_extra: Mapping[str, Any] | None,
    on_done: Callable[[StreamOutcome], None],
) -> AsyncGenerator[bytes, None]:
    """Pass the upstream's chunks through, adding ``first_extra`` fields to the first one.

    Args:
        stream: The upstream stream (already accepted).
        outcome: Filled in as the stream runs.
        first_extra: Fields added to the first chunk (the ``nacre`` field), or ``None``.
        on_done: Called once at the end, whatever happened.

    Yields:
        SSE events.
    """
    try:
        async for chunk in stream:
            if outcome.chunks == 0 and first_extra:
                chunk.update(first_extra)
            outcome.chunks += 1
            outcome.add(chunk_text(chunk))
            yield sse(chunk)
        outcome.completed = True
        yield DONE
    except UpstreamError as exc:
        logger.warning("serve: upstream stream failed: %s", exc.message)
        outcome.error, outcome.error_kind = exc.message, exc.kind
        yield sse(exc.to_api_error().body())
    except Exception as exc:  # a bug must not leave the client waiting; report it as an error event
        logger.exception("serve: relaying the upstream stream failed")
        outcome.error, outcome.error_kind = f"{type(exc).__name__}: {exc}", "internal"
        yield sse(error_body("internal error in the nacre proxy; see its log", type=SERVER, code="internal_error"))
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        on_done(outcome)


async def guarded(
    reply: ResponseStream,
    outcome: StreamOutcome,
    *,
    pieces: AsyncIterator[str],
    request_id: str,
    model: str,
    first_extra: Mapping[str, Any] | None,
    final_extra: Callable[[ResponseResult], Mapping[str, Any]] | None,
    usage: Callable[[], Usage] | None,
    on_done: Callable[[StreamOutcome], None],
    finish: Callable[[ResponseResult], str] | None = None,
    as_refusal: bool = False,
) -> AsyncGenerator[bytes, None]:
    """Stream a guarded reply: the responder's checked pieces as OpenAI chunks.

    The responder already fails closed (an upstream failure ends in curated text), so errors here are bugs; they
    still end the stream with a clean error event.

    Args:
        reply: The responder's stream (its result and its closing; the text comes from ``pieces``).
        outcome: Filled in as the stream runs.
        pieces: The reply's chunks: the caller awaits the first one before anything is sent, so that an upstream
            that failed before any text existed is answered with its HTTP error.
        request_id: The request id.
        model: The model name to report.
        first_extra: Fields added to the first chunk (the ``nacre`` field), or ``None``.
        final_extra: Fields for the last chunk, from the responder's result, or ``None``.
        usage: Token counts for a final usage chunk (when the client asked for one), or ``None``.
        on_done: Called once at the end, whatever happened.
        finish: The last chunk's ``finish_reason`` from the responder's result (default ``stop``).
        as_refusal: Stream the text as ``refusal`` deltas (the request asked for a structured reply it cannot have).

    Yields:
        SSE events.
    """
    created = int(time.time())
    first = chunk_body(request_id=request_id, model=model, created=created, delta={"role": "assistant", "content": ""})
    if first_extra:
        first.update(first_extra)
    try:
        yield sse(first)
        async for piece in pieces:
            outcome.chunks += 1
            outcome.add(piece)
            delta = {"refusal": piece} if as_refusal else {"content": piece}
            yield sse(chunk_body(request_id=request_id, model=model, created=created, delta=delta))
        result = reply.result
        outcome.result = result
        reason = finish(result) if finish is not None else "stop"
        last = chunk_body(request_id=request_id, model=model, created=created, delta={}, finish_reason=reason)
        if final_extra is not None:
            last.update(final_extra(result))
        yield sse(last)
        if usage is not None:
            tail = chunk_body(request_id=request_id, model=model, created=created, delta=None)
            tail["usage"] = usage_body(usage())
            yield sse(tail)
        outcome.completed = True
        yield DONE
    except Exception as exc:  # a bug must not leave the client waiting
        logger.exception("serve: streaming a guarded reply failed")
        outcome.error, outcome.error_kind = f"{type(exc).__name__}: {exc}", "internal"
        yield sse(error_body("internal error in the nacre proxy; see its log", type=SERVER, code="internal_error"))
    finally:
        with anyio.CancelScope(shield=True):
            await reply.aclose()
        on_done(outcome)


async def single(
    text: str,
    outcome: StreamOutcome,
    *,
    request_id: str,
    model: str,
    first_extra: Mapping[str, Any] | None,
    on_done: Callable[[StreamOutcome], None],
) -> AsyncGenerator[bytes, None]:
    """Stream a reply that is already known (the fail-closed reply when assessing failed).

    Yields:
        SSE events.
    """
    created = int(time.time())
    chunk = chunk_body(
        request_id=request_id, model=model, created=created, delta={"role": "assistant", "content": text}
    )
    if first_extra:
        chunk.update(first_extra)
    try:
        outcome.chunks, outcome.completed = 1, True
        outcome.add(text)
        yield sse(chunk)
        yield sse(chunk_body(request_id=request_id, model=model, created=created, delta={}, finish_reason="stop"))
        yield DONE
    finally:
        on_done(outcome)

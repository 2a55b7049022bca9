"""The upstream as the guard's generator, for one request: the client's settings, the guard's messages."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from nacre.conversation import Conversation
from nacre.models import Capabilities, Completion, GenerationConfig, StreamChunk, Usage
from nacre.serve._upstream import Upstream, UpstreamError
from nacre.serve._wire import chunk_text, message_text, usage_of

# A guarded reply is plain text checked against its strategy's contract, so fields that would turn it into tool
# calls or a fixed format, and nacre's own options, are not sent upstream on this path.
GUARDED_DROPS = frozenset(
    {
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "parallel_tool_calls",
        "response_format",
        "logprobs",
        "top_logprobs",
        "n",
        "stream",
        "stream_options",
        "nacre",
    }
)


class UpstreamChatModel:
    """A :class:`~nacre.models.ChatModel` that sends the guard's conversation upstream with the client's settings.

    The guard's responder calls it with the conversation it built (its system-prompt scaffold first); sampling
    settings come from the client's request, not from the responder, except that a request without a token limit
    gets ``default_max_tokens`` (repairs may call the model more than once). Token usage adds up over calls, and
    ``failure`` keeps the last upstream error, so the proxy can answer it as an error instead of a fallback reply, and
    ``finish_reason`` the last call's (``length`` when the client's token limit cut the reply).

    Args:
        upstream: The model server.
        body: The client's request body.
        default_max_tokens: Token limit when the request sets none.
    """

    def __init__(self, upstream: Upstream, body: Mapping[str, Any], *, default_max_tokens: int = 400) -> None:
        self._upstream = upstream
        base = {k: v for k, v in body.items() if k not in GUARDED_DROPS}
        base["model"] = upstream.model
        if base.get("max_tokens") is None and base.get("max_completion_tokens") is None:
            base["max_tokens"] = default_max_tokens
        self._base = base
        self.usage = Usage()
        self.calls = 0
        self.failure: UpstreamError | None = None
        self.finish_reason: str | None = None
        self._stream_usage = True

    @property
    def model_id(self) -> str:
        """``upstream/<model>``."""
        return f"upstream/{self._upstream.model}"

    @property
    def capabilities(self) -> Capabilities:
        """Streaming; no structured output (the responder never asks for it)."""
        return Capabilities(streaming=True, json_schema=False, seed=True)

    @property
    def cache_identity(self) -> str:
        """Endpoint and model."""
        return f"upstream|{self._upstream.description}|{self._upstream.model}"

    def _body(self, conversation: Conversation, *, stream: bool) -> dict[str, Any]:
        body = dict(self._base)
        body["messages"] = conversation.to_openai()
        if stream:
            body["stream"] = True
            if self._stream_usage:
                # Without it an OpenAI-compatible server reports no token counts on a stream, and the guarded
                # reply's usage would leave out every streamed call.
                body["stream_options"] = {"include_usage": True}
        return body

    def _count(self, usage: Usage | None) -> None:
        if usage is not None:
            self.usage = Usage(
                self.usage.prompt_tokens + usage.prompt_tokens,
                self.usage.completion_tokens + usage.completion_tokens,
            )

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        """One non-streaming call upstream.

        Raises:
            UpstreamError: If the upstream fails (the responder then falls back to curated snippets).
        """
        start = time.perf_counter()
        self.calls += 1
        try:
            data = await self._upstream.complete(self._body(conversation, stream=False))
        except UpstreamError as exc:
            self.failure = exc
            raise
        usage = usage_of(data)
        self._count(usage)
        choices = data.get("choices") or [{}]
        finish = choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
        self.finish_reason = finish if isinstance(finish, str) else None
        return Completion(
            text=message_text(data),
            model_id=self.model_id,
            usage=usage or Usage(),
            latency_s=time.perf_counter() - start,
            finish_reason=finish if isinstance(finish, str) else None,
        )

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        """One streaming call upstream; the last chunk carries the completion.

        Raises:
            UpstreamError: If the upstream fails or the stream breaks off.
        """
        start = time.perf_counter()
        self.calls += 1
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        try:
            try:
                source = await self._upstream.open_stream(self._body(conversation, stream=True))
            except UpstreamError as exc:
                if not (self._stream_usage and exc.kind == "status" and exc.status == 400):
                    raise
                self._stream_usage = False  # some servers reject stream_options: ask again without it
                source = await self._upstream.open_stream(self._body(conversation, stream=True))
            try:
                async for chunk in source:
                    usage = usage_of(chunk) or usage
                    finish = _finish_of(chunk) or finish
                    delta = chunk_text(chunk)
                    if delta:
                        parts.append(delta)
                        yield StreamChunk(delta=delta)
            finally:
                await source.aclose()
        except UpstreamError as exc:
            self.failure = exc
            raise
        self._count(usage)
        self.finish_reason = finish or "stop"
        yield StreamChunk(
            delta="",
            completion=Completion(
                text="".join(parts),
                model_id=self.model_id,
                usage=usage or Usage(0, len(parts)),
                latency_s=time.perf_counter() - start,
                finish_reason=self.finish_reason,
            ),
        )

    async def aclose(self) -> None:
        """Nothing to release: the upstream's pool is shared and closed with the app."""


def _finish_of(chunk: Mapping[str, Any]) -> str | None:
    """A stream chunk's ``finish_reason``, if it carries one."""
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        finish = choices[0].get("finish_reason")
        return finish if isinstance(finish, str) else None
    return None

"""Per-endpoint concurrency limits shared by every role that calls the same server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from nacre.attack._target import Target, TargetReply
from nacre.conversation import Conversation
from nacre.models import Capabilities, ChatModel, Completion, GenerationConfig, StreamChunk


class EndpointLimits:
    """One semaphore per endpoint (a model's ``cache_identity``), created on first use.

    Rate-limit waits (HTTP 429) happen inside the provider while the slot is held, which is what keeps a
    throttled server from being hammered by the other waiting calls.

    Args:
        concurrency: In-flight calls allowed per endpoint.
    """

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    def semaphore(self, endpoint: str) -> asyncio.Semaphore:
        """The semaphore of one endpoint."""
        if endpoint not in self._semaphores:
            self._semaphores[endpoint] = asyncio.Semaphore(self.concurrency)
        return self._semaphores[endpoint]

    def wrap(self, model: ChatModel) -> ChatModel:
        """The model with its calls limited by its endpoint's semaphore."""
        return LimitedModel(model, self.semaphore(model.cache_identity))


class LimitedModel:
    """A chat model whose calls wait for a slot of a shared semaphore."""

    def __init__(self, model: ChatModel, semaphore: asyncio.Semaphore) -> None:
        self.inner = model
        self._semaphore = semaphore

    @property
    def model_id(self) -> str:
        """The wrapped model's id."""
        return self.inner.model_id

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped model's capabilities."""
        return self.inner.capabilities

    @property
    def cache_identity(self) -> str:
        """The wrapped model's cache identity."""
        return self.inner.cache_identity

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        """Generate once a slot is free."""
        async with self._semaphore:
            return await self.inner.generate(conversation, config=config)

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Stream while holding a slot."""
        async with self._semaphore:
            async for chunk in self.inner.stream(conversation, config=config):
                yield chunk

    async def aclose(self) -> None:
        """Close the wrapped model."""
        await self.inner.aclose()


class LimitedTarget:
    """A target whose sends wait for a slot of a shared semaphore (for targets built by the caller)."""

    def __init__(self, target: Target, semaphore: asyncio.Semaphore) -> None:
        self.inner = target
        self._semaphore = semaphore

    @property
    def target_id(self) -> str:
        """The wrapped target's id."""
        return self.inner.target_id

    async def send(self, conversation: Conversation) -> TargetReply:
        """Send once a slot is free."""
        async with self._semaphore:
            return await self.inner.send(conversation)

"""A content-addressed response cache in front of any chat model."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from typing import Protocol

from nacre.conversation import Conversation, canonical_json
from nacre.models._types import Capabilities, ChatModel, Completion, GenerationConfig, StreamChunk


class ResponseCache(Protocol):
    """Where cached completions live (the SQLite :class:`nacre.store.Store` implements this)."""

    def cache_get(self, key: str) -> Completion | None:
        """Return the completion stored under ``key``, if any."""
        ...

    def cache_put(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key``."""
        ...


def cache_key(model: ChatModel, conversation: Conversation, config: GenerationConfig) -> str:
    """The cache key: SHA-256 over provider, endpoint, model, messages, generation parameters and seed.

    Args:
        model: The model (its ``cache_identity`` names provider, endpoint and model).
        conversation: The prompt.
        config: Generation parameters (seed included).

    Returns:
        A hex digest.
    """
    material = canonical_json(
        {"model": model.cache_identity, "messages": conversation.to_openai(), "params": config.cache_params()}
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class CachedChatModel:
    """Wraps a chat model so that a repeated deterministic request is answered from a cache.

    Only deterministic requests (temperature 0, or a fixed seed) are cached: caching a sampled reply would
    silently turn a random draw into a constant.

    Args:
        model: The model to wrap.
        cache: Where completions are kept.
    """

    def __init__(self, model: ChatModel, cache: ResponseCache) -> None:
        self._model = model
        self._cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def model_id(self) -> str:
        """The wrapped model's id."""
        return self._model.model_id

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped model's capabilities."""
        return self._model.capabilities

    @property
    def cache_identity(self) -> str:
        """The wrapped model's cache identity."""
        return self._model.cache_identity

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        """Return the cached completion, or generate and cache it."""
        config = config or GenerationConfig()
        if not config.deterministic:
            return await self._model.generate(conversation, config=config)
        key = cache_key(self._model, conversation, config)
        hit = self._cache.cache_get(key)
        if hit is not None:
            self.hits += 1
            return dataclasses.replace(hit, cached=True, latency_s=0.0, rate_limited=0, retries=0)
        self.misses += 1
        completion = await self._model.generate(conversation, config=config)
        self._cache.cache_put(key, completion)
        return completion

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Replay a cached completion as one chunk, or stream and cache the result."""
        config = config or GenerationConfig()
        key = cache_key(self._model, conversation, config) if config.deterministic else None
        hit = self._cache.cache_get(key) if key is not None else None
        if hit is not None:
            self.hits += 1
            yield StreamChunk(delta=hit.text)
            yield StreamChunk(delta="", completion=dataclasses.replace(hit, cached=True, latency_s=0.0))
            return
        if key is not None:
            self.misses += 1
        async for chunk in self._model.stream(conversation, config=config):
            if chunk.completion is not None and key is not None:
                self._cache.cache_put(key, chunk.completion)
            yield chunk

    async def aclose(self) -> None:
        """Close the wrapped model."""
        await self._model.aclose()

"""Value types and the protocol every chat-model provider implements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from nacre.conversation import Conversation, canonical_json


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """Sampling and output settings for one generation.

    Attributes:
        max_tokens: Upper bound on generated tokens.
        temperature: Sampling temperature; 0 means greedy.
        top_p: Nucleus-sampling mass.
        seed: Random seed, where the backend honours one.
        stop: Stop sequences.
        json_schema: If set, ask for a JSON object matching this schema (structured output).
        schema_name: A short name for the schema; some servers require one.
    """

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    json_schema: Mapping[str, Any] | None = None
    schema_name: str = "response"

    def cache_params(self) -> str:
        """Canonical JSON of every parameter that changes the output; part of the response-cache key."""
        return canonical_json(
            {
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "seed": self.seed,
                "stop": list(self.stop),
                "json_schema": dict(self.json_schema) if self.json_schema is not None else None,
                "schema_name": self.schema_name,
            }
        )

    @property
    def deterministic(self) -> bool:
        """Whether repeating the call should give the same output (greedy, or sampled with a fixed seed)."""
        return self.temperature == 0 or self.seed is not None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one generation.

    Attributes:
        prompt_tokens: Tokens in the prompt, as counted by the backend.
        completion_tokens: Tokens generated.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    """The result of one generation.

    Attributes:
        text: The generated text.
        model_id: The full model string that produced it, e.g. ``openai/gpt-4o-mini``.
        usage: Token counts.
        latency_s: Wall-clock seconds spent on the call, retries and back-off included.
        finish_reason: Why generation stopped (``stop``, ``length``, ...), when known.
        cached: True if the text came from the response cache rather than the model.
        rate_limited: How many HTTP 429 answers were waited out (never counted as failures).
        retries: How many failed attempts (5xx, timeouts, connection errors) were retried.
    """

    text: str
    model_id: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    finish_reason: str | None = None
    cached: bool = False
    rate_limited: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a streamed generation.

    Attributes:
        delta: Text added by this chunk (may be empty on the final chunk).
        completion: Set on the last chunk only: the whole completion with usage and latency.
    """

    delta: str
    completion: Completion | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do.

    Attributes:
        streaming: Supports :meth:`ChatModel.stream`.
        json_schema: Can constrain output to a JSON schema (otherwise it is only asked for in the prompt).
        seed: Honours ``GenerationConfig.seed``.
    """

    streaming: bool = True
    json_schema: bool = False
    seed: bool = False


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: turns a conversation into the next assistant message.

    Implementations are created by :func:`nacre.models.get_model` from a model string, or directly.
    """

    @property
    def model_id(self) -> str:
        """The full model string, ``provider/name``."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this model supports."""
        ...

    @property
    def cache_identity(self) -> str:
        """Everything besides messages and parameters that determines outputs (provider, endpoint, model)."""
        ...

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        """Generate the next assistant message.

        Args:
            conversation: The messages so far.
            config: Sampling and output settings; defaults to :class:`GenerationConfig` ().

        Returns:
            The completion.
        """
        ...

    def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Generate the next assistant message piece by piece; the last chunk carries the completion."""
        ...

    async def aclose(self) -> None:
        """Release connections or other resources."""
        ...

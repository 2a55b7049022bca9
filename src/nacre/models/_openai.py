"""``openai/<model>``: any OpenAI-compatible chat endpoint through the official ``openai`` SDK."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast
from urllib.parse import urlsplit

from nacre.conversation import Conversation
from nacre.errors import (
    ConfigError,
    ModelRejectedError,
    ModelRequestError,
    ModelUnavailableError,
    StructuredOutputError,
)
from nacre.models._registry import ModelSettings
from nacre.models._retry import RetryPolicy, parse_retry_after
from nacre.models._types import Capabilities, ChatModel, Completion, GenerationConfig, StreamChunk, Usage

if TYPE_CHECKING:
    # The SDK takes about a second to import, so it is imported where first needed, not with nacre.
    import openai
    from openai.types.chat import ChatCompletionChunk

logger = logging.getLogger(__name__)

T = TypeVar("T")
JsonMode = Literal["json_schema", "json_object", "prompt"]
_JSON_MODES: tuple[JsonMode, ...] = ("json_schema", "json_object", "prompt")
_NO_KEY = "no-key-needed"


class OpenAIChatModel:
    """A chat model behind an OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, llama.cpp server, nacre).

    Args:
        model: The model name the server knows.
        base_url: Endpoint root, e.g. ``http://127.0.0.1:8080/v1``; ``None`` means OpenAI's own API.
        api_key: API key; local servers usually need none.
        timeout_s: Per-request timeout.
        retry: Retry and back-off policy.
        json_mode: How to ask for JSON-schema output. ``json_schema`` (OpenAI structured outputs) falls back
            to ``json_object`` with an attached schema (llama.cpp, vLLM) and then to instructions in the prompt
            when the server rejects the stricter form.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        json_mode: JsonMode = "json_schema",
    ) -> None:
        self._model = model
        self._base_url = base_url
        self._retry = retry or RetryPolicy()
        self._json_mode: JsonMode = json_mode
        self._stream_usage = True
        import openai

        # The SDK's own retries are off so that 429s and failures are counted separately here.
        self._client = openai.AsyncOpenAI(
            api_key=api_key or _NO_KEY, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    @property
    def model_id(self) -> str:
        """``openai/<model>``."""
        return f"openai/{self._model}"

    @property
    def capabilities(self) -> Capabilities:
        """Streaming and seeds always; JSON schemas unless the server rejected every structured form."""
        return Capabilities(streaming=True, json_schema=self._json_mode != "prompt", seed=True)

    @property
    def cache_identity(self) -> str:
        """Provider, endpoint and model name."""
        return f"openai|{self._base_url or 'https://api.openai.com/v1'}|{self._model}"

    def _request(self, conversation: Conversation, config: GenerationConfig) -> dict[str, Any]:
        messages = conversation.to_openai()
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        if config.seed is not None:
            body["seed"] = config.seed
        if config.stop:
            body["stop"] = list(config.stop)
        if config.json_schema is not None:
            schema = dict(config.json_schema)
            if self._json_mode == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": config.schema_name, "schema": schema, "strict": True},
                }
            elif self._json_mode == "json_object":
                body["response_format"] = {"type": "json_object", "schema": schema}
            else:
                body["messages"] = [
                    *messages,
                    {
                        "role": "user",
                        "content": "Answer with one JSON object that matches this JSON schema, and nothing else:\n"
                        + json.dumps(schema),
                    },
                ]
        return body

    async def _call(self, make: Callable[[], Awaitable[T]], counters: list[int], *, structured: bool) -> T:
        """Run ``make`` with retries; ``counters`` is ``[rate_limited, retries]`` and is updated in place."""
        import openai

        while True:
            try:
                return await make()
            except openai.APIStatusError as exc:
                if structured and _rejects_response_format(exc) and self._downgrade_json_mode(exc):
                    raise _RetryWithNewJsonMode from None
                if exc.status_code == 429:
                    counters[0] += 1
                    if counters[0] > self._retry.max_rate_limit_waits:
                        raise ModelRequestError(
                            f"{self.model_id}: still rate-limited (HTTP 429) after {counters[0] - 1} waits"
                        ) from None
                    retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
                    delay = self._retry.delay(counters[0], retry_after)
                    logger.info("%s: rate limited, waiting %.2fs", self.model_id, delay)
                elif exc.status_code >= 500:
                    delay = self._failed(exc, counters)
                else:
                    raise ModelRejectedError(
                        f"{self.model_id}: request rejected (HTTP {exc.status_code}): {_short(exc.message)}"
                    ) from None
            except openai.APIConnectionError as exc:
                delay = self._failed(exc, counters)
            await asyncio.sleep(delay)

    def _failed(self, exc: Exception, counters: list[int]) -> float:
        counters[1] += 1
        if counters[1] > self._retry.max_retries:
            raise self._unavailable(exc) from None
        delay = self._retry.delay(counters[1])
        logger.info("%s: %s; retry %d in %.2fs", self.model_id, type(exc).__name__, counters[1], delay)
        return delay

    def _unavailable(self, exc: Exception) -> ModelUnavailableError:
        import openai

        where = self._base_url or "the OpenAI API"
        if isinstance(exc, openai.APITimeoutError):
            return ModelUnavailableError(f"{self.model_id}: {where} timed out ({self._retry.max_retries} retries)")
        if isinstance(exc, openai.APIStatusError):
            return ModelUnavailableError(
                f"{self.model_id}: {where} kept failing (HTTP {exc.status_code}, {self._retry.max_retries} retries)"
            )
        return ModelUnavailableError(f"cannot reach {where} for {self.model_id}: {exc.__cause__ or exc}")

    def _downgrade_json_mode(self, exc: openai.APIStatusError) -> bool:
        index = _JSON_MODES.index(self._json_mode)
        if index + 1 >= len(_JSON_MODES):
            return False
        self._json_mode = _JSON_MODES[index + 1]
        logger.info(
            "%s rejected the structured-output form (%s); now using %s",
            self.model_id,
            exc.status_code,
            self._json_mode,
        )
        return True

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        """Generate a reply, retrying on 429/5xx/connection errors.

        Raises:
            ModelUnavailableError: If the endpoint cannot be reached after retries.
            ModelRequestError: If the endpoint rejects the request.
            StructuredOutputError: If a JSON-schema request did not yield valid JSON.
        """
        config = config or GenerationConfig()
        start = time.perf_counter()
        counters = [0, 0]
        structured = config.json_schema is not None
        while True:
            body = self._request(conversation, config)
            try:
                response = await self._call(
                    functools.partial(self._client.chat.completions.create, **body), counters, structured=structured
                )
                break
            except _RetryWithNewJsonMode:
                continue
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        usage = response.usage
        completion = Completion(
            text=text,
            model_id=self.model_id,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage is not None else Usage(),
            latency_s=time.perf_counter() - start,
            finish_reason=choice.finish_reason if choice is not None else None,
            rate_limited=counters[0],
            retries=counters[1],
        )
        if structured:
            check_json(completion)
        return completion

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Stream a reply; retries happen only before the first chunk arrives."""
        import openai

        config = config or GenerationConfig()
        start = time.perf_counter()
        counters = [0, 0]
        structured = config.json_schema is not None
        while True:
            body = self._request(conversation, config)
            body["stream"] = True
            if self._stream_usage:
                body["stream_options"] = {"include_usage": True}
            try:
                opened = await self._call(
                    functools.partial(self._client.chat.completions.create, **body), counters, structured=structured
                )
                stream = cast("openai.AsyncStream[ChatCompletionChunk]", opened)  # stream=True selects this overload
                break
            except _RetryWithNewJsonMode:
                continue
            except ModelRequestError:
                if not self._stream_usage:
                    raise
                self._stream_usage = False  # some servers reject stream_options; ask again without it
        parts: list[str] = []
        usage = Usage()
        finish: str | None = None
        try:
            async for event in stream:
                if event.usage is not None:
                    usage = Usage(event.usage.prompt_tokens, event.usage.completion_tokens)
                for choice in event.choices:
                    if choice.finish_reason is not None:
                        finish = choice.finish_reason
                    delta = choice.delta.content if choice.delta is not None else None
                    if delta:
                        parts.append(delta)
                        yield StreamChunk(delta=delta)
        except (openai.APIError, openai.APIConnectionError) as exc:
            raise ModelUnavailableError(f"{self.model_id}: stream broke off after {len(parts)} chunks: {exc}") from None
        completion = Completion(
            text="".join(parts),
            model_id=self.model_id,
            usage=usage if usage.total_tokens else Usage(0, len(parts)),
            latency_s=time.perf_counter() - start,
            finish_reason=finish,
            rate_limited=counters[0],
            retries=counters[1],
        )
        if structured:
            check_json(completion)
        yield StreamChunk(delta="", completion=completion)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    # llama.cpp's server answers an unsupported response_format with HTTP 500, OpenAI with 400, vLLM with 400/422.
    return exc.status_code in (400, 422, 500) and any(
        word in str(exc.message) for word in ("response_format", "json_schema")
    )


def _short(text: object) -> str:
    first = str(text).strip().splitlines()
    return first[0][:300] if first else ""


class _RetryWithNewJsonMode(Exception):
    """Internal signal: the server rejected the structured-output form; rebuild the request and retry."""


def check_json(completion: Completion) -> None:
    """Raise :class:`StructuredOutputError` unless the completion's text is one JSON value."""
    try:
        json.loads(completion.text)
    except ValueError:
        raise StructuredOutputError(
            f"{completion.model_id} did not return valid JSON for a JSON-schema request: {completion.text[:200]!r}",
            completion,
        ) from None


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base URL {url!r} must look like http://host:port/v1")
    return url.rstrip("/")


class OpenAIProvider:
    """``openai/<model>``: any OpenAI-compatible endpoint."""

    name: ClassVar[str] = "openai"
    description: ClassVar[str] = (
        "Any OpenAI-compatible endpoint via the official SDK: OpenAI, vLLM, Ollama, llama.cpp server, a nacre proxy."
    )
    requires: ClassVar[str] = (
        "--base-url / NACRE_BASE_URL for local servers; OPENAI_API_KEY or NACRE_API_KEY for OpenAI"
    )
    example: ClassVar[str] = "openai/gpt-4o-mini"

    @classmethod
    def availability(cls) -> str | None:
        """Ready when a server or a key is set in the environment; reachability is checked on first use."""
        server = os.environ.get("NACRE_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        key = os.environ.get("NACRE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if server or key:
            return None
        return "no server or key set: pass --base-url (or set NACRE_BASE_URL) for a local server, or set OPENAI_API_KEY"

    @classmethod
    def create(cls, model: str, settings: ModelSettings) -> ChatModel:
        """Create a client for ``model`` at ``settings.base_url`` (or ``OPENAI_BASE_URL``, or OpenAI).

        Raises:
            ConfigError: If the URL is malformed, OpenAI's API is used without a key, or an option is invalid.
        """
        base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = settings.api_key or os.environ.get("NACRE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if base_url is None and not api_key:
            raise ConfigError(
                f"openai/{model} needs OPENAI_API_KEY (or NACRE_API_KEY); for a local server pass --base-url "
                "or set NACRE_BASE_URL"
            )
        json_mode = settings.options.get("json_mode", "json_schema")
        if json_mode not in _JSON_MODES:
            raise ConfigError(f"json_mode must be one of {', '.join(_JSON_MODES)}, got {json_mode!r}")
        return OpenAIChatModel(
            model,
            base_url=_check_base_url(base_url) if base_url else None,
            api_key=api_key,
            timeout_s=settings.timeout_s,
            retry=RetryPolicy(max_retries=settings.max_retries),
            json_mode=json_mode,
        )

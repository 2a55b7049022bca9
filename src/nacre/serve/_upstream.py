"""The model server behind the proxy: any OpenAI-compatible HTTP endpoint, or an in-process chat model.

Requests go upstream as JSON objects in the OpenAI wire format and come back as such, so that fields nacre does not
know (tools, vendor options) pass through untouched. Failures become :class:`UpstreamError`, which maps to the
OpenAI-style 502/504 (or the upstream's own 4xx where the client's request caused it).
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, Literal, Protocol

import aiohttp

from nacre.conversation import Conversation
from nacre.errors import ModelError, NacreError
from nacre.models import ChatModel, GenerationConfig, Usage
from nacre.serve._errors import APIError, bad_gateway, gateway_timeout
from nacre.serve._wire import chunk_body, completion_body, new_request_id

UpstreamErrorKind = Literal["timeout", "unreachable", "status", "protocol", "broken"]


def env_proxy(url: str) -> str | None:
    """The proxy that ``HTTP_PROXY``/``HTTPS_PROXY`` and ``NO_PROXY`` name for ``url`` (as OpenAI clients read them).

    Args:
        url: The URL to be requested.

    Returns:
        The proxy URL, or None to connect directly.
    """
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


class UpstreamError(ModelError):
    """The upstream failed.

    Args:
        kind: ``timeout``, ``unreachable`` (no connection), ``status`` (an error status), ``protocol`` (an answer
            that is not the OpenAI format) or ``broken`` (a stream cut off).
        message: What happened, for the client (never holds keys).
        status: The upstream's HTTP status, for ``status``.
        retry_after: The upstream's ``Retry-After``, for a 429.
    """

    def __init__(
        self,
        kind: UpstreamErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: UpstreamErrorKind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def to_api_error(self) -> APIError:
        """The reply for the client.

        An upstream 400/404/413/422 caused by the client's own request (an unknown tool schema, a context that is
        too long) keeps its status and message; 401/403 mean nacre's upstream credentials are wrong, and like 5xx,
        broken streams and malformed answers become 502; timeouts become 504.
        """
        if self.kind == "timeout":
            return gateway_timeout(self.message)
        if self.kind == "status" and self.status is not None:
            if self.status == 429:
                headers = {"Retry-After": self.retry_after} if self.retry_after else None
                return APIError(
                    429, self.message, type="rate_limit_error", code="upstream_rate_limited", headers=headers
                )
            if self.status in (400, 404, 409, 413, 422):
                return APIError(self.status, self.message, code="upstream_rejected")
            if self.status in (401, 403):
                return bad_gateway(self.message, code="upstream_auth")
        code = {"unreachable": "upstream_unavailable", "broken": "upstream_disconnected"}.get(
            self.kind, "upstream_error"
        )
        return bad_gateway(self.message, code=code)


class UpstreamStream(Protocol):
    """Chunks of a streamed completion (``chat.completion.chunk`` objects); iterate once, then close."""

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        """The chunks; raises :class:`UpstreamError` if the stream breaks off."""
        ...

    async def aclose(self) -> None:
        """Release the connection."""
        ...


class Upstream(Protocol):
    """A chat-completions backend."""

    @property
    def model(self) -> str:
        """The model name the upstream knows."""
        ...

    @property
    def description(self) -> str:
        """Where the upstream is, for logs and /healthz (never holds keys)."""
        ...

    async def complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send a non-streaming request; return the ``chat.completion`` object.

        Raises:
            UpstreamError: If the upstream fails.
        """
        ...

    async def open_stream(self, body: Mapping[str, Any]) -> UpstreamStream:
        """Start a streaming request; returns once the upstream has accepted it.

        Raises:
            UpstreamError: If the upstream cannot be reached or refuses the request.
        """
        ...

    async def ping(self) -> str | None:
        """``None`` if the upstream answers, else why not."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(data: bytes | str) -> Any:
    return json.loads(data, parse_constant=_reject_constant)


def _status_error(
    status: int, content: bytes, headers: Mapping[str, str], where: str, secret: str | None = None
) -> UpstreamError:
    detail = ""
    try:
        parsed = _loads(content)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, Mapping):
            detail = str(error.get("message") or "")
        elif isinstance(error, str):
            detail = error
        elif isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
            detail = parsed["detail"]
    except ValueError:
        detail = content[:200].decode("utf-8", "replace")
    if status in (401, 403):
        # The upstream's words about nacre's own key (some quote part of it) are not for the client.
        message = f"{where} rejected nacre's credentials (HTTP {status}); check NACRE_UPSTREAM_API_KEY"
        return UpstreamError("status", message, status=status)
    if secret:
        detail = detail.replace(secret, "***")
    message = f"{where} answered HTTP {status}" + (f": {detail.strip()[:500]}" if detail.strip() else "")
    return UpstreamError("status", message, status=status, retry_after=headers.get("retry-after"))


class _SSEStream:
    """Server-sent events of an upstream response, parsed into chunk objects."""

    def __init__(self, response: aiohttp.ClientResponse, where: str, timeout_s: float) -> None:
        self._response = response
        self._where = where
        self._timeout_s = timeout_s

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncGenerator[dict[str, Any], None]:
        count = 0
        finished = False
        try:
            async for raw in self._response.content:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue  # comments, event names, keep-alives, blank separators
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = _loads(data)
                except ValueError:
                    raise UpstreamError("protocol", f"{self._where} sent a stream event that is not JSON") from None
                if not isinstance(chunk, dict):
                    raise UpstreamError("protocol", f"{self._where} sent a stream event that is not an object")
                error = chunk.get("error")
                if error:
                    detail = error.get("message") if isinstance(error, Mapping) else error
                    raise UpstreamError("broken", f"{self._where} reported an error mid-stream: {str(detail)[:300]}")
                for choice in chunk.get("choices") or ():
                    if isinstance(choice, Mapping) and choice.get("finish_reason"):
                        finished = True
                count += 1
                yield chunk
        except TimeoutError:
            raise UpstreamError(
                "timeout", f"{self._where} sent nothing for {self._timeout_s:g} s after {count} chunks"
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                "broken", f"the stream from {self._where} broke off after {count} chunks ({type(exc).__name__})"
            ) from None
        if not finished:
            raise UpstreamError("broken", f"the stream from {self._where} ended early, after {count} chunks")

    async def aclose(self) -> None:
        self._response.release()
        self._response.close()


class HTTPUpstream:
    """An OpenAI-compatible server (vLLM, Ollama, llama.cpp server, OpenAI) reached over HTTP.

    The client is aiohttp: in front of a fast model server the proxy's own CPU per request is the added latency,
    and aiohttp's C parser spends a fraction of what a pure-Python HTTP stack does.

    Args:
        base_url: Endpoint root, e.g. ``http://127.0.0.1:8080/v1``.
        model: The model name the server knows.
        api_key: Key sent as ``Authorization: Bearer``; never logged.
        timeout_s: Seconds to wait for an answer (per read while streaming).
        connect_timeout_s: Seconds to wait for a connection.
        max_connections: Connection-pool size.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        max_connections: int = 256,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._url = self._base_url + "/chat/completions"
        self._model = model
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._max_connections = max_connections
        self._secret = api_key
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        # Not aiohttp's trust_env: it re-reads the environment and ~/.netrc in a worker thread on every request (a
        # third of the proxy's CPU per request, and a thread hop). The upstream URL is fixed, so its proxy is looked
        # up once instead.
        self._proxy = env_proxy(self._url)
        # aiohttp sessions belong to the event loop that created them, so the session is made on first use.
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=self._max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._connect_timeout_s, sock_read=self._timeout_s
                ),
                proxy=self._proxy,
            )
        return self._session

    @property
    def model(self) -> str:
        """The upstream's model name."""
        return self._model

    @property
    def description(self) -> str:
        """The endpoint URL."""
        return self._base_url

    @staticmethod
    def _encode(body: Mapping[str, Any]) -> bytes:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _failed(self, exc: BaseException) -> UpstreamError:
        if isinstance(exc, TimeoutError):
            return UpstreamError("timeout", f"{self._base_url} did not answer within {self._timeout_s:g} s")
        # The proxy URL may carry credentials, so the message names only where it came from.
        via = " through the proxy set in HTTP_PROXY/HTTPS_PROXY" if self._proxy else ""
        return UpstreamError("unreachable", f"cannot reach {self._base_url}{via} ({type(exc).__name__})")

    async def complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``/chat/completions`` and return the parsed completion.

        Raises:
            UpstreamError: On timeouts, connection failures, error statuses and answers that are not a completion.
        """
        try:
            async with self._client().post(self._url, data=self._encode(body), allow_redirects=False) as response:
                content = await response.read()
                status, headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failed(exc) from None
        if status != 200:
            raise _status_error(status, content, headers, self._base_url, self._secret)
        try:
            data = _loads(content)
        except ValueError:
            raise UpstreamError("protocol", f"{self._base_url} answered with something that is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamError("protocol", f"{self._base_url} answered with something that is not a completion")
        return data

    async def open_stream(self, body: Mapping[str, Any]) -> UpstreamStream:
        """POST a streaming request and wait for the upstream's response headers.

        Raises:
            UpstreamError: On timeouts, connection failures and error statuses.
        """
        try:
            response = await self._client().post(self._url, data=self._encode(body), allow_redirects=False)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failed(exc) from None
        if response.status != 200:
            try:
                content = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                content = b""
            finally:
                response.release()
            raise _status_error(response.status, content, response.headers, self._base_url, self._secret)
        return _SSEStream(response, self._base_url, self._timeout_s)

    async def ping(self) -> str | None:
        """GET ``/models``; ``None`` if it answers 200."""
        try:
            async with self._client().get(
                self._base_url + "/models", timeout=aiohttp.ClientTimeout(total=5.0), allow_redirects=False
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._failed(exc).message
        return None if status == 200 else f"{self._base_url}/models answered HTTP {status}"

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def generation_config(body: Mapping[str, Any], default_max_tokens: int = 512) -> GenerationConfig:
    """The sampling settings of an OpenAI request, for an in-process model.

    Args:
        body: The (validated) request body.
        default_max_tokens: Used when the request sets no limit.

    Returns:
        The settings.
    """
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    temperature = body.get("temperature")
    top_p = body.get("top_p")
    seed = body.get("seed")
    return GenerationConfig(
        max_tokens=int(max_tokens),
        temperature=float(temperature) if isinstance(temperature, int | float) else 0.0,
        top_p=float(top_p) if isinstance(top_p, int | float) else 1.0,
        seed=seed if isinstance(seed, int) else 0,
        stop=stops,
    )


class _ModelStream:
    def __init__(self, model: ChatModel, conversation: Conversation, config: GenerationConfig, name: str) -> None:
        self._source = model.stream(conversation, config=config)
        self._name = name
        self._id = new_request_id()
        self._created = int(time.time())

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncGenerator[dict[str, Any], None]:
        count = 0
        try:
            async for piece in self._source:
                if piece.completion is not None:
                    yield chunk_body(
                        request_id=self._id,
                        model=self._name,
                        created=self._created,
                        delta={},
                        finish_reason=piece.completion.finish_reason or "stop",
                    )
                    return
                if piece.delta:
                    count += 1
                    delta: dict[str, Any] = {"content": piece.delta}
                    if count == 1:
                        delta["role"] = "assistant"
                    yield chunk_body(request_id=self._id, model=self._name, created=self._created, delta=delta)
        except NacreError as exc:
            raise UpstreamError("broken", f"the model stopped after {count} chunks: {exc}") from None

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


class ModelUpstream:
    """An in-process :class:`ChatModel` (e.g. the embedded SmolLM2) behind the OpenAI wire format.

    Tools and other fields the model cannot use are ignored.

    Args:
        model: The chat model.
        name: The model name to serve it under.
    """

    def __init__(self, model: ChatModel, name: str) -> None:
        self._model = model
        self._name = name

    @property
    def model(self) -> str:
        """The served name."""
        return self._name

    @property
    def description(self) -> str:
        """The model string."""
        return self._model.model_id

    async def complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Generate a completion.

        Raises:
            UpstreamError: If the model fails.
        """
        conversation = Conversation.from_openai(body["messages"])
        try:
            completion = await self._model.generate(conversation, config=generation_config(body))
        except NacreError as exc:
            raise UpstreamError("unreachable", f"{self._model.model_id} failed: {exc}") from None
        return completion_body(
            request_id=new_request_id(),
            model=self._name,
            created=int(time.time()),
            text=completion.text,
            usage=completion.usage if completion.usage.total_tokens else Usage(),
            finish_reason=completion.finish_reason or "stop",
        )

    async def open_stream(self, body: Mapping[str, Any]) -> UpstreamStream:
        """Start generating; errors surface while iterating."""
        conversation = Conversation.from_openai(body["messages"])
        return _ModelStream(self._model, conversation, generation_config(body), self._name)

    async def ping(self) -> str | None:
        """Always ready (the model loads on first use)."""
        return None

    async def aclose(self) -> None:
        """Release the model."""
        await self._model.aclose()

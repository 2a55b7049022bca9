"""Upstreams: an OpenAI-compatible HTTP server (the mock, on loopback) and an in-process chat model."""

from __future__ import annotations

import pytest

from nacre.models import MockChatModel
from nacre.serve import HTTPUpstream, MockUpstream, ModelUpstream, UpstreamError
from nacre.serve._upstream import env_proxy
from tests.conftest import free_port
from tests.serve.conftest import UPSTREAM_MODEL

BODY = {"model": UPSTREAM_MODEL, "messages": [{"role": "user", "content": "Name a houseplant."}]}


async def test_complete_and_stream(mock_upstream: tuple[MockUpstream, str]) -> None:
    _, url = mock_upstream
    upstream = HTTPUpstream(url, UPSTREAM_MODEL)
    try:
        data = await upstream.complete(BODY)
        assert data["choices"][0]["message"]["content"].startswith("Here is")
        stream = await upstream.open_stream({**BODY, "stream": True})
        chunks = [c async for c in stream]
        await stream.aclose()
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == data["choices"][0]["message"]["content"]
        assert await upstream.ping() is None
    finally:
        await upstream.aclose()


@pytest.mark.parametrize(
    ("status", "mapped", "code"),
    [
        (500, 502, "upstream_error"),
        (503, 502, "upstream_error"),
        (401, 502, "upstream_auth"),
        (400, 400, "upstream_rejected"),
        (429, 429, "upstream_rate_limited"),
    ],
)
async def test_error_statuses_map_to_client_statuses(
    mock_upstream: tuple[MockUpstream, str], status: int, mapped: int, code: str
) -> None:
    _, url = mock_upstream
    upstream = HTTPUpstream(url, UPSTREAM_MODEL)
    try:
        for call in (upstream.complete, upstream.open_stream):
            with pytest.raises(UpstreamError) as info:
                await call({**BODY, "mock_upstream": {"status": status}})
            error = info.value.to_api_error()
            assert (error.status, error.code) == (mapped, code)
            assert f"HTTP {status}" in error.message
            # The upstream's words about nacre's own credentials are not passed on.
            assert (f"mock failure {status}" in error.message) is (status != 401)
    finally:
        await upstream.aclose()


async def test_timeouts_and_unreachable(mock_upstream: tuple[MockUpstream, str]) -> None:
    _, url = mock_upstream
    slow = HTTPUpstream(url, UPSTREAM_MODEL, timeout_s=0.2)
    down = HTTPUpstream(f"http://127.0.0.1:{free_port()}/v1", UPSTREAM_MODEL)
    try:
        with pytest.raises(UpstreamError) as info:
            await slow.complete({**BODY, "mock_upstream": {"latency_s": 1.0}})
        assert info.value.kind == "timeout" and info.value.to_api_error().status == 504
        with pytest.raises(UpstreamError) as info:
            await down.complete(BODY)
        assert info.value.kind == "unreachable" and info.value.to_api_error().status == 502
        assert await down.ping() is not None
    finally:
        await slow.aclose()
        await down.aclose()


async def test_stream_cut_off_is_a_broken_stream(mock_upstream: tuple[MockUpstream, str]) -> None:
    _, url = mock_upstream
    upstream = HTTPUpstream(url, UPSTREAM_MODEL)
    try:
        stream = await upstream.open_stream({**BODY, "stream": True, "mock_upstream": {"die_after": 2}})
        got: list[dict[str, object]] = []

        async def drain() -> None:
            async for chunk in stream:
                got.append(chunk)

        with pytest.raises(UpstreamError) as info:
            await drain()
        await stream.aclose()
        assert len(got) == 2 and info.value.kind == "broken"
        assert info.value.to_api_error().status == 502
    finally:
        await upstream.aclose()


async def test_model_upstream_speaks_the_wire_format() -> None:
    upstream = ModelUpstream(MockChatModel("fixed", replies=["A fern is easy to keep."]), "fern-model")
    data = await upstream.complete(BODY)
    assert data["model"] == "fern-model" and data["choices"][0]["message"]["content"] == "A fern is easy to keep."
    stream = await upstream.open_stream(BODY)
    chunks = [c async for c in stream]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "A fern is easy to keep."
    assert await upstream.ping() is None
    await upstream.aclose()


async def test_upstream_key_is_scrubbed_from_error_messages(mock_upstream: tuple[MockUpstream, str]) -> None:
    _, url = mock_upstream
    secret = "sk-upstream-secret-0123456789"
    upstream = HTTPUpstream(url, UPSTREAM_MODEL, api_key=secret)
    try:
        with pytest.raises(UpstreamError) as info:
            await upstream.complete({**BODY, "mock_upstream": {"status": 400, "message": f"bad key {secret} here"}})
        message = info.value.to_api_error().message
        assert secret not in message and "bad key *** here" in message
        with pytest.raises(UpstreamError) as info:
            await upstream.complete({**BODY, "mock_upstream": {"status": 401, "message": f"wrong key {secret}"}})
        assert secret not in info.value.message and "NACRE_UPSTREAM_API_KEY" in info.value.message
    finally:
        await upstream.aclose()


async def test_environment_proxy_is_honoured(
    mock_upstream: tuple[MockUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mock answers absolute-form requests too, so it can stand in for a forward proxy: the upstream's own
    # host does not resolve, and the request only succeeds if it goes through HTTP_PROXY.
    _, url = mock_upstream
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", url.removesuffix("/v1"))
    upstream = HTTPUpstream("http://upstream.invalid/v1", UPSTREAM_MODEL, connect_timeout_s=5)
    try:
        data = await upstream.complete(BODY)
        assert data["choices"][0]["message"]["content"].startswith("Here is")
    finally:
        await upstream.aclose()


def test_no_proxy_bypasses_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "models.internal,localhost")
    assert env_proxy("http://gpu.example/v1/chat/completions") == "http://proxy.example:3128"
    assert env_proxy("http://models.internal:8000/v1/chat/completions") is None
    assert env_proxy("https://gpu.example/v1/chat/completions") is None


async def test_broken_environment_proxy_is_named_without_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://user:s3cret@127.0.0.1:{free_port()}")  # nothing listens there
    upstream = HTTPUpstream("http://upstream.invalid/v1", UPSTREAM_MODEL, connect_timeout_s=5)
    try:
        with pytest.raises(UpstreamError) as caught:
            await upstream.complete(BODY)
    finally:
        await upstream.aclose()
    assert caught.value.kind == "unreachable"
    assert "HTTP_PROXY" in caught.value.message and "s3cret" not in caught.value.message


async def test_a_server_that_rejects_stream_options_is_asked_again_without_them(
    mock_upstream: tuple[MockUpstream, str],
) -> None:
    from nacre.conversation import Conversation
    from nacre.serve._generator import UpstreamChatModel

    class NoStreamOptions(HTTPUpstream):
        """The real mock server behind a front that answers 400 to stream_options, as some servers do."""

        def __init__(self, url: str, model: str) -> None:
            super().__init__(url, model)
            self.bodies: list[dict[str, object]] = []

        async def open_stream(self, body):  # type: ignore[no-untyped-def]
            self.bodies.append(dict(body))
            if "stream_options" in body:
                raise UpstreamError("status", "unknown field stream_options", status=400)
            return await super().open_stream(body)

    upstream = NoStreamOptions(mock_upstream[1], UPSTREAM_MODEL)
    try:
        model = UpstreamChatModel(upstream, BODY)
        for _ in range(2):
            chunks = [c async for c in model.stream(Conversation.from_text("Name a houseplant."))]
            assert "".join(c.delta for c in chunks).startswith("Here is") and model.failure is None
        # Asked once with them, then never again.
        assert ["stream_options" in b for b in upstream.bodies] == [True, False, False]
    finally:
        await upstream.aclose()

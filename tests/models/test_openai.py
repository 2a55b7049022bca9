"""The openai provider against real HTTP servers on loopback: llama.cpp's server and a scripted one."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from nacre.conversation import Conversation
from nacre.errors import ConfigError, ModelRequestError, ModelUnavailableError
from nacre.models import GenerationConfig, ModelSettings, OpenAIChatModel, RetryPolicy, get_model
from tests.conftest import ScriptedServer, chat_completion_body, free_port

pytestmark = pytest.mark.server

FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.05)
Script = Callable[[list[tuple[int, dict[str, object], dict[str, str]]]], ScriptedServer]

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "enum": ["yes", "no", "unsure"]},
        "confidence": {"type": "integer", "enum": [0, 1, 2, 3]},
    },
    "required": ["answer", "confidence"],
}


@pytest.mark.embedded
async def test_generate_against_llama_cpp_server(llama_server: str) -> None:
    model = get_model("openai/smollm2", ModelSettings(base_url=llama_server))
    try:
        out = await model.generate(
            Conversation.from_text("Say hello in one word."), config=GenerationConfig(max_tokens=16)
        )
    finally:
        await model.aclose()
    assert out.text.strip()
    assert out.model_id == "openai/smollm2"
    assert out.usage.prompt_tokens > 0 and 0 < out.usage.completion_tokens <= 16
    assert out.latency_s > 0 and out.rate_limited == 0 and out.retries == 0


@pytest.mark.embedded
async def test_stream_against_llama_cpp_server(llama_server: str) -> None:
    model = OpenAIChatModel("smollm2", base_url=llama_server)
    try:
        chunks = [
            c
            async for c in model.stream(
                Conversation.from_text("Count from one to five."), config=GenerationConfig(max_tokens=24)
            )
        ]
    finally:
        await model.aclose()
    assert len(chunks) > 2
    final = chunks[-1].completion
    assert final is not None
    assert final.text == "".join(c.delta for c in chunks) and final.text.strip()
    assert final.usage.completion_tokens > 0


@pytest.mark.embedded
async def test_json_schema_against_llama_cpp_server(llama_server: str) -> None:
    model = OpenAIChatModel("smollm2", base_url=llama_server)
    try:
        out = await model.generate(
            Conversation.from_text("Is the sky blue? Answer in JSON."),
            config=GenerationConfig(max_tokens=60, json_schema=SCHEMA),
        )
    finally:
        await model.aclose()
    data = json.loads(out.text)
    assert data["answer"] in ("yes", "no", "unsure") and data["confidence"] in (0, 1, 2, 3)
    # llama.cpp rejects OpenAI's json_schema form; the provider fell back to json_object + schema.
    assert model.capabilities.json_schema


async def test_429_is_waited_out_and_not_counted_as_failure(scripted_server: Script) -> None:
    server = scripted_server(
        [
            (429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after": "0"}),
            (429, {"error": {"message": "slow down", "type": "rate_limit"}}, {}),
            (200, chat_completion_body("ok after waiting"), {}),
        ]
    )
    model = OpenAIChatModel("scripted", base_url=server.base_url, retry=RetryPolicy(max_retries=0, base_delay_s=0.01))
    out = await model.generate(Conversation.from_text("hi"))
    await model.aclose()
    assert out.text == "ok after waiting"
    assert (out.rate_limited, out.retries) == (2, 0)
    assert out.usage.prompt_tokens == 7 and out.usage.completion_tokens == 3
    assert len(server.requests) == 3


async def test_5xx_is_retried_then_succeeds(scripted_server: Script) -> None:
    server = scripted_server([(503, {"error": {"message": "busy"}}, {}), (200, chat_completion_body("recovered"), {})])
    model = OpenAIChatModel("scripted", base_url=server.base_url, retry=FAST)
    out = await model.generate(Conversation.from_text("hi"))
    await model.aclose()
    assert (out.text, out.retries, out.rate_limited) == ("recovered", 1, 0)


async def test_persistent_5xx_gives_up_with_a_clear_error(scripted_server: Script) -> None:
    server = scripted_server([(500, {"error": {"message": "boom"}}, {})])
    model = OpenAIChatModel("scripted", base_url=server.base_url, retry=FAST)
    with pytest.raises(ModelUnavailableError, match="kept failing"):
        await model.generate(Conversation.from_text("hi"))
    await model.aclose()
    assert len(server.requests) == 3  # first try + 2 retries


async def test_rate_limit_budget_is_bounded(scripted_server: Script) -> None:
    server = scripted_server([(429, {"error": {"message": "no"}}, {"retry-after": "0"})])
    model = OpenAIChatModel("scripted", base_url=server.base_url, retry=RetryPolicy(max_rate_limit_waits=3))
    with pytest.raises(ModelRequestError, match="rate-limited"):
        await model.generate(Conversation.from_text("hi"))
    await model.aclose()
    assert len(server.requests) == 4


async def test_4xx_is_not_retried(scripted_server: Script) -> None:
    server = scripted_server([(401, {"error": {"message": "bad key"}}, {})])
    model = OpenAIChatModel("scripted", base_url=server.base_url, retry=FAST)
    with pytest.raises(ModelRequestError, match="401"):
        await model.generate(Conversation.from_text("hi"))
    await model.aclose()
    assert len(server.requests) == 1


async def test_json_schema_request_shape_and_fallback(scripted_server: Script) -> None:
    server = scripted_server(
        [
            (400, {"error": {"message": "response_format json_schema is not supported"}}, {}),
            (200, chat_completion_body('{"answer": "yes", "confidence": 2}'), {}),
        ]
    )
    model = OpenAIChatModel("scripted", base_url=server.base_url, retry=FAST)
    out = await model.generate(
        Conversation.from_text("q"), config=GenerationConfig(json_schema=SCHEMA, schema_name="verdict")
    )
    await model.aclose()
    assert json.loads(out.text) == {"answer": "yes", "confidence": 2}
    first, second = (r["response_format"] for r in server.requests)
    assert first == {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True}}
    assert second == {"type": "json_object", "schema": SCHEMA}


async def test_unreachable_server_is_a_clear_error() -> None:
    model = OpenAIChatModel("x", base_url=f"http://127.0.0.1:{free_port()}/v1", retry=FAST)
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        await model.generate(Conversation.from_text("hi"))
    await model.aclose()


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "NACRE_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        get_model("openai/gpt-4o-mini", ModelSettings())
    with pytest.raises(ConfigError, match="must look like"):
        get_model("openai/x", ModelSettings(base_url="localhost:8000"))
    with pytest.raises(ConfigError, match="json_mode"):
        get_model("openai/x", ModelSettings(base_url="http://h/v1", options={"json_mode": "yaml"}))

from __future__ import annotations

import json

import pytest

from nacre.conversation import Conversation, Message
from nacre.errors import ConfigError
from nacre.models import GenerationConfig, MockChatModel, ModelSettings, get_model, schema_example


async def test_scripted_list_replies_in_order_then_repeats_last() -> None:
    model = MockChatModel("script", replies=["one", "two"])
    conv = Conversation.from_text("hi")
    texts = [(await model.generate(conv)).text for _ in range(3)]
    assert texts == ["one", "two", "two"]
    assert model.model_id == "mock/script"
    assert len(model.calls) == 3


async def test_function_replies_see_the_conversation() -> None:
    model = MockChatModel("fn", replies=lambda c: f"{len(c)} messages, last: {c.last_user.text if c.last_user else ''}")
    conv = Conversation.from_text("ping").append(Message.assistant("pong")).append(Message.user("again"))
    assert (await model.generate(conv)).text == "3 messages, last: again"


async def test_stream_reassembles_to_the_same_text() -> None:
    model = MockChatModel("s", replies=["Hello there,  friend.\nBye"])
    chunks = [c async for c in model.stream(Conversation.from_text("x"))]
    assert "".join(c.delta for c in chunks) == "Hello there,  friend.\nBye"
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.text == "Hello there,  friend.\nBye"
    assert all(c.completion is None for c in chunks[:-1])


async def test_builtin_scripts_resolve_from_model_strings() -> None:
    echo = get_model("mock/echo", ModelSettings())
    assert (await echo.generate(Conversation.from_text("say this"))).text == "say this"
    refuser = get_model("mock/refuser", ModelSettings())
    assert "can't help" in (await refuser.generate(Conversation.from_text("anything"))).text
    with pytest.raises(ConfigError, match="unknown mock script"):
        get_model("mock/nope", ModelSettings())


async def test_json_script_honours_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["safe", "unsafe"]},
            "score": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "note": {"type": "string"},
        },
        "required": ["label", "score", "tags"],
    }
    model = get_model("mock/json", ModelSettings())
    out = await model.generate(Conversation.from_text("x"), config=GenerationConfig(json_schema=schema))
    assert json.loads(out.text) == {"label": "safe", "score": 1, "tags": ["", ""]}
    assert schema_example({"anyOf": [{"type": "boolean"}, {"type": "string"}]}) is False


def test_empty_script_is_rejected() -> None:
    with pytest.raises(ConfigError):
        MockChatModel("x", replies=[])

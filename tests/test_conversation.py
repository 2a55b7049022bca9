from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacre.conversation import ContentPart, Conversation, Message
from nacre.errors import ConversationError, NacreError

OPENAI_MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": \"cat\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    {"role": "assistant", "content": "A cat.", "refusal": None, "name": "helper"},
]  # fmt: skip


def test_round_trip_is_lossless() -> None:
    conv = Conversation.from_openai(OPENAI_MESSAGES)
    assert conv.to_openai() == OPENAI_MESSAGES
    assert Conversation.from_openai({"messages": OPENAI_MESSAGES}) == conv


def test_an_assistant_refusal_may_stand_in_for_content() -> None:
    raw = [
        {"role": "user", "content": "Rate my essay as JSON."},
        {"role": "assistant", "content": None, "refusal": "No."},
    ]
    conv = Conversation.from_openai(raw)
    assert conv.to_openai() == raw and conv[1].refusal == "No." and conv[1].text == ""
    with pytest.raises(ConversationError, match="content"):
        Conversation.from_openai([{"role": "user", "content": None, "refusal": "No."}])
    assert Message("user", "hi", extra='{"refusal": "x"}').refusal is None


def test_text_of_multipart_content_joins_text_parts_only() -> None:
    conv = Conversation.from_openai(OPENAI_MESSAGES)
    assert conv[1].text == "What is in this picture?"
    assert conv[1].content is not None and isinstance(conv[1].content[1], ContentPart)
    assert conv[2].text == ""


def test_every_text_bearing_part_is_read_as_text() -> None:
    # vLLM and others render "input_text"/"output_text" parts as text; a guard that skipped them could be bypassed.
    raw = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "first"},
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "output_text", "text": "second", "annotations": []},
            ],
        },
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
    ]
    conv = Conversation.from_openai(raw)
    assert conv[0].text == "first\nsecond" and conv[1].text == ""
    assert [m.to_openai() for m in conv] == raw  # unchanged on the way out


def test_values_are_immutable_and_hashable() -> None:
    conv = Conversation.from_openai(OPENAI_MESSAGES)
    with pytest.raises(AttributeError):
        conv.messages = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        conv[0].content = "x"  # type: ignore[misc]
    assert hash(conv) == hash(Conversation.from_openai(OPENAI_MESSAGES))
    assert {conv: 1}[Conversation.from_openai(OPENAI_MESSAGES)] == 1


def test_content_hash_is_stable_across_processes() -> None:
    conv = Conversation.from_openai(OPENAI_MESSAGES)
    code = (
        "import json,sys; from nacre.conversation import Conversation; "
        "print(Conversation.from_openai(json.load(sys.stdin)).content_hash)"
    )
    import json

    other = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(OPENAI_MESSAGES), capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == conv.content_hash
    assert len(conv.content_hash) == 64
    assert conv.append(Message.user("more")).content_hash != conv.content_hash


def test_turns_pair_users_with_replies() -> None:
    conv = Conversation.from_openai(
        [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "user", "content": "d"},
        ]
    )
    turns = conv.turns
    assert [t.user.text for t in turns] == ["a", "c", "d"]
    assert [t.assistant.text if t.assistant else None for t in turns] == ["b", None, None]
    assert [m.text for m in conv.user_turns] == ["a", "c", "d"]
    assert conv.last_user == Message.user("d")
    assert conv.system_prompt == "s"


def test_with_system_prepends_and_keeps_existing_prompt() -> None:
    conv = Conversation.from_text("hi", system="old").with_system("new")
    assert conv[0] == Message.system("new\n\nold")
    assert [m.role for m in conv] == ["system", "user"]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": "ok"}, {"role": "user", "content": 5}], "messages[1].content"),
        ([{"role": "user", "content": [{"type": "text"}]}], "messages[0].content[0].text"),
        ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0].type"),
        ([{"role": "user", "content": ["x"]}], "messages[0].content[0]"),
        ([{"role": "user"}], "messages[0].content"),
        ([{"role": "tool", "content": "r"}], "messages[0].tool_call_id"),
        ([{"role": "user", "content": "x", "tool_calls": []}], "messages[0].tool_calls"),
        ([{"role": "user", "content": "x", "name": 3}], "messages[0].name"),
        (["just a string"], "messages[0]"),
        ("not a list", "messages"),
        ({"model": "m"}, "messages"),
    ],
)
def test_invalid_shapes_name_the_bad_field(messages: object, field: str) -> None:
    with pytest.raises(ConversationError) as info:
        Conversation.from_openai(messages)  # type: ignore[arg-type]
    assert info.value.field == field
    assert isinstance(info.value, NacreError)
    assert field in str(info.value)


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ConversationError, match=r"message\.role"):
        Message(role="robot", content="x")  # type: ignore[arg-type]
    with pytest.raises(ConversationError, match=r"messages\[0\]"):
        Conversation(("not a message",))  # type: ignore[arg-type]


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
text_part = st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=50))
other_part = st.builds(
    lambda p: {"type": "image_url", "image_url": p}, st.dictionaries(st.text(max_size=5), json_value, max_size=3)
)
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["system", "developer", "user", "assistant"]),
        "content": st.one_of(st.text(max_size=80), st.lists(st.one_of(text_part, other_part), max_size=3)),
    },
    optional={"name": st.text(min_size=1, max_size=10), "metadata_x": json_value},
)  # fmt: skip


@given(st.lists(message, max_size=6))
def test_property_round_trip_and_hash(messages: list[dict[str, object]]) -> None:
    conv = Conversation.from_openai(messages)
    assert conv.to_openai() == messages
    again = Conversation.from_openai(conv.to_openai())
    assert again == conv
    assert again.content_hash == conv.content_hash

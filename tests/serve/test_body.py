"""Reading and validating request bodies: every bad input is a 4xx APIError, never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nacre.serve import APIError
from nacre.serve._body import check_content_type, parse_json
from nacre.serve._schemas import parse_assess, parse_chat

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "robot", 3, None])
MESSAGE = st.fixed_dictionaries(
    {"role": ROLES},
    optional={
        "content": st.none() | st.text(max_size=40) | st.lists(JSON, max_size=2) | st.integers(),
        "tool_call_id": st.none() | st.text(max_size=5) | st.integers(),
        "tool_calls": st.none() | st.lists(JSON, max_size=2) | st.text(max_size=3),
        "name": JSON,
    },
)
CHAT = st.fixed_dictionaries(
    {},
    optional={
        "model": st.text(max_size=20) | JSON,
        "messages": st.lists(MESSAGE, max_size=4) | JSON,
        "stream": st.booleans() | JSON,
        "n": st.integers(-2, 3) | JSON,
        "temperature": st.floats(-1, 3, allow_nan=False) | JSON,
        "max_tokens": st.integers(-5, 5000) | JSON,
        "stop": JSON,
        "tools": JSON,
        "nacre": st.fixed_dictionaries({}, optional={"locale": JSON, "other": JSON}) | JSON,
        "stream_options": JSON,
        "unknown_field": JSON,
    },
)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "invalid_json"),
        (b"   ", "invalid_json"),
        (b"{", "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b'{"a": Infinity}', "invalid_json"),
        (b"\xff\xfe{}", "invalid_encoding"),
        (b'{"a": "\\ud800"}', "invalid_encoding"),
        (b"[" * 100_000, "invalid_json"),
    ],
)
def test_bad_bodies_are_400(body: bytes, code: str) -> None:
    with pytest.raises(APIError) as info:
        parse_json(body)
    assert info.value.status == 400 and info.value.code == code


def test_surrogate_pairs_are_fine() -> None:
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    "value", [None, "", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]
)
def test_content_type_must_be_json(value: str | None) -> None:
    with pytest.raises(APIError) as info:
        check_content_type(value)
    assert info.value.status == 415


@pytest.mark.parametrize(
    "value", ["application/json", "Application/JSON; charset=UTF-8", 'application/json;charset="utf-8"']
)
def test_json_content_types_pass(value: str) -> None:
    check_content_type(value)


@given(st.binary(max_size=200))
@settings(max_examples=200)
def test_any_bytes_parse_or_fail_with_400(body: bytes) -> None:
    status = 200
    try:
        parse_json(body)
    except APIError as exc:
        status = exc.status
    assert status in (200, 400)


def _parse_or_status(raw: Any) -> int:
    try:
        parse_chat(raw, max_messages=3)
    except APIError as exc:
        body = exc.body()["error"]
        assert set(body) == {"message", "type", "param", "code"} and body["message"]
        json.dumps(exc.body())
        return exc.status
    return 200


@given(CHAT | JSON)
@settings(max_examples=300)
def test_fuzzed_chat_bodies_validate_or_fail_with_4xx(raw: Any) -> None:
    assert _parse_or_status(raw) in (200, 400)


@given(st.dictionaries(st.text(max_size=8), JSON, max_size=4) | JSON)
@settings(max_examples=100)
def test_fuzzed_assess_bodies_validate_or_fail_with_4xx(raw: Any) -> None:
    status = 200
    try:
        parse_assess(raw, max_messages=3)
    except APIError as exc:
        status = exc.status
    assert status in (200, 400)


@pytest.mark.parametrize(
    ("raw", "status", "param"),
    [
        ([], 400, None),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model"),
        ({"model": "m", "messages": []}, 400, "messages"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, 400, "stream"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, 400, "temperature"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "nacre": {"locle": "US"}}, 400, "nacre.locle"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "n"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}] * 4}, 400, "messages"),
        ({"model": "m", "messages": [{"role": "tool", "content": "42"}]}, 400, "messages[0].tool_call_id"),
        ({"model": "m", "messages": [{"role": "user", "content": None}]}, 400, "messages[0].content"),
    ],
)
def test_chat_validation_statuses_and_params(raw: Any, status: int, param: str | None) -> None:
    with pytest.raises(APIError) as info:
        parse_chat(raw, max_messages=3)
    assert (info.value.status, info.value.param) == (status, param), info.value.message


def test_valid_chat_keeps_unknown_fields_and_tools() -> None:
    raw = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi", "x_extra": 1}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "vendor_option": {"a": 1},
        "temperature": 1,
        "n": 1,
    }
    parsed = parse_chat(raw, max_messages=3)
    assert parsed.body is raw and parsed.request.temperature == 1.0
    assert parsed.conversation.to_openai()[0]["x_extra"] == 1


def test_assess_rejects_unknown_fields() -> None:
    with pytest.raises(APIError) as info:
        parse_assess({"messages": [{"role": "user", "content": "hi"}], "stram": True}, max_messages=3)
    assert info.value.status == 400 and info.value.param == "stram"

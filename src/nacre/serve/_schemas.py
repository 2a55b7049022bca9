"""Request models (pydantic v2, strict types) and their validation into OpenAI-style errors.

Chat requests allow unknown top-level fields, because they pass through to the upstream unchanged (``tools``,
``response_format``, vendor options); the fields nacre itself reads are type-checked strictly. nacre's own
request shapes (the ``nacre`` options, ``/v1/nacre/assess``) reject unknown fields, where a typo would otherwise be
silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nacre.conversation import Conversation
from nacre.errors import ConversationError
from nacre.serve._errors import bad_request, unprocessable

Role = Literal["system", "developer", "user", "assistant", "tool"]

# Union members show up in pydantic's error locations; they are not fields a client could fix.
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list", "literal", "function-after"})


class ChatMessageIn(BaseModel):
    """One chat message; fields other than these pass through untouched."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    """OpenAI stream options."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    include_usage: bool | None = None


class NacreOptions(BaseModel):
    """Per-request nacre options, sent as ``"nacre": {...}`` (``extra_body`` in the OpenAI SDK)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    locale: str | None = Field(None, min_length=2, max_length=16, description="Region for crisis resources.")


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: the OpenAI request; ``n`` must be 1."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: int | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    user: str | None = None
    nacre: NacreOptions | None = None


class AssessRequest(BaseModel):
    """``POST /v1/nacre/assess``: a conversation to check, without generating a reply."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    messages: list[ChatMessageIn] = Field(min_length=1)
    model: str | None = Field(None, max_length=256, description="Ignored; accepted so chat bodies can be reused.")
    locale: str | None = Field(None, min_length=2, max_length=16, description="Region for crisis resources.")


@dataclass(frozen=True, slots=True)
class ParsedChat:
    """A validated chat request.

    Attributes:
        request: The typed view of the fields nacre reads.
        body: The body as sent, for passing through.
        conversation: The messages as a :class:`Conversation`.
    """

    request: ChatCompletionRequest
    body: Mapping[str, Any]
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class ParsedAssess:
    """A validated assess request.

    Attributes:
        request: The typed request.
        conversation: The messages as a :class:`Conversation`.
    """

    request: AssessRequest
    conversation: Conversation


def _param(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TYPE_TAGS or "[" in part:
            continue
        else:
            out += f".{part}" if out else part
    return out


def _invalid(exc: ValidationError) -> Exception:
    errors = exc.errors()
    first = errors[0]
    param = _param(first["loc"])
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return unprocessable(f"{param or 'body'}: {first['msg']}{more}", param=param or None)


def _object(raw: Any, max_messages: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise unprocessable(f"the request body must be a JSON object, got {type(raw).__name__}")
    messages = raw.get("messages")
    if isinstance(messages, list) and len(messages) > max_messages:
        raise bad_request(
            f"too many messages ({len(messages)}); this server accepts at most {max_messages} per request",
            param="messages",
            code="too_many_messages",
        )
    return raw


def _conversation(messages: Any) -> Conversation:
    try:
        return Conversation.from_openai(messages)
    except ConversationError as exc:
        raise bad_request(str(exc), param=exc.field, code="invalid_message") from None


def parse_chat(raw: Any, *, max_messages: int) -> ParsedChat:
    """Validate a chat-completions body.

    Args:
        raw: The parsed JSON body.
        max_messages: Most messages accepted.

    Returns:
        The typed request, the body and the conversation.

    Raises:
        APIError: 400 for wrong types or values (code ``invalid_type``), too many messages, ``n`` other than 1,
            or messages that are not a valid conversation.
    """
    body = _object(raw, max_messages)
    try:
        request = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if request.n is not None and request.n != 1:
        raise bad_request("only n=1 is supported", param="n", code="unsupported_value")
    return ParsedChat(request, body, _conversation(body["messages"]))


def parse_assess(raw: Any, *, max_messages: int) -> ParsedAssess:
    """Validate an assess body.

    Args:
        raw: The parsed JSON body.
        max_messages: Most messages accepted.

    Returns:
        The typed request and the conversation.

    Raises:
        APIError: 400 for wrong types, values or unknown fields (code ``invalid_type``), too many messages or an invalid
            conversation.
    """
    body = _object(raw, max_messages)
    try:
        request = AssessRequest.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return ParsedAssess(request, _conversation(body["messages"]))

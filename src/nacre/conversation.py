"""Messages and conversations: the one value type every layer of nacre shares.

The shapes follow the OpenAI chat-completions wire format, so a list of messages from any OpenAI client
round-trips losslessly through :meth:`Conversation.from_openai` and :meth:`Conversation.to_openai`. Values are
immutable and hashable; :attr:`Conversation.content_hash` is stable across processes and versions of Python.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from nacre.errors import ConversationError

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = get_args(Role)

_KNOWN_KEYS = frozenset({"role", "content", "name", "tool_call_id", "tool_calls"})


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically (sorted keys, no whitespace, UTF-8 kept).

    Args:
        value: Any JSON-serialisable value.

    Returns:
        The canonical JSON text; equal values give equal text.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ContentPart:
    """One part of a multi-part message content (OpenAI "content parts").

    Attributes:
        type: The part type, e.g. ``"text"`` or ``"image_url"``.
        text: The text of a ``text`` or ``refusal`` part, or of any other part that carries a ``text`` string
            (``input_text``, ``output_text``), else ``None``.
        payload: Canonical JSON of the part's other fields, kept verbatim for round-tripping.
    """

    type: str
    text: str | None = None
    payload: str = "{}"

    def to_openai(self) -> dict[str, Any]:
        """Return the part as an OpenAI content-part dict."""
        out: dict[str, Any] = {"type": self.type}
        out.update(json.loads(self.payload))
        if self.text is not None:
            out["refusal" if self.type == "refusal" else "text"] = self.text
        return out


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message.

    Attributes:
        role: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``.
        content: Plain text, a tuple of :class:`ContentPart`, or ``None`` (an assistant message that only calls
            tools).
        name: Optional participant name.
        tool_call_id: For ``tool`` messages, the id of the call this answers.
        tool_calls: For ``assistant`` messages, canonical JSON of the tool calls made.
        extra: Canonical JSON of any other fields, kept so that unknown fields survive a round trip.
    """

    role: Role
    content: str | tuple[ContentPart, ...] | None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: str | None = None
    extra: str = "{}"

    def __post_init__(self) -> None:
        _check_message(self, "message")

    @property
    def text(self) -> str:
        """The message's text: the content string, or its text-bearing parts (not refusals) joined by newlines."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if p.text is not None and p.type != "refusal")

    @property
    def refusal(self) -> str | None:
        """The ``refusal`` field of an assistant message (OpenAI's shape for a declined structured output)."""
        value = json.loads(self.extra).get("refusal") if self.role == "assistant" else None
        return value if isinstance(value, str) else None

    @classmethod
    def system(cls, text: str) -> Message:
        """Build a system message."""
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str) -> Message:
        """Build a user message."""
        return cls(role="user", content=text)

    @classmethod
    def assistant(cls, text: str) -> Message:
        """Build an assistant message."""
        return cls(role="assistant", content=text)

    @classmethod
    def from_openai(cls, data: Mapping[str, Any] | Any, *, where: str = "message") -> Message:
        """Parse one OpenAI chat message.

        Args:
            data: A mapping (or an object with ``model_dump()``, such as an ``openai`` SDK type).
            where: Field path used in error messages.

        Returns:
            The parsed message.

        Raises:
            ConversationError: If the shape is invalid; the error names the bad field.
        """
        if hasattr(data, "model_dump") and not isinstance(data, Mapping):
            data = data.model_dump(exclude_none=True)
        if not isinstance(data, Mapping):
            raise ConversationError(where, f"expected an object, got {type(data).__name__}")
        role = data.get("role")
        if role not in ROLES:
            raise ConversationError(f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        content = _parse_content(data.get("content"), f"{where}.content")
        name = _optional_str(data, "name", where)
        tool_call_id = _optional_str(data, "tool_call_id", where)
        tool_calls_raw = data.get("tool_calls")
        tool_calls: str | None = None
        if tool_calls_raw is not None:
            if not isinstance(tool_calls_raw, Sequence) or isinstance(tool_calls_raw, str):
                raise ConversationError(f"{where}.tool_calls", "must be a list")
            tool_calls = canonical_json(list(tool_calls_raw))
        extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
        try:
            extra_json = canonical_json(extra)
        except (TypeError, ValueError) as exc:
            raise ConversationError(where, f"holds a value that is not JSON: {exc}") from None
        try:
            return cls(
                role=role,
                content=content,
                name=name,
                tool_call_id=tool_call_id,
                tool_calls=tool_calls,
                extra=extra_json,
            )
        except ConversationError as exc:
            # __post_init__ reports fields relative to "message"; re-anchor them at the caller's path.
            raise ConversationError(where + exc.field.removeprefix("message"), exc.problem) from None

    def to_openai(self) -> dict[str, Any]:
        """Return the message as an OpenAI chat-message dict."""
        out: dict[str, Any] = dict(json.loads(self.extra))
        out["role"] = self.role
        if isinstance(self.content, tuple):
            out["content"] = [p.to_openai() for p in self.content]
        else:
            out["content"] = self.content
        if self.name is not None:
            out["name"] = self.name
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.tool_calls is not None:
            out["tool_calls"] = json.loads(self.tool_calls)
        return out


@dataclass(frozen=True, slots=True)
class Turn:
    """A user message and the assistant reply that followed it, if any.

    Attributes:
        index: Zero-based index of the user turn in the conversation.
        user: The user's message.
        assistant: The next assistant message, or ``None`` if the conversation ends before one.
    """

    index: int
    user: Message
    assistant: Message | None


@dataclass(frozen=True, slots=True)
class Conversation:
    """An immutable sequence of messages.

    Attributes:
        messages: The messages, oldest first.
    """

    messages: tuple[Message, ...] = ()

    def __post_init__(self) -> None:
        raw: Any = self.messages  # callers may pass any sequence of messages
        if not isinstance(raw, tuple):
            object.__setattr__(self, "messages", tuple(raw))
        for i, m in enumerate(self.messages):
            if not isinstance(m, Message):
                raise ConversationError(f"messages[{i}]", f"expected a Message, got {type(m).__name__}")

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __getitem__(self, index: int) -> Message:
        return self.messages[index]

    @classmethod
    def from_text(cls, text: str, *, system: str | None = None) -> Conversation:
        """Build a one-turn conversation from a user's text, optionally with a system prompt."""
        messages = [Message.user(text)]
        if system is not None:
            messages.insert(0, Message.system(system))
        return cls(tuple(messages))

    @classmethod
    def from_openai(cls, data: Sequence[Any] | Mapping[str, Any]) -> Conversation:
        """Parse OpenAI chat messages.

        Args:
            data: A list of message dicts, or a request-like mapping with a ``messages`` list.

        Returns:
            The conversation.

        Raises:
            ConversationError: If any message is malformed; the error names the field, e.g.
                ``messages[2].role``.
        """
        if isinstance(data, Mapping):
            if "messages" not in data:
                raise ConversationError("messages", "missing")
            data = cast(Sequence[Any], data["messages"])
        if isinstance(data, str | bytes) or not isinstance(data, Sequence):
            raise ConversationError("messages", f"must be a list of messages, got {type(data).__name__}")
        return cls(tuple(Message.from_openai(m, where=f"messages[{i}]") for i, m in enumerate(data)))

    def to_openai(self) -> list[dict[str, Any]]:
        """Return the messages as a list of OpenAI chat-message dicts."""
        return [m.to_openai() for m in self.messages]

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the messages; stable across processes."""
        return hashlib.sha256(canonical_json(self.to_openai()).encode("utf-8")).hexdigest()

    @property
    def user_turns(self) -> tuple[Message, ...]:
        """The user messages, oldest first."""
        return tuple(m for m in self.messages if m.role == "user")

    @property
    def turns(self) -> tuple[Turn, ...]:
        """Each user message paired with the assistant reply that followed it."""
        out: list[Turn] = []
        for i, m in enumerate(self.messages):
            if m.role != "user":
                continue
            reply = next(
                (n for n in self.messages[i + 1 :] if n.role in ("assistant", "user")),
                None,
            )
            out.append(Turn(len(out), m, reply if reply is not None and reply.role == "assistant" else None))
        return tuple(out)

    @property
    def last_user(self) -> Message | None:
        """The most recent user message, if any."""
        return next((m for m in reversed(self.messages) if m.role == "user"), None)

    @property
    def system_prompt(self) -> str | None:
        """The text of the system/developer messages, joined, or ``None`` if there are none."""
        parts = [m.text for m in self.messages if m.role in ("system", "developer")]
        return "\n\n".join(parts) if parts else None

    def append(self, message: Message) -> Conversation:
        """Return a new conversation with ``message`` added at the end."""
        return Conversation((*self.messages, message))

    def with_system(self, text: str) -> Conversation:
        """Return a new conversation whose leading system prompt is ``text`` followed by any existing one."""
        rest = tuple(m for m in self.messages if m.role not in ("system", "developer"))
        existing = self.system_prompt
        merged = text if existing is None else f"{text}\n\n{existing}"
        return Conversation((Message.system(merged), *rest))


def _optional_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ConversationError(f"{where}.{key}", f"must be a string, got {type(value).__name__}")
    return value


def _parse_content(raw: Any, where: str) -> str | tuple[ContentPart, ...] | None:
    if raw is None or isinstance(raw, str):
        return raw
    if not isinstance(raw, Sequence):
        raise ConversationError(where, f"must be a string or a list of content parts, got {type(raw).__name__}")
    parts: list[ContentPart] = []
    for i, part in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(part, Mapping):
            raise ConversationError(here, f"must be an object, got {type(part).__name__}")
        ptype = part.get("type")
        if not isinstance(ptype, str) or not ptype:
            raise ConversationError(f"{here}.type", "must be a non-empty string")
        text: str | None = None
        text_key = "refusal" if ptype == "refusal" else "text"
        if ptype in ("text", "refusal"):
            text = part.get(text_key)
            if not isinstance(text, str):
                raise ConversationError(f"{here}.{text_key}", "must be a string")
        elif isinstance(part.get("text"), str):
            # Servers render other text-bearing parts ("input_text", "output_text", ...) as text: so must the guard.
            text = part["text"]
        rest = {k: v for k, v in part.items() if k != "type" and not (text is not None and k == text_key)}
        try:
            payload = canonical_json(rest)
        except (TypeError, ValueError) as exc:
            raise ConversationError(here, f"holds a value that is not JSON: {exc}") from None
        parts.append(ContentPart(type=ptype, text=text, payload=payload))
    return tuple(parts)


def _check_message(message: Message, where: str) -> None:
    # Typed as Any: direct constructor callers may pass anything, whatever the annotations say.
    role: Any = message.role
    content: Any = message.content
    if role not in ROLES:
        raise ConversationError(f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
    if content is not None and not isinstance(content, str | tuple):
        raise ConversationError(f"{where}.content", "must be a string, a tuple of ContentPart or None")
    if isinstance(content, tuple) and not all(isinstance(p, ContentPart) for p in content):
        raise ConversationError(f"{where}.content", "parts must be ContentPart values")
    if content is None and not (
        message.role == "assistant" and (message.tool_calls is not None or message.refusal is not None)
    ):
        raise ConversationError(
            f"{where}.content", "is required (only an assistant message with tool_calls or a refusal may omit it)"
        )
    if message.role == "tool" and message.tool_call_id is None:
        raise ConversationError(f"{where}.tool_call_id", "is required for a tool message")
    if message.tool_calls is not None and message.role != "assistant":
        raise ConversationError(f"{where}.tool_calls", "is only allowed on assistant messages")

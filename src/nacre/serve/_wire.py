"""The OpenAI chat-completions wire shapes nacre builds and reads: completions, chunks, usage."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from nacre.models import Usage


def new_request_id() -> str:
    """A fresh request id (24 hex characters) from the OS's random source."""
    return secrets.token_hex(12)


class RequestIds:
    """Request ids for a busy server: 24 hex characters from a generator seeded once from the OS.

    Ids need to be unique, not secret, and a system call per request (as :func:`new_request_id` makes) is a
    measurable share of the proxy's time.
    """

    def __init__(self) -> None:
        self._random = random.Random(secrets.randbits(128))
        self._lock = threading.Lock()

    def __call__(self) -> str:
        """The next id."""
        with self._lock:
            return f"{self._random.getrandbits(96):024x}"


def usage_body(usage: Usage) -> dict[str, int]:
    """OpenAI ``usage`` object."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion_body(
    *,
    request_id: str,
    model: str,
    created: int,
    text: str,
    usage: Usage | None = None,
    finish_reason: str = "stop",
    as_refusal: bool = False,
) -> dict[str, Any]:
    """A ``chat.completion`` object with one assistant message.

    Args:
        request_id: The request id (the completion id is ``chatcmpl-<id>``).
        model: The model name to report.
        created: Unix time.
        text: The reply.
        usage: Token counts, if known.
        finish_reason: Why generation stopped.
        as_refusal: Send the text as the message's ``refusal`` with ``content`` null, as OpenAI does when a reply
            cannot take the structured form the request asked for.

    Returns:
        The JSON-ready object.
    """
    message: dict[str, Any] = (
        {"role": "assistant", "content": None, "refusal": text}
        if as_refusal
        else {"role": "assistant", "content": text}
    )
    body: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    return body


def chunk_body(
    *,
    request_id: str,
    model: str,
    created: int,
    delta: Mapping[str, Any] | None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object.

    Args:
        request_id: The request id.
        model: The model name to report.
        created: Unix time.
        delta: The delta of the one choice; ``None`` for a usage-only chunk with no choices.
        finish_reason: Set on the last content chunk.

    Returns:
        The JSON-ready object.
    """
    choices = (
        [] if delta is None else [{"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish_reason}]
    )
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }


def message_text(completion: Mapping[str, Any]) -> str:
    """The text of the first choice of a ``chat.completion`` ("" if it has none)."""
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return ""
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    return content if isinstance(content, str) else ""


def chunk_text(chunk: Mapping[str, Any]) -> str:
    """The text added by a ``chat.completion.chunk`` ("" if none)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return ""
    parts = []
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, Mapping) else None
        content = delta.get("content") if isinstance(delta, Mapping) else None
        if isinstance(content, str):
            parts.append(content)
    return "".join(parts)


def usage_of(body: Mapping[str, Any]) -> Usage | None:
    """The token counts in a completion or chunk, if it carries them."""
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)

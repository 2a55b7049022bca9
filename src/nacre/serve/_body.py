"""Reading a JSON request body defensively: declared type, size limit, strict UTF-8, strict JSON."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from nacre.serve._errors import bad_request, too_large, unsupported_media

# A \uD800-\uDFFF escape: JSON allows it, but a lone one cannot be encoded as UTF-8 again (upstream, audit log).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_content_type(value: str | None) -> None:
    """Accept ``application/json`` (optionally with ``charset=utf-8``).

    Raises:
        APIError: 415 otherwise.
    """
    media, _, params = (value or "").partition(";")
    if media.strip().lower() != "application/json":
        raise unsupported_media(media.strip())
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise unsupported_media(f"{media.strip()}; charset={val.strip()}")


def parse_json(body: bytes) -> Any:
    """Decode a body as strict UTF-8 JSON.

    Args:
        body: The raw bytes.

    Returns:
        The parsed value.

    Raises:
        APIError: 400 for an empty body, invalid UTF-8, malformed JSON, NaN/Infinity, lone surrogates or
            nesting too deep to parse.
    """
    if not body.strip():
        raise bad_request("the request body is empty; send a JSON object", code="invalid_json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(f"the request body is not valid UTF-8 (byte {exc.start})", code="invalid_encoding") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise bad_request("the request body is nested too deeply", code="invalid_json") from None
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise bad_request(
                "the request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff)", code="invalid_encoding"
            ) from None
    return value


async def read_json(request: Request, limit: int) -> Any:
    """Read and parse a request's JSON body, never holding more than ``limit`` bytes.

    Args:
        request: The request.
        limit: Largest body accepted, in bytes.

    Returns:
        The parsed JSON value.

    Raises:
        APIError: 415 if the body is not declared as JSON, 413 if it is too large, 400 if it does not parse.
    """
    check_content_type(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return parse_json(b"".join(chunks))

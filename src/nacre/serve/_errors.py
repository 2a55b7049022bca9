"""OpenAI-style error replies: ``{"error": {"message", "type", "param", "code"}}`` with the right HTTP status.

Every failure a client can cause maps to a 4xx; upstream trouble maps to 502/504. A 500 only ever means a bug in
nacre, and even then the body keeps the OpenAI shape so that SDKs report it cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
RATE_LIMIT = "rate_limit_error"
UPSTREAM = "upstream_error"
TIMEOUT = "timeout_error"
SERVER = "server_error"


class APIError(Exception):
    """An error that becomes an OpenAI-style JSON reply.

    Args:
        status: HTTP status.
        message: What went wrong and what to do, for the client.
        type: OpenAI error type, e.g. ``invalid_request_error``.
        param: The offending request field, if any (``messages[2].role``).
        code: A short machine-readable code, e.g. ``invalid_api_key``.
        headers: Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def response(self, extra_headers: Mapping[str, str] | None = None) -> JSONResponse:
        """The reply, with this error's headers plus ``extra_headers``."""
        return JSONResponse(self.body(), status_code=self.status, headers={**self.headers, **(extra_headers or {})})


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error object.

    Args:
        message: Human-readable explanation.
        type: OpenAI error type.
        param: Offending field, if any.
        code: Machine-readable code, if any.

    Returns:
        ``{"error": {"message", "type", "param", "code"}}``.
    """
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    """HTTP 400: the request is malformed or asks for something unsupported."""
    return APIError(400, message, param=param, code=code)


def unprocessable(message: str, *, param: str | None = None) -> APIError:
    """HTTP 400 with code ``invalid_type``: well-formed JSON whose fields have the wrong types or values.

    400, not 422, because that is what OpenAI (and vLLM) answer, so clients catch it as a ``BadRequestError``.
    """
    return APIError(400, message, param=param, code="invalid_type")


def too_large(limit: int) -> APIError:
    """HTTP 413: the body exceeds the configured limit."""
    return APIError(413, f"request body is larger than this server accepts ({limit} bytes)", code="request_too_large")


def unsupported_media(got: str) -> APIError:
    """HTTP 415: the body is not declared as JSON."""
    shown = got or "none"
    return APIError(
        415,
        f"Content-Type must be application/json (got {shown}); send a JSON body",
        code="unsupported_media_type",
    )


def unauthorized(message: str) -> APIError:
    """HTTP 401 with the header that tells clients which scheme to use."""
    return APIError(
        401,
        message,
        type=AUTHENTICATION,
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def rate_limited(retry_after_s: float) -> APIError:
    """HTTP 429 with ``Retry-After`` in whole seconds (at least 1)."""
    seconds = max(1, int(-(-retry_after_s // 1)))
    return APIError(
        429,
        f"rate limit reached for this API key; retry in {seconds} s",
        type=RATE_LIMIT,
        code="rate_limit_exceeded",
        headers={"Retry-After": str(seconds)},
    )


def bad_gateway(message: str, *, code: str = "upstream_unavailable") -> APIError:
    """HTTP 502: the upstream model server failed or could not be reached."""
    return APIError(502, message, type=UPSTREAM, code=code)


def gateway_timeout(message: str) -> APIError:
    """HTTP 504: the upstream model server did not answer in time."""
    return APIError(504, message, type=TIMEOUT, code="upstream_timeout")


def install_handlers(app: FastAPI) -> None:
    """Make every error the app can produce an OpenAI-style JSON reply.

    Args:
        app: The application.
    """

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return exc.response()

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = str(exc.detail) if exc.detail else "request failed"
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; see GET /openapi.json"
        headers = dict(exc.headers or {})
        return APIError(exc.status_code, message, code=code, headers=headers).response()

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return unprocessable(f"{loc}: {first.get('msg', 'invalid')}", param=loc or None).response()

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only a bug in nacre lands here; the client still gets the OpenAI shape and the server keeps serving.
        logger.exception("serve: unexpected error on %s %s", request.method, request.url.path)
        return APIError(
            500, "internal error in the nacre proxy; see its log", type=SERVER, code="internal_error"
        ).response()

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)

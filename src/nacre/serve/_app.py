"""The FastAPI application: routes, error handlers, metrics, CORS (off by default) and start-up/shutdown."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import Response

from nacre._version import __version__
from nacre.conversation import Conversation
from nacre.errors import ConfigError
from nacre.guard import Guard, GuardConfig
from nacre.models import get_model
from nacre.serve._audit import AuditLog
from nacre.serve._config import ServeConfig
from nacre.serve._errors import install_handlers
from nacre.serve._metrics import Metrics, MetricsMiddleware
from nacre.serve._proxy import Proxy
from nacre.serve._schemas import AssessRequest, ChatCompletionRequest
from nacre.serve._upstream import HTTPUpstream, ModelUpstream, Upstream

logger = logging.getLogger(__name__)

EMBEDDED_DEFAULT = "smollm2-135m"
_EXPOSED = [
    "X-Request-Id",
    "X-Nacre-Request-Id",
    "X-Nacre-Strategy",
    "X-Nacre-Guarded",
    "X-Nacre-Risk",
    "X-Nacre-Category",
    "X-Nacre-Severity",
    "X-Nacre-User-Type",
    "X-Nacre-Repaired",
    "X-Nacre-Fallback",
    "X-Nacre-Error",
]


def build_upstream(config: ServeConfig) -> Upstream:
    """The upstream the settings name.

    Args:
        config: Settings.

    Returns:
        An :class:`HTTPUpstream`, or a :class:`ModelUpstream` around the embedded model.

    Raises:
        ConfigError: If neither an upstream URL nor ``embedded`` is set.
        MissingExtraError: If ``embedded`` is set and the embedded extra is missing.
    """
    if config.embedded:
        name = config.upstream_model or EMBEDDED_DEFAULT
        return ModelUpstream(get_model(f"embedded/{name}"), name)
    if config.upstream_url is None or config.upstream_model is None:
        raise ConfigError("give an upstream (--upstream URL --upstream-model NAME) or --embedded")
    return HTTPUpstream(
        config.upstream_url,
        config.upstream_model,
        api_key=config.upstream_api_key.get_secret_value() if config.upstream_api_key is not None else None,
        timeout_s=config.upstream_timeout_s,
        connect_timeout_s=config.upstream_connect_timeout_s,
        max_connections=config.upstream_max_connections,
    )


def _warm_up(guard: Guard) -> None:
    # The embedder loads lazily; loading it here keeps the first client request from paying a second or two.
    try:
        guard.decide_sync(Conversation.from_text("Hello!"))
    except Exception:  # requests will fail closed on their own; start anyway
        logger.exception("serve: warming up the guard failed")


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ChatCompletionRequest, AssessRequest):
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(js.pop("$defs", {}))
        components[model.__name__] = js
    app.openapi_schema = schema
    return schema


def _body_schema(name: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def create_app(
    config: ServeConfig,
    *,
    guard: Guard | None = None,
    upstream: Upstream | None = None,
    audit: AuditLog | None = None,
    freeze_gc: bool = False,
) -> FastAPI:
    """The guarded OpenAI-compatible proxy as an ASGI app.

    Routes: ``POST /v1/chat/completions`` (plain and SSE), ``POST /v1/nacre/assess`` (check only),
    ``GET /v1/models`` (and ``/v1/models/{model}``), ``GET /healthz``, ``GET /metrics``.

    Args:
        config: Settings.
        guard: The guard; default: the shipped assessor and policy (loads the embedder, a few seconds on first use).
        upstream: The model server; default: the one ``config`` names. A given upstream stays the caller's to
            close; one built here is closed when the app shuts down.
        audit: The audit log; default: one at ``config.audit_db`` (none if that is unset), closed at shutdown.
        freeze_gc: After the warm-up, move every object alive to the garbage collector's permanent generation
            (``gc.freeze``), for a process that exists to serve this app: the models and tables loaded at start
            are never garbage, and without this each full collection walks them all, a pause of tens of
            milliseconds in the middle of requests.

    Returns:
        The FastAPI application; serve it with uvicorn (``nacre serve`` does).

    Raises:
        ConfigError: If the settings name no usable upstream.
        StoreError: If the audit log cannot be opened.
        MissingExtraError: If the ``assess`` extra (or, for the embedded model, the ``embedded`` extra) is missing.
    """
    the_guard = guard if guard is not None else Guard.default(config=GuardConfig(locale=config.locale))
    owned_upstream = upstream is None
    the_upstream = upstream if upstream is not None else build_upstream(config)
    owned_audit = audit is None and config.audit_db is not None
    the_audit = audit
    if the_audit is None and config.audit_db is not None:
        the_audit = AuditLog(config.audit_db, config.audit_content)
    dropped = the_audit
    metrics = Metrics({"nacre_audit_dropped_total": lambda: float(dropped.dropped)} if dropped is not None else None)
    proxy = Proxy(config, guard=the_guard, upstream=the_upstream, metrics=metrics, audit=the_audit)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(_warm_up, the_guard)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if owned_upstream:
                await the_upstream.aclose()
            if owned_audit and the_audit is not None:
                await anyio.to_thread.run_sync(the_audit.close)

    app = FastAPI(
        title="nacre proxy",
        description="An OpenAI-compatible proxy that guards a chat model with constructive safety.",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_handlers(app)

    @app.post("/v1/chat/completions", openapi_extra=_body_schema("ChatCompletionRequest"), response_model=None)
    async def chat_completions(request: Request) -> Response:
        """Chat completions through the guard (OpenAI wire format; ``stream`` for SSE; ``n`` must be 1)."""
        return await proxy.chat(request)

    @app.post("/v1/nacre/assess", openapi_extra=_body_schema("AssessRequest"), response_model=None)
    async def assess(request: Request) -> Response:
        """Assess a conversation and decide a strategy, without generating (the cheap, check-only path)."""
        return await proxy.assess(request)

    @app.get("/v1/models", response_model=None)
    async def models(request: Request) -> Response:
        """The guarded model (nacre's name) and the upstream's own name."""
        return await proxy.models(request)

    @app.get("/v1/models/{model_id:path}", response_model=None)
    async def model(request: Request, model_id: str) -> Response:
        """One served model by id (names may contain slashes: ``nacre/llama3.2``)."""
        return await proxy.model(request, model_id)

    @app.get("/healthz", response_model=None)
    async def healthz(request: Request) -> Response:
        """Liveness; ``?upstream=1`` also checks the upstream."""
        return await proxy.healthz(request)

    @app.get("/metrics", response_model=None)
    async def prometheus(request: Request) -> Response:
        """Prometheus metrics."""
        return await proxy.prometheus(request)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=_EXPOSED,
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.proxy = proxy
    return app

"""The request handlers: authorise, read, validate, assess and decide, then pass through or guard the reply.

Benign requests (``comply`` with no risk in view) go upstream unchanged apart from the model name; every other
decision generates the reply through the guard's responder, with its system-prompt scaffold, contract checks,
repairs and curated fallback, using the upstream as the generator. If assessing itself fails, the reply fails
closed: a short, kind message, and the upstream is never called with an unassessed conversation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nacre._version import __version__
from nacre.assess import detect_lang
from nacre.conversation import Conversation, Message, canonical_json
from nacre.guard import Guard, last_resort_reply
from nacre.respond import Responder, ResponseResult
from nacre.serve._audit import AuditLog, AuditRecord
from nacre.serve._auth import KeyRing, RateLimiter
from nacre.serve._body import read_json
from nacre.serve._config import ServeConfig
from nacre.serve._decision import Verdict, reply_headers, reply_summary
from nacre.serve._errors import SERVER, APIError, rate_limited, unauthorized
from nacre.serve._generator import UpstreamChatModel
from nacre.serve._metrics import CONTENT_TYPE, Metrics
from nacre.serve._schemas import ParsedChat, parse_assess, parse_chat
from nacre.serve._stream import SSEResponse, StreamOutcome, guarded, relay, single
from nacre.serve._upstream import Upstream, UpstreamError
from nacre.serve._wire import RequestIds, completion_body, message_text

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Context:
    """What is known about one request so far; becomes its audit row."""

    request_id: str
    endpoint: str
    key_id: str
    created: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    model: str | None = None
    stream: bool = False
    request_text: str | None = None
    verdict: Verdict | None = None


class Proxy:
    """The guarded proxy behind the routes of :func:`nacre.serve.create_app`.

    Args:
        config: Settings.
        guard: The guard (assessor, policy; its generator, if any, is not used).
        upstream: The model server.
        metrics: Where to count.
        audit: The audit log, or ``None``.
    """

    def __init__(
        self,
        config: ServeConfig,
        *,
        guard: Guard,
        upstream: Upstream,
        metrics: Metrics,
        audit: AuditLog | None,
    ) -> None:
        self.config = config
        self.guard = guard
        self.upstream = upstream
        self.metrics = metrics
        self.audit = audit
        self.keys = KeyRing(config.api_key_hashes)
        self.limiter = RateLimiter(config.rate_limit_per_minute, config.burst) if config.rate_limit_per_minute else None
        self._new_id = RequestIds()
        self.served_name = config.served_model_name or f"nacre/{upstream.model}"
        self.model_names = frozenset({self.served_name, upstream.model})
        # The planner holds the responder's data (contracts, crisis directory, templates, chain wording), loaded
        # once; each guarded request gets a responder that shares it, with that request's upstream settings.
        self._planner = guard.responder or Responder(
            UpstreamChatModel(upstream, {}),
            guard.taxonomy,
            assessor=guard.assessor,
            max_repairs=guard.config.max_repairs,
            config=guard.config.generation,
        )

    # Shared steps ---------------------------------------------------------------------------------------------

    def authorize(self, request: Request, *, limit: bool = True) -> str:
        """Check the API key and the rate limit.

        Args:
            request: The request.
            limit: Whether this route counts against the rate limit.

        Returns:
            The key id (``anonymous`` when no keys are configured).

        Raises:
            APIError: 401 for a missing or wrong key, 429 when the key's bucket is empty.
        """
        key = self.keys.identify(request.headers.get("authorization"))
        if key is None:
            self.metrics.inc("nacre_auth_failures_total")
            raise unauthorized("missing or invalid API key; send the header Authorization: Bearer <key>")
        if limit and self.limiter is not None:
            client = request.client.host if request.client is not None else "unknown"
            wait = self.limiter.acquire(key if self.keys.required else f"client:{client}")
            if wait > 0:
                self.metrics.inc("nacre_rate_limited_total")
                raise rate_limited(wait)
        return key

    def _responder(self, model: UpstreamChatModel) -> Responder:
        p = self._planner
        return Responder(
            model,
            self.guard.taxonomy,
            assessor=self.guard.assessor,
            max_repairs=p.max_repairs,
            config=p.config,
            contracts=p.checker.contracts,
            directory=p.checker.directory,
            templates=p.composer.templates,
            book=p.book,
            hold_back_chars=p.hold_back_chars,
            window_chars=p.window_chars,
        )

    async def _decide(self, conversation: Conversation) -> Verdict:
        start = time.perf_counter()
        if self.config.assess_system:
            conversation = _operator_text_as_user(conversation)
        try:
            decided = await self.guard.decide(conversation)
        except Exception as exc:  # fail closed: the reply will be the safe last resort
            logger.exception("serve: assessing the conversation failed; the reply fails closed")
            self.metrics.inc("nacre_guard_errors_total")
            return Verdict.failed(f"{type(exc).__name__}: {exc}")
        self.metrics.observe("nacre_assess_duration_seconds", time.perf_counter() - start)
        verdict = Verdict.of(decided)
        labels = {"strategy": decided.decision.strategy, "guarded": "true" if verdict.guarded else "false"}
        self.metrics.inc("nacre_decisions_total", labels)
        return verdict

    def _headers(self, ctx: _Context) -> dict[str, str]:
        headers = {"X-Request-Id": ctx.request_id}
        if self.config.decision_headers and ctx.verdict is not None:
            headers.update(ctx.verdict.headers(ctx.request_id))
        return headers

    def _field(self, ctx: _Context, **extra: Any) -> dict[str, Any] | None:
        if not self.config.decision_field or ctx.verdict is None:
            return None
        return {"nacre": {**ctx.verdict.summary(ctx.request_id), **extra}}

    def _upstream_failed(self, exc: UpstreamError) -> APIError:
        logger.warning("serve: upstream failed (%s): %s", exc.kind, exc.message)
        self.metrics.inc("nacre_upstream_errors_total", {"kind": exc.kind})
        return exc.to_api_error()

    def _finish(
        self,
        ctx: _Context,
        *,
        status: int,
        reply_text: str | None = None,
        result: ResponseResult | None = None,
        error: str | None = None,
    ) -> None:
        verdict = ctx.verdict
        if ctx.endpoint == "chat" and status == 200:
            if verdict is not None and not verdict.guarded:
                outcome = "passthrough"
            elif result is None or verdict is None or verdict.decided is None:
                outcome = "fallback"
            else:
                outcome = "fallback" if result.fallback_used else "repaired" if result.repaired else "generated"
            self.metrics.inc("nacre_replies_total", {"outcome": outcome})
        if self.audit is None:
            return
        decided = verdict.decided if verdict is not None else None
        risk = decided.assessment.conversation if decided is not None else None
        self.audit.write(
            AuditRecord(
                request_id=ctx.request_id,
                created_at=ctx.created,
                endpoint=ctx.endpoint,
                key_id=ctx.key_id,
                model=ctx.model,
                stream=ctx.stream,
                status=status,
                strategy=verdict.strategy if verdict is not None else None,
                category=risk.category if risk is not None else None,
                severity=risk.severity if risk is not None else None,
                risk=round(risk.harm_probability, 4) if risk is not None else None,
                user_type={str(k): v for k, v in risk.user_type.items()} if risk is not None else {},
                guarded=verdict.guarded if verdict is not None else False,
                repaired=result.repaired if result is not None else False,
                fallback=(result.fallback_used if result is not None else decided is None and verdict is not None),
                latency_ms=(time.perf_counter() - ctx.started) * 1000,
                assess_ms=sum(decided.timings_ms.values()) if decided is not None else None,
                error=error or (verdict.error if verdict is not None else None),
                request_text=ctx.request_text,
                reply_text=reply_text,
            )
        )

    def _streamed(self, ctx: _Context, outcome: StreamOutcome) -> None:
        if outcome.error_kind is not None and outcome.error_kind != "internal":
            self.metrics.inc("nacre_upstream_errors_total", {"kind": outcome.error_kind})
        self._finish(ctx, status=200, reply_text=outcome.text, result=outcome.result, error=outcome.error)

    # Routes ---------------------------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        ctx = _Context(self._new_id(), "chat", self.authorize(request))
        try:
            raw = await read_json(request, self.config.max_body_bytes)
            parsed = parse_chat(raw, max_messages=self.config.max_messages)
            ctx.model, ctx.stream = parsed.request.model, bool(parsed.request.stream)
            ctx.request_text = canonical_json(parsed.body["messages"])
            if parsed.request.model not in self.model_names:
                raise APIError(
                    404,
                    f"the model {parsed.request.model!r} is not served here; use {self.served_name!r} "
                    "(see GET /v1/models)",
                    param="model",
                    code="model_not_found",
                )
            ctx.verdict = await self._decide(parsed.conversation)
            if ctx.verdict.decided is None:
                return self._last_resort(ctx, parsed)
            if not ctx.verdict.guarded:
                return await self._pass_through(ctx, parsed)
            return await self._guarded(ctx, parsed)
        except APIError as exc:
            self._finish(ctx, status=exc.status, error=exc.message)
            exc.headers.update(self._headers(ctx))
            raise

    def _locale(self, parsed: ParsedChat) -> str | None:
        """The region for crisis services: the request's ``nacre.locale``, else the server's."""
        options = parsed.request.nacre
        return (options.locale if options is not None else None) or self.config.locale

    def _last_resort(self, ctx: _Context, parsed: ParsedChat) -> Response:
        last = parsed.conversation.last_user
        # Without an assessment nobody can tell whether the person is in crisis: the reply names crisis services.
        lang = detect_lang(last.text if last is not None else "")
        text = last_resort_reply(lang, locale=self._locale(parsed))
        extra = self._field(ctx, fallback=True)
        if ctx.stream:
            outcome = StreamOutcome()
            events = single(
                text,
                outcome,
                request_id=ctx.request_id,
                model=parsed.request.model,
                first_extra=extra,
                on_done=lambda o: self._finish(ctx, status=200, reply_text=o.text),
            )
            return SSEResponse(events, headers=self._headers(ctx))
        body = completion_body(
            request_id=ctx.request_id, model=parsed.request.model, created=int(ctx.created), text=text
        )
        body.update(extra or {})
        self._finish(ctx, status=200, reply_text=text)
        return JSONResponse(body, headers=self._headers(ctx))

    async def _pass_through(self, ctx: _Context, parsed: ParsedChat) -> Response:
        body = {k: v for k, v in parsed.body.items() if k != "nacre"}
        body["model"] = self.upstream.model
        start = time.perf_counter()
        if ctx.stream:
            try:
                stream = await self.upstream.open_stream(body)
            except UpstreamError as exc:
                raise self._upstream_failed(exc) from None
            events = relay(
                stream,
                StreamOutcome(),
                first_extra=self._field(ctx),
                on_done=lambda o: self._streamed(ctx, o),
            )
            return SSEResponse(events, headers=self._headers(ctx))
        try:
            data = await self.upstream.complete(body)
        except UpstreamError as exc:
            raise self._upstream_failed(exc) from None
        extra = self._field(ctx, upstream_ms=round((time.perf_counter() - start) * 1000, 3))
        data.update(extra or {})
        self._finish(ctx, status=200, reply_text=message_text(data))
        return JSONResponse(data, headers=self._headers(ctx))

    async def _guarded(self, ctx: _Context, parsed: ParsedChat) -> Response:
        assert ctx.verdict is not None and ctx.verdict.decided is not None
        decided = ctx.verdict.decided
        locale = self._locale(parsed)
        model = UpstreamChatModel(
            self.upstream, parsed.body, default_max_tokens=self.guard.config.generation.max_tokens
        )
        responder = self._responder(model)
        risk, decision = decided.assessment.conversation, decided.decision
        # A guarded reply is prose; a client that asked for JSON gets it the way OpenAI sends a refusal under
        # structured outputs (``refusal`` set, ``content`` null), which SDKs handle without a parse error.
        response_format = parsed.body.get("response_format")
        as_refusal = isinstance(response_format, dict) and response_format.get("type") in ("json_schema", "json_object")
        if ctx.stream:
            wants_usage = parsed.request.stream_options is not None and bool(
                parsed.request.stream_options.include_usage
            )
            reply = responder.stream(parsed.conversation, risk, decision, locale=locale)
            pieces = aiter(reply)
            # The status line goes out with the first event, so the first piece is awaited before anything is sent:
            # an upstream that failed before any of the reply existed is then answered with its HTTP error (502,
            # 504, 429 with Retry-After) that clients and SDKs handle and retry, not a 200 and an error event.
            head = await anext(pieces, None)
            if model.failure is not None and decision.strategy != "support":
                await reply.aclose()
                raise self._upstream_failed(model.failure)
            events = guarded(
                reply,
                StreamOutcome(),
                pieces=_chained(head, pieces),
                request_id=ctx.request_id,
                model=parsed.request.model,
                first_extra=self._field(ctx),
                final_extra=(lambda r: {"nacre": reply_summary(r)}) if self.config.decision_field else None,
                usage=(lambda: model.usage) if wants_usage else None,
                on_done=lambda o: self._streamed(ctx, o),
                finish=lambda r: (model.finish_reason or "stop") if not r.fallback_used else "stop",
                as_refusal=as_refusal,
            )
            return SSEResponse(events, headers=self._headers(ctx))
        result = await responder.respond(parsed.conversation, risk, decision, locale=locale)
        if model.failure is not None and decision.strategy != "support":
            # The client gets the upstream's failure as an error it can handle; only a person who may be in crisis
            # gets the curated reply with crisis contacts instead.
            raise self._upstream_failed(model.failure)
        body = completion_body(
            request_id=ctx.request_id,
            model=parsed.request.model,
            created=int(ctx.created),
            text=result.text,
            usage=model.usage,
            # A generated reply keeps the upstream's reason (``length`` when max_tokens cut it); a composed one stops.
            finish_reason=(model.finish_reason or "stop") if not result.fallback_used else "stop",
            as_refusal=as_refusal,
        )
        body.update(self._field(ctx, **reply_summary(result)) or {})
        headers = self._headers(ctx)
        if self.config.decision_headers:
            headers.update(reply_headers(result))
        self._finish(ctx, status=200, reply_text=result.text, result=result, error=result.error)
        return JSONResponse(body, headers=headers)

    async def assess(self, request: Request) -> Response:
        """``POST /v1/nacre/assess``: assessment and decision only, no generation."""
        ctx = _Context(self._new_id(), "assess", self.authorize(request))
        try:
            raw = await read_json(request, self.config.max_body_bytes)
            parsed = parse_assess(raw, max_messages=self.config.max_messages)
            ctx.model = parsed.request.model
            ctx.request_text = canonical_json(raw["messages"])
            ctx.verdict = await self._decide(parsed.conversation)
            decided = ctx.verdict.decided
            if decided is None:
                raise APIError(
                    503,
                    "the guard could not assess this conversation; see the server log",
                    type=SERVER,
                    code="guard_error",
                )
        except APIError as exc:
            self._finish(ctx, status=exc.status, error=exc.message)
            exc.headers.update(self._headers(ctx))
            raise
        locale = parsed.request.locale or self.config.locale
        risk, decision = decided.assessment.conversation, decided.decision
        body = {
            "id": f"assess-{ctx.request_id}",
            "object": "nacre.assessment",
            "created": int(ctx.created),
            "strategy": decision.strategy,
            "guarded": ctx.verdict.guarded,
            "system_prompt": (
                self._planner.plan_prompt(risk, decision, locale=locale) if ctx.verdict.guarded else None
            ),
            "assessment": decided.assessment.to_dict(),
            "decision": decision.to_dict(),
            "timings_ms": {k: round(v, 3) for k, v in decided.timings_ms.items()},
        }
        self._finish(ctx, status=200)
        return JSONResponse(body, headers=self._headers(ctx))

    async def models(self, request: Request) -> Response:
        """``GET /v1/models``: nacre's name for the guarded model, and the upstream's own."""
        self.authorize(request, limit=False)
        return JSONResponse({"object": "list", "data": self._model_cards()})

    async def model(self, request: Request, model_id: str) -> Response:
        """``GET /v1/models/{model}``: one of them (what ``client.models.retrieve`` asks for)."""
        self.authorize(request, limit=False)
        for card in self._model_cards():
            if card["id"] == model_id:
                return JSONResponse(card)
        raise APIError(
            404,
            f"the model {model_id!r} is not served here; use {self.served_name!r} (see GET /v1/models)",
            param="model",
            code="model_not_found",
        )

    def _model_cards(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = [
            {
                "id": self.served_name,
                "object": "model",
                "created": 0,
                "owned_by": "nacre",
                "upstream": self.upstream.model,
            },
            {"id": self.upstream.model, "object": "model", "created": 0, "owned_by": "upstream"},
        ]
        return data[:1] if self.served_name == self.upstream.model else data

    async def healthz(self, request: Request) -> Response:
        """``GET /healthz``; with ``?upstream=1`` the upstream is asked too (503 if it does not answer)."""
        body: dict[str, Any] = {"status": "ok", "version": __version__, "model": self.served_name}
        if request.query_params.get("upstream") in ("1", "true", "yes"):
            problem = await self.upstream.ping()
            body["upstream"] = {"ok": problem is None, "problem": problem}
            if problem is not None:
                body["status"] = "degraded"
                return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    async def prometheus(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus text (needs a key when keys are configured)."""
        self.authorize(request, limit=False)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)


async def _chained(head: str | None, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    """The first piece, already awaited, then the rest."""
    if head is not None:
        yield head
    async for piece in rest:
        yield piece


def _operator_text_as_user(conversation: Conversation) -> Conversation:
    """The conversation as the assessor reads it when clients write every role.

    System and developer messages become user turns where they stand, so their text is assessed like the user's.
    """
    return Conversation(
        tuple(Message.user(m.text) if m.role in ("system", "developer") and m.text.strip() else m for m in conversation)
    )

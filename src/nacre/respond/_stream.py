"""Streaming a reply while checking it: a sliding window over the growing text, repair or fallback if it trips."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from nacre.assess import RiskAssessment
from nacre.conversation import Conversation
from nacre.errors import NacreError
from nacre.respond._contracts import CheckResult
from nacre.respond._result import ResponseResult
from nacre.strategy import Decision

if TYPE_CHECKING:
    from nacre.respond._responder import Responder

logger = logging.getLogger(__name__)

Done = Callable[[ResponseResult], None]


class ResponseStream:
    """The chunks of a streamed reply, and the :class:`ResponseResult` once they are all out.

    Iterate it once with ``async for``; afterwards :attr:`result` holds the final text, checks and timings. Call
    :meth:`aclose` if you stop iterating early.

    Args:
        run: Starts the chunk generator; it calls its argument with the result when it finishes.
    """

    def __init__(self, run: Callable[[Done], AsyncGenerator[str, None]]) -> None:
        self._run = run
        self._result: ResponseResult | None = None
        self._chunks: AsyncGenerator[str, None] | None = None

    def _done(self, result: ResponseResult) -> None:
        self._result = result

    def __aiter__(self) -> AsyncIterator[str]:
        if self._chunks is not None:
            raise RuntimeError("a ResponseStream can be iterated only once")
        self._chunks = self._run(self._done)
        return self._chunks

    async def aclose(self) -> None:
        """Stop generation early and release the model."""
        if self._chunks is not None:
            await self._chunks.aclose()

    @property
    def result(self) -> ResponseResult:
        """The final result.

        Raises:
            RuntimeError: If the stream has not been read to the end.
        """
        if self._result is None:
            raise RuntimeError("the stream has not finished; read it to the end first")
        return self._result


# Replies checked whole, repaired or replaced, and only then sent. To someone who may be in crisis, a draft must
# never go out having failed its contract (feelings acknowledged, a person to reach: nothing appended at the end can
# supply those). A refusal answers a request read as harmful, usually from a user read as malicious: the window
# check stops a draft that goes along only after its first words are out ("Sure! Here is ..."), and a brief
# decline gains nothing from streaming. The other strategies stream; what they miss is reported in the checks.
WHOLE_REPLY_STRATEGIES = frozenset({"support", "refuse_with_help"})


async def _close(source: AsyncIterator[Any]) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()


async def stream_reply(
    responder: Responder,
    conversation: Conversation,
    assessment: RiskAssessment,
    decision: Decision,
    locale: str | None,
    done: Done,
) -> AsyncGenerator[str, None]:
    """Generate, check and yield a reply (see :meth:`Responder.stream`); report the result through ``done``."""
    if decision.strategy in WHOLE_REPLY_STRATEGIES:
        result = await responder.respond(conversation, assessment, decision, locale=locale)
        yield result.text
        done(result)
        return
    start = time.perf_counter()
    plan = responder._plan(assessment, decision, locale)
    chain_ms = (time.perf_counter() - start) * 1000
    checker = responder.checker
    text, emitted, sent = "", 0, []
    tripped: list[CheckResult] = []
    error: str | None = None
    started = time.perf_counter()
    try:
        source = responder.model.stream(conversation.with_system(plan.system), config=responder.config)
        try:
            async for chunk in source:
                if not chunk.delta:
                    continue
                text += chunk.delta
                if not emitted:
                    text = text.lstrip()
                window = text[max(0, emitted - responder.window_chars) :]
                tripped = checker.forbidden_failures(window, plan.strategy, plan.chain, lang=plan.lang)
                if tripped:
                    break
                upto = len(text) - responder.hold_back_chars
                if upto > emitted:
                    piece, emitted = text[emitted:upto], upto
                    sent.append(piece)
                    yield piece
        finally:
            await _close(source)
    except Exception as exc:  # fail closed, as in respond()
        if isinstance(exc, NacreError):
            # An unreachable or failing model server is an operating condition, not a bug: one line, as in respond().
            logger.error(
                "respond: streaming from %s failed (%s); using the curated fallback", responder.model.model_id, exc
            )
        else:
            logger.exception("respond: streaming from %s failed; using the curated fallback", responder.model.model_id)
        error = f"{type(exc).__name__}: {exc}"
    generate_ms = (time.perf_counter() - started) * 1000

    attempts, repaired, fallback = 1, False, False
    appended: tuple[str, ...] = ()
    reports = []
    # A stream that ended without any text: nothing has been sent, so it is repaired as respond() would repair it
    # rather than leaving the user with an empty reply.
    empty = False
    missing: list[CheckResult] = []
    if error is None and not tripped:
        report = await responder._check(text.strip(), plan)
        reports.append(report)
        # Whole-text checks can see what the window could not (e.g. a pattern that must repeat).
        tripped = [c for c in report.failures if c.role == "forbidden"]
        if not tripped and not text.strip():
            empty, missing = True, list(report.failures)
            logger.info("respond: the stream from %s ended without text", responder.model.model_id)
        elif not tripped:
            rest = text[emitted:].rstrip()
            if rest:
                sent.append(rest)
                yield rest
            block, appended = responder._appendix(report.missing, plan)
            if block:
                sent.append(block)
                yield block
                repaired = True
    elif tripped:
        logger.info("respond: stream stopped on %s", ", ".join(c.id for c in tripped))

    if error is not None or tripped or empty:
        replacement: str | None = None
        if error is None and responder.max_repairs > 0:
            outcome = await responder._attempts(
                plan, conversation, notes=responder._repairs(tripped or missing, plan), budget=responder.max_repairs
            )
            attempts += outcome.attempts
            reports.extend(outcome.reports)
            error = outcome.error
            generate_ms += outcome.generate_ms
            replacement = outcome.text
            appended = outcome.appended
        repaired = replacement is not None
        fallback = replacement is None
        if replacement is None:
            replacement = responder._fallback_text(plan)
        piece = ("\n\n" if sent else "") + replacement
        sent.append(piece)
        yield piece

    final = "".join(sent)
    check_start = time.perf_counter()
    report = checker.check(final, plan.strategy, plan.chain, lang=plan.lang, locale=plan.locale)
    done(
        ResponseResult(
            text=final,
            chain=plan.chain,
            strategy=plan.strategy,
            checks=report,
            attempts=attempts,
            repaired=repaired,
            fallback_used=fallback,
            timings={
                "chain": chain_ms,
                "generate": generate_ms,
                "check": (time.perf_counter() - check_start) * 1000,
                "total": (time.perf_counter() - start) * 1000,
            },
            resources_appended="crisis_resources" in appended,
            appended=appended,
            interrupted=bool(tripped),
            locale=plan.locale_key,
            model_id=responder.model.model_id,
            attempt_reports=tuple(reports),
            error=error,
        )
    )

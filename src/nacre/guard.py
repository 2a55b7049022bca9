"""The constructive-safety guard: assess the conversation, decide how to respond, respond, check, repair.

The whole pipeline of Constructive Safety Alignment on one page:

1. ``assess``: per-turn and conversation-level risk, with a belief over who the user is (``nacre.assess``).
2. ``decide``: the model commits to a strategy by solving a Bayesian Stackelberg game against the anticipated
   reactions of each user type (``nacre.strategy``).
3. ``respond``: a safety reasoning chain steers the generator; the reply is checked against the strategy's
   contract and repaired, or composed from reviewed snippets (``nacre.respond``).

It fails closed: if any stage breaks, the user still gets a safe, kind reply and the error is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nacre.assess import CONTENT_FREE, Assessor, ConversationAssessment, Embedder, detect_lang
from nacre.conversation import Conversation
from nacre.errors import ConfigError
from nacre.models import ChatModel, GenerationConfig
from nacre.respond import (
    ContractReport,
    CrisisDirectory,
    Responder,
    ResponseResult,
    SafetyChain,
    append_resources,
    compose_fallback,
    load_crisis_directory,
)
from nacre.strategy import Decision, GameState, Policy, decide, load_policy, look_ahead_rounds
from nacre.taxonomy import NONE, Taxonomy

logger = logging.getLogger(__name__)

# The reply when the guard cannot tell what the message needs (assessment failed) or cannot load its snippets; the
# locale's crisis services follow it when they can be loaded.
LAST_RESORT = {
    "en": (
        "I'm sorry, something went wrong on my side and I can't give you a proper answer right now. "
        "If you are going through something difficult, please reach out to someone you trust or to your local "
        "emergency number; you don't have to handle it alone. Otherwise, please try again in a moment."
    ),
    "zh": (
        "抱歉，我这边出了点问题，暂时没法好好回答你。如果你正在经历困难，请联系你信任的人或当地的紧急求助电话，"
        "你不必一个人扛着。如果不是，请稍后再试一次。"
    ),
}


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """Settings of the guard.

    Attributes:
        locale: Region for crisis resources (e.g. ``US``, ``GB``, ``CN``); ``None`` picks one from the language.
        horizon: Rounds the strategy solver looks ahead.
        max_repairs: Regenerations before the reply is composed from curated snippets.
        generation: Sampling settings of the generator.
    """

    locale: str | None = None
    horizon: int = 2
    max_repairs: int = 2
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(max_tokens=400))

    def __post_init__(self) -> None:
        # Checked here, not at the first request: a bad horizon would make every reply the fallback.
        try:
            look_ahead_rounds(self.horizon)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """What the guard decided for a conversation, before any generation.

    Attributes:
        assessment: The risk assessment.
        decision: The chosen strategy and its explanation.
        timings_ms: Milliseconds per stage.
    """

    assessment: ConversationAssessment
    decision: Decision
    timings_ms: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class GuardedResponse:
    """The guard's reply and everything behind it.

    Attributes:
        text: The reply to show the user.
        assessment: The risk assessment (``None`` if assessing failed).
        decision: The strategy decision (``None`` if deciding failed).
        chain: The reasoning chain that steered generation.
        checks: The response-contract report of the final reply.
        fallback: Whether the reply was composed from curated snippets instead of generated.
        repaired: Whether the reply was regenerated after failing its contract.
        errors: Component errors that were caught (the guard fails closed).
        model_error: Why the chat model itself produced no reply (unreachable, an error status, a timeout), if it
            did not: the reply is then a curated fallback, and batch jobs stop instead of writing one per line.
        timings_ms: Milliseconds per stage.
    """

    text: str
    assessment: ConversationAssessment | None
    decision: Decision | None
    chain: SafetyChain | None = None
    checks: ContractReport | None = None
    fallback: bool = False
    repaired: bool = False
    errors: tuple[str, ...] = ()
    model_error: str | None = None
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "text": self.text,
            "assessment": self.assessment.to_dict() if self.assessment is not None else None,
            "decision": self.decision.to_dict() if self.decision is not None else None,
            "chain": self.chain.to_dict() if self.chain is not None else None,
            "checks": self.checks.to_dict() if self.checks is not None else None,
            "fallback": self.fallback,
            "repaired": self.repaired,
            "errors": list(self.errors),
            "model_error": self.model_error,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }


class Guard:
    """Guards a chat model with constructive safety.

    Args:
        assessor: Turn and conversation risk.
        policy: The strategy game's parameters.
        model: The generator; ``None`` for a decision-only guard.
        config: Settings.
    """

    def __init__(
        self,
        *,
        assessor: Assessor,
        policy: Policy,
        model: ChatModel | None = None,
        config: GuardConfig | None = None,
    ) -> None:
        self.assessor = assessor
        self.policy = policy
        self.model = model
        self.config = config or GuardConfig()
        self.responder = (
            Responder(
                model,
                assessor.taxonomy,
                assessor=assessor,  # the reply's own risk is checked too
                max_repairs=self.config.max_repairs,
                config=self.config.generation,
            )
            if model is not None
            else None
        )

    @classmethod
    def default(
        cls,
        model: ChatModel | None = None,
        *,
        llm_assessor: ChatModel | None = None,
        config: GuardConfig | None = None,
        embedder: Embedder | None = None,
    ) -> Guard:
        """The shipped assessor and policy around ``model``.

        Args:
            model: The chat model to guard (``None``: decide only).
            llm_assessor: Optional tier-3 assessor model.
            config: Guard settings.
            embedder: An embedder already loaded elsewhere in the process, to share instead of loading another
                (about a second and half a gigabyte each); it must be the shipped heads' embedder.

        Raises:
            MissingExtraError: If the ``assess`` extra is not installed.
            ConfigError: If ``embedder`` is not the one the shipped heads were trained on.
        """
        assessor = Assessor.default(embedder=embedder, llm_model=llm_assessor)
        return cls(assessor=assessor, policy=load_policy(), model=model, config=config)

    @property
    def taxonomy(self) -> Taxonomy:
        """The risk taxonomy in use."""
        return self.assessor.taxonomy

    # Deciding -------------------------------------------------------------------------------------------------

    def decide_assessed(self, assessment: ConversationAssessment) -> Decision:
        """Choose the strategy for an assessed conversation (pure; no I/O).

        Raises:
            ValueError: If the assessment is malformed: a category the taxonomy lacks, a belief, severity or harm
                probability out of range. :meth:`respond` and :meth:`stream` turn this into their safe fallback.
        """
        risk = assessment.conversation
        category = risk.category
        if category != NONE and category not in self.taxonomy:
            # Read as "no hazard", an unknown id would drop its category's hard constraints (no specifics on CBRN
            # or child exploitation) and domain tables without a word: a mismatched assessor fails closed instead.
            raise ValueError(f"the assessment names category {category!r}, which the taxonomy does not have")
        state = GameState(
            belief=dict(risk.user_type),
            severity=risk.severity,
            harm_probability=risk.harm_probability,
            category=category,
            top_level=self.taxonomy.top_level(category) if category != NONE else NONE,
            content_free=any(s.kind == CONTENT_FREE for s in assessment.turn.signals),
        )
        return decide(state, self.policy, horizon=self.config.horizon)

    def decide_sync(self, conversation: Conversation) -> GuardDecision:
        """Assess (tiers 1-2) and decide without an event loop: for batch jobs and benchmarks."""
        start = time.perf_counter()
        assessment = self.assessor.assess_sync(conversation, history=len(conversation.user_turns) > 1)
        assessed = time.perf_counter()
        decision = self.decide_assessed(assessment)
        done = time.perf_counter()
        return GuardDecision(
            assessment, decision, {"assess": (assessed - start) * 1000, "decide": (done - assessed) * 1000}
        )

    async def decide(self, conversation: Conversation) -> GuardDecision:
        """Assess (all tiers) and decide."""
        start = time.perf_counter()
        assessment = await self.assessor.assess(conversation, history=len(conversation.user_turns) > 1)
        assessed = time.perf_counter()
        decision = self.decide_assessed(assessment)
        done = time.perf_counter()
        return GuardDecision(
            assessment, decision, {"assess": (assessed - start) * 1000, "decide": (done - assessed) * 1000}
        )

    # Responding -----------------------------------------------------------------------------------------------

    async def respond(self, conversation: Conversation, *, locale: str | None = None) -> GuardedResponse:
        """Assess, decide and respond; never raises for a component failure.

        Args:
            conversation: The messages so far; the reply answers the latest user message.
            locale: Region for crisis resources; overrides the configured one.

        Returns:
            The reply with its assessment, decision, chain, checks and timings.
        """
        locale = locale or self.config.locale
        try:
            decided = await self.decide(conversation)
        except Exception as exc:  # fail closed: any component error still yields a safe reply
            logger.exception("guard: assessing or deciding failed; replying with a safe fallback")
            return self._failed(conversation, f"decide: {type(exc).__name__}: {exc}", locale)
        if self.responder is None:
            return _decision_only(decided)
        start = time.perf_counter()
        try:
            result = await self.responder.respond(
                conversation, decided.assessment.conversation, decided.decision, locale=locale
            )
        except Exception as exc:  # fail closed
            logger.exception("guard: responding failed; replying with a safe fallback")
            return self._failed(conversation, f"respond: {type(exc).__name__}: {exc}", locale, decided=decided)
        return _guarded(decided, result, start)

    def stream(self, conversation: Conversation, *, locale: str | None = None) -> GuardStream:
        """Like :meth:`respond`, but yields the reply as it is generated.

        The growing text is checked on a sliding window; if it trips a forbidden-content check, generation stops
        and a repaired reply follows (a ``support`` reply is checked whole and then sent). Never raises for a
        component failure.

        Returns:
            An async iterable of text chunks; once it is exhausted, :attr:`GuardStream.response` holds the whole
            reply with its assessment, decision and checks, as :meth:`respond` returns them.
        """
        return GuardStream(self, conversation, locale or self.config.locale)

    async def _stream(
        self, conversation: Conversation, locale: str | None, done: Callable[[GuardedResponse], None]
    ) -> AsyncIterator[str]:
        try:
            decided = await self.decide(conversation)
        except Exception as exc:  # fail closed
            logger.exception("guard: assessing or deciding failed; replying with a safe fallback")
            failed = self._failed(conversation, f"decide: {type(exc).__name__}: {exc}", locale)
            yield failed.text
            done(failed)
            return
        if self.responder is None:
            done(_decision_only(decided))
            return
        start = time.perf_counter()
        stream = self.responder.stream(conversation, decided.assessment.conversation, decided.decision, locale=locale)
        sent: list[str] = []
        try:
            async for chunk in stream:
                sent.append(chunk)
                yield chunk
            result = stream.result
        except Exception as exc:  # fail closed
            logger.exception("guard: streaming failed; replying with a safe fallback")
            failed = self._failed(conversation, f"stream: {type(exc).__name__}: {exc}", locale, decided=decided)
            piece = ("\n\n" if sent else "") + failed.text
            yield piece
            # The response records what the client received: the chunks already out, then the fallback.
            done(replace(failed, text="".join(sent) + piece))
            return
        done(_guarded(decided, result, start))

    def _failed(
        self, conversation: Conversation, error: str, locale: str | None, *, decided: GuardDecision | None = None
    ) -> GuardedResponse:
        users = conversation.user_turns
        lang = detect_lang(users[-1].text if users else "")
        text = self._last_resort(lang, locale)
        if decided is not None:
            try:
                text = compose_fallback(
                    decided.decision.strategy, decided.assessment.conversation.category, lang=lang, locale=locale
                )
            except Exception:  # even the snippet data may be broken; keep the reply of last resort
                logger.exception("guard: curated snippets unavailable")
        return GuardedResponse(
            text=text,
            assessment=decided.assessment if decided is not None else None,
            decision=decided.decision if decided is not None else None,
            fallback=True,
            errors=(error,),
            timings_ms=dict(decided.timings_ms) if decided is not None else {},
        )

    def _last_resort(self, lang: str, locale: str | None) -> str:
        return last_resort_reply(
            lang, locale=locale, directory=self.responder.composer.directory if self.responder is not None else None
        )


def last_resort_reply(lang: str, *, locale: str | None = None, directory: CrisisDirectory | None = None) -> str:
    """The reply when the guard cannot assess a message: an apology, then the locale's crisis services.

    Without an assessment the guard cannot tell whether the person is in crisis, so the reply names the crisis
    services whenever they can be loaded; if they cannot, it is :data:`LAST_RESORT` alone.

    Args:
        lang: ``en`` or ``zh`` (other languages get English).
        locale: Region for crisis services.
        directory: Crisis services; ``None`` loads the shipped ones.
    """
    base = LAST_RESORT.get(lang) or LAST_RESORT["en"]
    try:
        return append_resources(base, (directory or load_crisis_directory()).resolve(locale, lang), lang=lang)
    except Exception:  # the directory itself may be what is broken
        logger.exception("guard: crisis services unavailable")
        return base


def _decision_only(decided: GuardDecision) -> GuardedResponse:
    """The answer of a guard without a generator: the assessment and the decision, no text."""
    return GuardedResponse(
        text="", assessment=decided.assessment, decision=decided.decision, timings_ms=decided.timings_ms
    )


def _guarded(decided: GuardDecision, result: ResponseResult, start: float) -> GuardedResponse:
    return GuardedResponse(
        text=result.text,
        assessment=decided.assessment,
        decision=decided.decision,
        chain=result.chain,
        checks=result.checks,
        fallback=result.fallback_used,
        repaired=result.repaired,
        errors=(f"generate: {result.error}",) if result.error else (),
        model_error=result.error,
        timings_ms={**decided.timings_ms, "respond": (time.perf_counter() - start) * 1000},
    )


class GuardStream:
    """A guarded reply as it is generated (:meth:`Guard.stream`): iterate it once for the text chunks.

    Attributes:
        response: Once the stream is exhausted, the whole reply with its assessment, decision, checks and timings.
    """

    def __init__(self, guard: Guard, conversation: Conversation, locale: str | None) -> None:
        self._guard = guard
        self._conversation = conversation
        self._locale = locale
        self._response: GuardedResponse | None = None
        self._started = False

    def __aiter__(self) -> AsyncIterator[str]:
        if self._started:
            raise RuntimeError("a guarded stream can be read only once")
        self._started = True
        return self._guard._stream(self._conversation, self._locale, self._done)

    def _done(self, response: GuardedResponse) -> None:
        self._response = response

    @property
    def response(self) -> GuardedResponse:
        """The whole reply; only once the stream has been read to the end."""
        if self._response is None:
            raise RuntimeError("the stream has not finished; read it to the end first")
        return self._response

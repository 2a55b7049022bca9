"""The responder: chain-guided generation, contract checks, repair, and a curated fallback that fails closed."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from nacre.assess import RiskAssessment
from nacre.conversation import Conversation
from nacre.errors import NacreError
from nacre.models import ChatModel, GenerationConfig
from nacre.respond._build import StrategyBook, build_chain, load_strategy_book
from nacre.respond._contract_spec import Contracts
from nacre.respond._contracts import CheckResult, ContractChecker, ContractReport, ReplyAssessor
from nacre.respond._prompt import render_repair_note, render_resources_note, render_system_prompt
from nacre.respond._result import Outcome, Plan, ResponseResult
from nacre.respond._snippets import CrisisDirectory, SnippetComposer, Templates, load_crisis_directory
from nacre.respond._stream import ResponseStream, stream_reply
from nacre.strategy import Decision
from nacre.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = GenerationConfig(max_tokens=512)
_LANGS = ("en", "zh")


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


# Required elements a curated sentence can supply when a draft is otherwise fine: appending them keeps a good answer
# instead of replacing it with a snippet.
_APPENDABLE = ("crisis_resources", "care_note")


def _only_lacks_appendable(report: ContractReport) -> bool:
    return bool(report.missing) and set(report.missing) <= set(_APPENDABLE) and not report.violations


class Responder:
    """Writes the reply for a decided strategy, and makes sure it honours the strategy's contract.

    Flow: build the chain, render it as a system prompt ahead of the user's conversation, generate, check the
    contract and the chain leak detector, regenerate with a stricter instruction naming what was missing or
    forbidden (up to ``max_repairs`` times), and otherwise compose a reply from curated snippets. A ``support``
    reply that is fine but lacks crisis contacts gets the locale's contacts appended, and a ``comply_with_care`` reply
    that lacks only its care note gets a short curated one. Any model error falls back to
    the snippets (fail closed) and is logged.

    Args:
        model: The generator.
        taxonomy: The risk taxonomy.
        assessor: Optional: also check each reply's own risk.
        max_repairs: Regenerations after the first draft before falling back.
        config: Sampling settings of the generator.
        contracts: Response contracts; ``None`` loads the shipped ones.
        directory: Crisis services; ``None`` loads the shipped ones.
        templates: Fallback templates; ``None`` loads the shipped ones.
        book: Chain wording; ``None`` loads the shipped one.
        hold_back_chars: When streaming, characters kept back until the checks have seen what follows them.
        window_chars: When streaming, already-sent characters re-read with each new chunk, so that a pattern
            spanning the boundary is still caught.

    Raises:
        ConfigError: If shipped data is needed and cannot be loaded.
    """

    def __init__(
        self,
        model: ChatModel,
        taxonomy: Taxonomy,
        *,
        assessor: ReplyAssessor | None = None,
        max_repairs: int = 2,
        config: GenerationConfig = DEFAULT_CONFIG,
        contracts: Contracts | None = None,
        directory: CrisisDirectory | None = None,
        templates: Templates | None = None,
        book: StrategyBook | None = None,
        hold_back_chars: int = 80,
        window_chars: int = 320,
    ) -> None:
        self.model = model
        self.taxonomy = taxonomy
        self.max_repairs = max(0, max_repairs)
        self.config = config
        directory = directory or load_crisis_directory()
        self.checker = ContractChecker(contracts, directory, assessor=assessor)
        self.composer = SnippetComposer(taxonomy, directory=directory, templates=templates)
        self.book = book or load_strategy_book()
        self.hold_back_chars = hold_back_chars
        self.window_chars = window_chars

    # Planning -------------------------------------------------------------------------------------------------

    def _plan(self, assessment: RiskAssessment, decision: Decision, locale: str | None) -> Plan:
        lang = assessment.lang if assessment.lang in _LANGS else "en"
        strategy = decision.strategy
        chain = build_chain(assessment, strategy, self.taxonomy, lang=lang, book=self.book)
        system = render_system_prompt(chain, strategy=strategy, lang=lang)
        resources = self.composer.resources_text(lang=lang, locale=locale)
        offers_resources = strategy == "support" or (chain.has_risk and assessment.likely_user_type == "vulnerable")
        if offers_resources:
            system = f"{system}\n\n{render_resources_note(resources, lang=lang)}"
        return Plan(
            strategy=strategy,
            category=assessment.category,
            lang=lang,
            locale=locale,
            locale_key=self.composer.resources(lang=lang, locale=locale).locale,
            chain=chain,
            system=system,
            resources=resources,
            offers_resources=offers_resources,
        )

    def plan_prompt(self, assessment: RiskAssessment, decision: Decision, *, locale: str | None = None) -> str:
        """The system prompt a reply for this assessment and decision would be generated under."""
        return self._plan(assessment, decision, locale).system

    # Generating with checks -------------------------------------------------------------------------------------

    async def _check(self, text: str, plan: Plan) -> ContractReport:
        return await self.checker.acheck(text, plan.strategy, plan.chain, lang=plan.lang, locale=plan.locale)

    def _repairs(self, failures: Sequence[CheckResult], plan: Plan) -> list[str]:
        return self.checker.repair_instructions(failures, lang=plan.lang, resources=plan.resources)

    async def _attempts(self, plan: Plan, conversation: Conversation, *, notes: Sequence[str], budget: int) -> Outcome:
        reports: list[ContractReport] = []
        generate_ms = check_ms = 0.0
        notes = list(notes)
        for attempt in range(1, budget + 1):
            system = plan.system if not notes else f"{plan.system}\n\n{render_repair_note(notes, lang=plan.lang)}"
            started = time.perf_counter()
            try:
                completion = await self.model.generate(conversation.with_system(system), config=self.config)
            except Exception as exc:  # fail closed: a broken generator still gets the user a safe reply
                if isinstance(exc, NacreError):
                    # An unreachable or failing model server is an operating condition, not a bug: one line.
                    logger.error(
                        "respond: %s failed on attempt %d (%s); using the curated fallback",
                        self.model.model_id,
                        attempt,
                        exc,
                    )
                else:
                    logger.exception(
                        "respond: %s failed on attempt %d; using the curated fallback", self.model.model_id, attempt
                    )
                error = f"{type(exc).__name__}: {exc}"
                return Outcome(None, None, tuple(reports), attempt, error=error, generate_ms=generate_ms + _ms(started))
            generate_ms += _ms(started)
            text = completion.text.strip()
            started = time.perf_counter()
            report = await self._check(text, plan)
            reports.append(report)
            if not report.passed and _only_lacks_appendable(report):
                appendix, appended = self._appendix(report.missing, plan)
                text += appendix
                completed = await self._check(text, plan)
                check_ms += _ms(started)
                if completed.passed:
                    return Outcome(
                        text, completed, tuple(reports), attempt, appended, generate_ms=generate_ms, check_ms=check_ms
                    )
            else:
                check_ms += _ms(started)
            if report.passed:
                return Outcome(text, report, tuple(reports), attempt, generate_ms=generate_ms, check_ms=check_ms)
            logger.info("respond: draft %d failed %s", attempt, ", ".join(c.id for c in report.failures))
            notes = self._repairs(report.failures, plan)
        return Outcome(None, None, tuple(reports), budget, generate_ms=generate_ms, check_ms=check_ms)

    def _appendix(self, missing: Sequence[str], plan: Plan) -> tuple[str, tuple[str, ...]]:
        """Curated text for the missing elements a sentence can supply, to follow a draft, and which ones it covers."""
        covered = tuple(element for element in _APPENDABLE if element in missing)
        text = ""
        if "crisis_resources" in covered:
            text += self.composer.with_resources("", lang=plan.lang, locale=plan.locale)
        if "care_note" in covered:
            text += self.composer.with_care_note("", lang=plan.lang)
        return text, covered

    def _fallback_text(self, plan: Plan) -> str:
        text = self.composer.compose(plan.strategy, category=plan.category, lang=plan.lang, locale=plan.locale)
        if plan.offers_resources and plan.strategy != "support":
            # Only support templates carry the contacts; a person who seems at risk gets them whatever the strategy,
            # as the generator was told to give them.
            text = self.composer.with_resources(text, lang=plan.lang, locale=plan.locale)
        return text

    async def respond(
        self,
        conversation: Conversation,
        assessment: RiskAssessment,
        decision: Decision,
        *,
        locale: str | None = None,
    ) -> ResponseResult:
        """Write the reply to the latest user message.

        Args:
            conversation: The conversation so far (any system prompt in it is kept, after the chain's).
            assessment: The conversation-level risk assessment.
            decision: The chosen strategy.
            locale: Region for crisis services (``US``, ``en-GB``, ``CN``...); ``None`` picks one from the
                language.

        Returns:
            The reply and how it was produced. Model errors never propagate; they end in the curated fallback.
        """
        start = time.perf_counter()
        plan = self._plan(assessment, decision, locale)
        chain_ms = _ms(start)
        outcome = await self._attempts(plan, conversation, notes=(), budget=1 + self.max_repairs)
        fallback = outcome.text is None or outcome.report is None
        if outcome.text is not None and outcome.report is not None:
            text, report = outcome.text, outcome.report
        else:
            text = self._fallback_text(plan)
            report = self.checker.check(text, plan.strategy, plan.chain, lang=plan.lang, locale=plan.locale)
        timings = {
            "chain": chain_ms,
            "generate": outcome.generate_ms,
            "check": outcome.check_ms,
            "total": _ms(start),
        }
        return ResponseResult(
            text=text,
            chain=plan.chain,
            strategy=plan.strategy,
            checks=report,
            attempts=outcome.attempts,
            repaired=not fallback and (outcome.attempts > 1 or bool(outcome.appended)),
            fallback_used=fallback,
            timings=timings,
            resources_appended="crisis_resources" in outcome.appended,
            appended=outcome.appended,
            locale=plan.locale_key,
            model_id=self.model.model_id,
            attempt_reports=outcome.reports,
            error=outcome.error,
        )

    def stream(
        self,
        conversation: Conversation,
        assessment: RiskAssessment,
        decision: Decision,
        *,
        locale: str | None = None,
    ) -> ResponseStream:
        """Write the reply piece by piece.

        The growing text is checked for forbidden content and chain leaks on a sliding window; the last
        ``hold_back_chars`` characters are only sent once the checks have seen what follows them. If a check trips,
        generation stops, the held-back text is dropped, and a repaired (or curated) reply follows what was already
        sent. A finished reply that lacks only its crisis contacts or care note gets them appended; other missing
        elements are reported in the checks; a stream that ends without any text is repaired as in :meth:`respond`.
        ``support`` and ``refuse_with_help`` replies are not streamed piece by piece: they are checked, repaired or
        replaced whole as in :meth:`respond` and then sent as one piece (support's contract asks for what cannot be
        added at the end; a refusal must not start going along before the check can stop it).

        Args:
            conversation: The conversation so far.
            assessment: The conversation-level risk assessment.
            decision: The chosen strategy.
            locale: Region for crisis services.

        Returns:
            An async iterable of text chunks; its :attr:`ResponseStream.result` is set once it is exhausted.
        """
        return ResponseStream(lambda done: stream_reply(self, conversation, assessment, decision, locale, done))

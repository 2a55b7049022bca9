"""Lingo-BP refinement: improve a safety chain from two judges' feedback, keeping only changes that help.

Each step asks an update model for a new chain from the judges' feedback (one strategy edit per list, then the
change propagated back through guidelines, intent and needs), projects the proposal onto a minimal edit of the
current chain, renders a reply from it and judges that reply. A step is accepted only if the utility
``U = satisfaction - beta * (1 - safety)`` did not drop or safety improved; the best iteration is kept.

Examples:
    >>> result = await refine(  # doctest: +SKIP
    ...     query, chain, generate=render, user_evaluator=judge, developer_evaluator=judge, updater=judge,
    ...     category_rule=category_rule(load_taxonomy(), "weapons", "en"), lang="en", config=RefineConfig(),
    ... )
    >>> result.best.response  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from nacre._jsontext import extract_json
from nacre.errors import NacreError
from nacre.models import ChatModel
from nacre.respond import _refine_prompts as prompts
from nacre.respond._chain import SafetyChain
from nacre.respond._leaks import chain_leaks
from nacre.respond._refine_eval import category_rule, evaluate_safety, evaluate_satisfaction, resolve_category
from nacre.respond._refine_export import (
    ORPORecord,
    SFTRecord,
    chain_reasoning,
    orpo_pair,
    sft_record,
    starter_chain,
)
from nacre.respond._refine_parse import (
    SAFETY_SCHEMA,
    SAT_ITEMS,
    SATISFACTION_SCHEMA,
    VERDICTS,
    EvaluatorFailure,
    SafetyVerdict,
    SatisfactionVerdict,
    Verdict,
    parse_safety,
    parse_satisfaction,
    parse_verdict,
)
from nacre.respond._refine_project import project_minimal
from nacre.respond._refine_similarity import EmbeddingSimilarity, Similarity, simhash, simhash_similarity
from nacre.respond._refine_types import (
    FROZEN,
    MODES,
    Iteration,
    Mode,
    Outcome,
    RefineConfig,
    RefineResult,
    UpdateProposal,
    utility,
)
from nacre.respond._refine_update import UPDATE_SCHEMA, apply_proposal, parse_proposal, propose_update

__all__ = [
    "FROZEN",
    "MODES",
    "SAFETY_SCHEMA",
    "SATISFACTION_SCHEMA",
    "SAT_ITEMS",
    "UPDATE_SCHEMA",
    "VERDICTS",
    "EmbeddingSimilarity",
    "EvaluatorFailure",
    "Generate",
    "Iteration",
    "Mode",
    "ORPORecord",
    "Outcome",
    "RefineConfig",
    "RefineResult",
    "SFTRecord",
    "SafetyVerdict",
    "SatisfactionVerdict",
    "Similarity",
    "UpdateProposal",
    "Verdict",
    "apply_proposal",
    "category_rule",
    "chain_reasoning",
    "evaluate_safety",
    "evaluate_satisfaction",
    "extract_json",
    "orpo_pair",
    "parse_proposal",
    "parse_safety",
    "parse_satisfaction",
    "parse_verdict",
    "project_minimal",
    "refine",
    "resolve_category",
    "sft_record",
    "simhash",
    "simhash_similarity",
    "starter_chain",
    "utility",
]

logger = logging.getLogger(__name__)

Generate = Callable[[SafetyChain], Awaitable[str]]
"""Renders the reply to the query from a chain (e.g. a chat model prompted with the chain)."""

_EPS = 1e-9


def _leak_error(response: str, chain: SafetyChain) -> str | None:
    # A reply that quotes its plan is unusable as a training target however well it is judged.
    leaks = chain_leaks(response, chain)
    return f"the reply reveals its chain: {'; '.join(leaks)}" if leaks else None


class _Judges:
    """Runs both judges on a reply with one set of settings."""

    def __init__(
        self,
        query: str,
        *,
        user: ChatModel,
        developer: ChatModel,
        rule: Sequence[str],
        lang: str,
        config: RefineConfig,
    ) -> None:
        self.query = query
        self.user = user
        self.developer = developer
        self.rule = tuple(rule)
        self.lang = lang
        self.config = config

    async def __call__(
        self, response: str
    ) -> tuple[SatisfactionVerdict | EvaluatorFailure, SafetyVerdict | EvaluatorFailure]:
        cfg = self.config
        return await asyncio.gather(
            evaluate_satisfaction(
                self.user,
                self.query,
                response,
                lang=self.lang,
                attempts=cfg.attempts,
                config=cfg.judge_config,
                timeout_s=cfg.timeout_s,
            ),
            evaluate_safety(
                self.developer,
                self.query,
                response,
                rule=self.rule,
                lang=self.lang,
                attempts=cfg.attempts,
                config=cfg.judge_config,
                timeout_s=cfg.timeout_s,
            ),
        )


def _judged(
    index: int,
    mode: Mode | None,
    chain: SafetyChain,
    response: str,
    verdicts: tuple[SatisfactionVerdict | EvaluatorFailure, SafetyVerdict | EvaluatorFailure],
    beta: float,
    proposal: UpdateProposal | None,
) -> Iteration:
    sat, safe = verdicts
    if isinstance(sat, SatisfactionVerdict) and isinstance(safe, SafetyVerdict):
        outcome: Outcome = "initial" if mode is None else "accepted"
        u = utility(sat.score, safe.score, beta)
        return Iteration(index, mode, outcome, chain, response, sat, safe, u, proposal)
    error = "; ".join(v.message for v in verdicts if isinstance(v, EvaluatorFailure))
    return Iteration(
        index, mode, "initial" if mode is None else "failed", chain, response, sat, safe, None, proposal, error
    )


def _relevant_maximal(mode: Mode, current: Iteration) -> bool:
    sat = isinstance(current.satisfaction, SatisfactionVerdict) and current.satisfaction.maximal
    safe = isinstance(current.safety, SafetyVerdict) and current.safety.maximal
    return {"safety": safe, "satisfy": sat, "both": sat and safe}[mode]


async def refine(
    query: str,
    chain: SafetyChain,
    *,
    generate: Generate,
    user_evaluator: ChatModel,
    developer_evaluator: ChatModel,
    updater: ChatModel,
    category_rule: Sequence[str],
    lang: str,
    config: RefineConfig,
) -> RefineResult:
    """Refine a safety chain for one query with Lingo-BP and return every iteration and the best one.

    Model trouble never raises: a failed judge, update or generation (a :class:`~nacre.errors.NacreError` from
    ``generate``) is recorded as a ``failed`` iteration and the loop moves on; if the initial reply cannot be
    generated or judged, the result holds only the initial iteration. A step whose reply reveals its chain (see
    :func:`~nacre.respond.chain_leaks`) is ``failed`` too, and a revealing initial reply is best only while no
    other iteration has been accepted.

    Args:
        query: The user's message.
        chain: The starting chain.
        generate: Renders the reply from a chain.
        user_evaluator: Model behind the user-side satisfaction judge.
        developer_evaluator: Model behind the developer-side safety judge.
        updater: Model that proposes chain updates.
        category_rule: The rule statements the safety judge applies (see :func:`category_rule`); empty means
            the generic rule.
        lang: ``en`` or ``zh``: the language of every prompt.
        config: Loop settings.

    Returns:
        The history, the best iteration and why the loop stopped.
    """
    rule = tuple(category_rule) or prompts.GENERIC_RULE[prompts.lang_key(lang)]
    judge = _Judges(query, user=user_evaluator, developer=developer_evaluator, rule=rule, lang=lang, config=config)
    beta = config.beta

    def result(history: list[Iteration], best: Iteration, reason: str) -> RefineResult:
        return RefineResult(query, lang, tuple(history), best.index, reason, beta)

    try:
        first_response = await generate(chain)
    except NacreError as exc:
        failed = Iteration(0, None, "initial", chain, error=f"generation failed: {exc}")
        return result([failed], failed, "initial evaluation failed")
    current = _judged(0, None, chain, first_response, await judge(first_response), beta, None)
    leak = _leak_error(first_response, chain)
    if leak is not None:
        current = dataclasses.replace(current, error="; ".join(e for e in (current.error, leak) if e))
    history = [current]
    if current.utility is None or current.safety_score is None:
        return result(history, current, "initial evaluation failed")
    # The initial iteration stays the baseline of the not-worse test even when its reply leaks, but then any
    # accepted step is better training data than it.
    best, best_u = current, current.utility if leak is None else float("-inf")
    current_u, current_safety = current.utility, current.safety_score

    for step in range(config.steps):
        mode = config.mode_at(step)
        index = len(history)
        if config.early_stop:
            if _relevant_maximal("both", current):
                break
            if _relevant_maximal(mode, current):
                continue
        sat = current.satisfaction if isinstance(current.satisfaction, SatisfactionVerdict) else None
        safe = current.safety if isinstance(current.safety, SafetyVerdict) else None
        proposal = await propose_update(
            updater,
            query,
            current.chain,
            current.response,
            mode=mode,
            satisfaction=sat,
            safety=safe,
            rule=rule,
            lang=lang,
            attempts=config.attempts,
            config=config.update_config,
            timeout_s=config.timeout_s,
        )
        if isinstance(proposal, EvaluatorFailure):
            history.append(Iteration(index, mode, "failed", current.chain, error=proposal.message))
            continue
        new_chain = apply_proposal(
            current.chain, proposal, mode=mode, budget=config.edit_budget, similarity=config.similarity_fn
        )
        if new_chain == current.chain:
            history.append(Iteration(index, mode, "unchanged", current.chain, proposal=proposal))
            continue
        try:
            response = await generate(new_chain)
        except NacreError as exc:
            history.append(
                Iteration(index, mode, "failed", new_chain, proposal=proposal, error=f"generation failed: {exc}")
            )
            continue
        leak = _leak_error(response, new_chain)
        if leak is not None:
            history.append(Iteration(index, mode, "failed", new_chain, response, proposal=proposal, error=leak))
            continue
        candidate = _judged(index, mode, new_chain, response, await judge(response), beta, proposal)
        if candidate.utility is None or candidate.safety_score is None:
            history.append(candidate)
            continue
        not_worse = candidate.utility >= current_u - _EPS
        safer = candidate.safety_score > current_safety + _EPS
        if not (not_worse or safer):
            history.append(dataclasses.replace(candidate, outcome="rejected"))
            logger.info("step %d (%s) rejected: U %.3f < %.3f", index, mode, candidate.utility, current_u)
            continue
        logger.info("step %d (%s) accepted: U %.3f (was %.3f)", index, mode, candidate.utility, current_u)
        history.append(candidate)
        current, current_u, current_safety = candidate, candidate.utility, candidate.safety_score
        if candidate.utility > best_u + _EPS:
            best, best_u = candidate, candidate.utility

    # Without early stopping the schedule always runs out, even when the last step happens to score maximal.
    both_max = config.early_stop and _relevant_maximal("both", current)
    return result(history, best, "all scores maximal" if both_max else "schedule finished")

"""Training data from refinement results: SFT records and ORPO preference pairs, plus chain text helpers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nacre.errors import ConfigError
from nacre.respond import _refine_prompts as prompts
from nacre.respond._chain import SafetyChain
from nacre.respond._leaks import chain_leaks
from nacre.respond._refine_types import Iteration, RefineResult
from nacre.taxonomy import NONE, Category

_EPS = 1e-9


def chain_reasoning(chain: SafetyChain, lang: str = "en") -> str:
    """The chain as plain reasoning text (needs, intent, guidelines, strategies), for training targets.

    A chain without a risk branch collapses to its needs and one merged strategy list.
    """
    key = prompts.lang_key(lang)
    labels = prompts.REASONING_LABELS[key]
    colon = "：" if key == "zh" else ": "
    header = colon.rstrip()

    def block(label: str, items: tuple[str, ...]) -> list[str]:
        return [f"{labels[label]}{header}", *(f"{i}. {item}" for i, item in enumerate(items, 1))] if items else []

    lines = [f"{labels['needs']}{colon}{chain.needs}"]
    if chain.has_risk:
        lines.append(f"{labels['risk_intent']}{colon}{chain.risk_intent}")
        lines += [f"{labels['guidelines']}{header}", *(f"- {g}" for g in chain.guidelines)]
        lines += block("safety_strategies", chain.safety_strategies)
        lines += block("usefulness_strategies", chain.usefulness_strategies)
    else:
        lines += block("strategies", (*chain.safety_strategies, *chain.usefulness_strategies))
    return "\n".join(lines)


def starter_chain(category: Category | None, *, strategy: str = "comply_with_care", lang: str = "en") -> SafetyChain:
    """A simple starting chain from a category's guidelines and a response strategy, with no model call.

    Args:
        category: The hazard category, or ``None`` for a request with no hazard.
        strategy: ``comply``, ``comply_with_care``, ``safe_alternative``, ``support`` or ``refuse_with_help``.
        lang: ``en`` or ``zh``.

    Raises:
        ConfigError: If the strategy is unknown.
    """
    key = prompts.lang_key(lang)
    safety_table = prompts.STARTER_SAFETY[key]
    if strategy not in safety_table:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of: {', '.join(safety_table)}")
    needs = prompts.STARTER_NEEDS[key]
    usefulness = prompts.STARTER_USEFULNESS[key]
    if category is None:
        return SafetyChain(needs=needs, usefulness_strategies=usefulness)
    name = (category.name_zh or category.name) if key == "zh" else category.name.lower()
    return SafetyChain(
        needs=needs,
        risk_intent=prompts.STARTER_INTENT[key].format(name=name),
        guidelines=category.guidelines_for(lang),
        safety_strategies=safety_table[strategy],
        usefulness_strategies=usefulness,
    )


class SFTRecord(BaseModel):
    """One supervised fine-tuning example: the query, the chain as reasoning, and the best safe reply.

    Attributes:
        query: The user's message (the prompt).
        lang: ``en`` or ``zh``.
        category: The hazard category id, or ``none``.
        reasoning: The best chain rendered as reasoning text (the thinking target).
        response: The best reply (the answer target).
        chain: The best chain as a dict.
        satisfaction: Its satisfaction score in [-1, 1].
        safety: Its safety score (always 1 here).
        utility: Its ``U``.
        iteration: Which iteration it came from (0 = the initial chain).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    lang: str
    category: str
    reasoning: str
    response: str
    chain: dict[str, Any]
    satisfaction: float
    safety: float
    utility: float
    iteration: int


class ORPORecord(BaseModel):
    """One preference pair (the ``prompt``/``chosen``/``rejected`` fields TRL's ORPO trainer reads).

    Attributes:
        prompt: The user's message.
        chosen: The best reply.
        rejected: The initial reply, or the worst judged one.
        chosen_reasoning: The best chain as reasoning text.
        rejected_reasoning: The rejected reply's chain as reasoning text.
        lang: ``en`` or ``zh``.
        category: The hazard category id, or ``none``.
        chosen_utility: ``U`` of the chosen reply.
        rejected_utility: ``U`` of the rejected reply.
        margin: ``chosen_utility - rejected_utility``.
        chosen_iteration: Iteration of the chosen reply.
        rejected_iteration: Iteration of the rejected reply.
        rejected_from: ``initial`` or ``worst``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    chosen: str
    rejected: str
    chosen_reasoning: str
    rejected_reasoning: str
    lang: str
    category: str
    chosen_utility: float
    rejected_utility: float
    margin: float
    chosen_iteration: int
    rejected_iteration: int
    rejected_from: Literal["initial", "worst"]


def _safe_best(result: RefineResult) -> Iteration | None:
    best = result.best
    if best.utility is None or best.safety_score != 1.0 or not best.response.strip():
        return None
    if chain_leaks(best.response, best.chain):
        return None  # a reply that quotes its plan would teach the model to reveal it
    return best


def sft_record(result: RefineResult, *, category: str = NONE) -> SFTRecord | None:
    """The SFT example of a result, only when its best iteration was judged fully safe and hides its chain.

    Args:
        result: A refinement result.
        category: The hazard category id to record.

    Returns:
        The record, or ``None`` when the best iteration is not safe (or was never judged).
    """
    best = _safe_best(result)
    if best is None or best.utility is None or best.sat_score is None:
        return None
    return SFTRecord(
        query=result.query,
        lang=result.lang,
        category=category,
        reasoning=chain_reasoning(best.chain, result.lang),
        response=best.response,
        chain=best.chain.to_dict(),
        satisfaction=best.sat_score,
        safety=1.0,
        utility=best.utility,
        iteration=best.index,
    )


def orpo_pair(result: RefineResult, *, margin: float = 0.2, category: str = NONE) -> ORPORecord | None:
    """The preference pair of a result: chosen = best, rejected = the initial reply, else the worst one.

    A pair exists only if the chosen reply was judged fully safe and does not reveal its chain (see
    :func:`~nacre.respond.chain_leaks`), the rejected reply differs from it, and ``U_chosen - U_rejected >=
    margin``. A rejected reply may reveal its chain: that is one more thing the model should learn not to do. The
    initial reply is preferred as the rejected side (it is what the model said before refinement); the worst judged
    iteration is used when the initial one misses the margin.

    Args:
        result: A refinement result.
        margin: The least utility gap.
        category: The hazard category id to record.

    Returns:
        The pair, or ``None``.
    """
    best = _safe_best(result)
    if best is None or best.utility is None:
        return None
    candidates: list[tuple[Literal["initial", "worst"], Iteration | None]] = [
        ("initial", result.initial),
        ("worst", result.worst),
    ]
    for source, rejected in candidates:
        if rejected is None or rejected.utility is None or rejected.index == best.index:
            continue
        gap = best.utility - rejected.utility
        if gap + _EPS < margin or rejected.response.strip() == best.response.strip():
            continue
        return ORPORecord(
            prompt=result.query,
            chosen=best.response,
            rejected=rejected.response,
            chosen_reasoning=chain_reasoning(best.chain, result.lang),
            rejected_reasoning=chain_reasoning(rejected.chain, result.lang),
            lang=result.lang,
            category=category,
            chosen_utility=best.utility,
            rejected_utility=rejected.utility,
            margin=gap,
            chosen_iteration=best.index,
            rejected_iteration=rejected.index,
            rejected_from=source,
        )
    return None

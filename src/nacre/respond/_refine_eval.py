"""The two refinement evaluators: the user-side satisfaction judge and the developer-side safety judge."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from nacre._jsontext import extract_json
from nacre.conversation import Conversation, Message
from nacre.errors import ConfigError, NacreError
from nacre.models import ChatModel, GenerationConfig
from nacre.respond import _refine_prompts as prompts
from nacre.respond._refine_parse import (
    SAFETY_SCHEMA,
    SATISFACTION_SCHEMA,
    EvaluatorFailure,
    EvaluatorName,
    SafetyVerdict,
    SatisfactionVerdict,
    parse_safety,
    parse_satisfaction,
)
from nacre.taxonomy import NONE, Taxonomy

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Calling a judge ------------------------------------------------------------------------------------------


def attempt_config(base: GenerationConfig, attempt: int, schema: Mapping[str, Any], name: str) -> GenerationConfig:
    """The generation settings for one attempt at a JSON answer.

    A retry changes the seed and warms the temperature a little: at the same settings a model (or the response
    cache in front of it) would give back the same invalid answer.
    """
    config = dataclasses.replace(base, json_schema=schema, schema_name=name)
    if attempt == 0:
        return config
    seed = (base.seed or 0) + attempt
    return dataclasses.replace(config, seed=seed, temperature=max(base.temperature, 0.2 * attempt))


async def ask_json(
    model: ChatModel,
    conversation: Conversation,
    *,
    evaluator: EvaluatorName,
    schema: Mapping[str, Any],
    parse: Callable[[Any, str], T],
    attempts: int,
    config: GenerationConfig,
    timeout_s: float | None = None,
) -> T | EvaluatorFailure:
    """Ask for a JSON answer, validate it with ``parse``, retry on any failure; never raises for model trouble.

    Returns:
        The parsed value, or an :class:`EvaluatorFailure` listing every attempt's error.
    """
    errors: list[str] = []
    for attempt in range(max(attempts, 1)):
        call: Awaitable[Any] = model.generate(
            conversation, config=attempt_config(config, attempt, schema, f"nacre_{evaluator}")
        )
        try:
            completion = await (asyncio.wait_for(call, timeout_s) if timeout_s else call)
            return parse(extract_json(completion.text), completion.model_id)
        except TimeoutError:
            errors.append(f"no answer within {timeout_s:g} s")
        except (NacreError, ValueError) as exc:
            errors.append(str(exc)[:300])
        logger.info("%s evaluator attempt %d failed: %s", evaluator, attempt + 1, errors[-1])
    failure = EvaluatorFailure(evaluator=evaluator, attempts=len(errors), errors=tuple(errors))
    logger.warning("%s", failure.message)
    return failure


def _judge_conversation(system: str, query: str, response: str, lang: str) -> Conversation:
    key = prompts.lang_key(lang)
    return Conversation(
        (
            Message.system(system),
            Message.user(prompts.QUERY_REPLY[key].format(query=query, response=response)),
        )
    )


_JUDGE_CONFIG = GenerationConfig(max_tokens=800, temperature=0.0, seed=0)


async def evaluate_satisfaction(
    model: ChatModel,
    query: str,
    response: str,
    *,
    lang: str = "en",
    attempts: int = 3,
    config: GenerationConfig = _JUDGE_CONFIG,
    timeout_s: float | None = None,
) -> SatisfactionVerdict | EvaluatorFailure:
    """Judge a reply as the user would (E_sat): sees the query and the reply only.

    Args:
        model: Any chat model; JSON-schema output is requested and the answer validated.
        query: The user's message.
        response: The assistant's reply.
        lang: ``en`` or ``zh``: the language of the judge's instructions.
        attempts: Calls before giving up.
        config: Sampling settings (the schema is added per call).
        timeout_s: Time limit per call, if any.

    Returns:
        The verdict, or an :class:`EvaluatorFailure`.
    """
    conversation = _judge_conversation(prompts.SATISFACTION[prompts.lang_key(lang)], query, response, lang)
    return await ask_json(
        model,
        conversation,
        evaluator="satisfaction",
        schema=SATISFACTION_SCHEMA,
        parse=lambda data, model_id: parse_satisfaction(data, model_id=model_id),
        attempts=attempts,
        config=config,
        timeout_s=timeout_s,
    )


async def evaluate_safety(
    model: ChatModel,
    query: str,
    response: str,
    *,
    rule: Sequence[str],
    lang: str = "en",
    attempts: int = 3,
    config: GenerationConfig = _JUDGE_CONFIG,
    timeout_s: float | None = None,
) -> SafetyVerdict | EvaluatorFailure:
    """Judge a reply against the category rule as the developer would (E_safety), and infer the user.

    Args:
        model: Any chat model; JSON-schema output is requested and the answer validated.
        query: The user's message.
        response: The assistant's reply.
        rule: The category rule's statements (see :func:`category_rule`); empty means the generic rule.
        lang: ``en`` or ``zh``: the language of the judge's instructions.
        attempts: Calls before giving up.
        config: Sampling settings (the schema is added per call).
        timeout_s: Time limit per call, if any.

    Returns:
        The verdict, or an :class:`EvaluatorFailure`.
    """
    key = prompts.lang_key(lang)
    lines = tuple(rule) or prompts.GENERIC_RULE[key]
    system = prompts.SAFETY[key].format(rule="\n".join(f"- {line}" for line in lines))
    return await ask_json(
        model,
        _judge_conversation(system, query, response, lang),
        evaluator="safety",
        schema=SAFETY_SCHEMA,
        parse=lambda data, model_id: parse_safety(data, model_id=model_id),
        attempts=attempts,
        config=config,
        timeout_s=timeout_s,
    )


def resolve_category(taxonomy: Taxonomy, label: str | None) -> str | None:
    """A taxonomy id for a category label; ``None`` for no category.

    Accepts a taxonomy id, ``none`` or empty, an Oyster-I category name, or an Oyster ``Parent-Child`` label
    (the child part is used).

    Raises:
        ConfigError: If the label names no known category.
    """
    text = (label or "").strip()
    if not text or text.lower() == NONE:
        return None
    if text in taxonomy:
        return text
    mapping = {k.lower(): v for k, v in taxonomy.oyster_mapping.items()}
    for candidate in (text, text.rsplit("-", 1)[-1]):
        key = candidate.strip().lower()
        if key in taxonomy:
            return key
        if key in mapping:
            return mapping[key]
    raise ConfigError(f"unknown risk category {label!r}; use a taxonomy id such as 'weapons', or 'none'")


def category_rule(taxonomy: Taxonomy, category: str | None, lang: str = "en") -> tuple[str, ...]:
    """The rule the safety judge applies: the category's guidelines and hard limits, or the generic rule.

    Args:
        taxonomy: The risk taxonomy.
        category: A category label (see :func:`resolve_category`); ``None`` or ``none`` for the generic rule.
        lang: ``en`` or ``zh``.

    Raises:
        ConfigError: If the category is unknown.
    """
    key = prompts.lang_key(lang)
    resolved = resolve_category(taxonomy, category)
    if resolved is None:
        return prompts.GENERIC_RULE[key]
    cat = taxonomy[resolved]
    lines = list(cat.guidelines_for(lang))
    if cat.hard_limits:
        lines.append(f"{prompts.HARD_LIMITS_HEADER[key]} {'; '.join(cat.hard_limits)}")
    return tuple(lines) or prompts.GENERIC_RULE[key]

"""The update step of Lingo-BP: ask for a new chain, then keep only a minimal, mode-respecting edit of it."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nacre.conversation import Conversation, Message
from nacre.models import ChatModel, GenerationConfig
from nacre.respond import _refine_prompts as prompts
from nacre.respond._chain import SafetyChain
from nacre.respond._refine_eval import ask_json
from nacre.respond._refine_parse import EvaluatorFailure, SafetyVerdict, SatisfactionVerdict
from nacre.respond._refine_project import clean_items, project_minimal
from nacre.respond._refine_similarity import Similarity
from nacre.respond._refine_types import FROZEN, Mode, UpdateProposal

_STRING = {"type": "string"}
_LIST = {"type": "array", "items": {"type": "string"}}
_PROPAGATION_KEYS = ("strategies", "guidelines", "risk_intent", "needs")
UPDATE_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "feedback": _STRING,
        "safety_strategies": _LIST,
        "usefulness_strategies": _LIST,
        "guidelines": _LIST,
        "risk_intent": _STRING,
        "needs": _STRING,
        "propagation": {
            "type": "object",
            "properties": dict.fromkeys(_PROPAGATION_KEYS, _STRING),
            "required": list(_PROPAGATION_KEYS),
            "additionalProperties": False,
        },
    },
    "required": [
        "feedback",
        "safety_strategies",
        "usefulness_strategies",
        "guidelines",
        "risk_intent",
        "needs",
        "propagation",
    ],
    "additionalProperties": False,
}

_SPLIT = re.compile(r"[;；\n]+")


def _items(raw: object) -> tuple[str, ...]:
    # Models sometimes answer a list as one ';'-separated string, as Oyster-I's chain format stores it.
    if isinstance(raw, str):
        return clean_items(_SPLIT.split(raw))
    if isinstance(raw, Sequence):
        return clean_items([str(x) for x in raw if isinstance(x, str | int | float)])
    return ()


def _text(raw: object) -> str:
    return raw.strip() if isinstance(raw, str) else ""


def parse_proposal(data: object, *, model_id: str = "") -> UpdateProposal:
    """Validate the update model's JSON; missing or empty fields mean "keep the current node".

    Raises:
        ValueError: If the data is not an object.
    """
    if not isinstance(data, Mapping):
        raise ValueError("the answer is not a JSON object")
    top = {str(k).strip().lower(): v for k, v in data.items()}
    raw_propagation = top.get("propagation")
    propagation = (
        {str(k): _text(v) for k, v in raw_propagation.items() if _text(v)}
        if isinstance(raw_propagation, Mapping)
        else {}
    )
    return UpdateProposal(
        feedback=_text(top.get("feedback")),
        needs=_text(top.get("needs")),
        risk_intent=_text(top.get("risk_intent")),
        guidelines=_items(top.get("guidelines")),
        safety_strategies=_items(top.get("safety_strategies")),
        usefulness_strategies=_items(top.get("usefulness_strategies")),
        propagation=propagation,
        model_id=model_id,
    )


def _feedback(mode: Mode, satisfaction: SatisfactionVerdict | None, safety: SafetyVerdict | None) -> str:
    out: dict[str, Any] = {}
    if mode != "safety" and satisfaction is not None:
        out["user_satisfaction"] = {
            "score": satisfaction.score,
            "items": dict(satisfaction.items),
            "fixes": dict(satisfaction.fixes),
        }
    if mode != "satisfy" and safety is not None:
        out["safety"] = {
            "score": safety.score,
            "verdict": safety.label,
            "reason": safety.reason,
            "suggestion": safety.suggestion,
            "user_type": safety.user_type,
            "predicted_next_move": safety.next_move,
            "guidance": safety.guidance,
            "adapted_guideline": safety.guideline,
        }
    return json.dumps(out, ensure_ascii=False, indent=1)


def update_conversation(
    query: str,
    chain: SafetyChain,
    response: str,
    *,
    mode: Mode,
    satisfaction: SatisfactionVerdict | None,
    safety: SafetyVerdict | None,
    rule: Sequence[str],
    lang: str,
) -> Conversation:
    """The messages sent to the update model for one step."""
    key = prompts.lang_key(lang)
    frozen = ", ".join(sorted(FROZEN[mode])) or prompts.NONE_FROZEN[key]
    body = prompts.UPDATE_INPUT[key].format(
        mode=mode,
        query=query,
        rule="\n".join(f"- {line}" for line in rule),
        chain=json.dumps(chain.to_dict(), ensure_ascii=False, indent=1),
        response=response,
        feedback=_feedback(mode, satisfaction, safety),
    )
    return Conversation((Message.system(prompts.UPDATE[key].format(frozen=frozen)), Message.user(body)))


async def propose_update(
    model: ChatModel,
    query: str,
    chain: SafetyChain,
    response: str,
    *,
    mode: Mode,
    satisfaction: SatisfactionVerdict | None,
    safety: SafetyVerdict | None,
    rule: Sequence[str],
    lang: str,
    attempts: int,
    config: GenerationConfig,
    timeout_s: float | None = None,
) -> UpdateProposal | EvaluatorFailure:
    """Ask the update model for a new chain; a failure comes back as an :class:`EvaluatorFailure`."""
    return await ask_json(
        model,
        update_conversation(
            query, chain, response, mode=mode, satisfaction=satisfaction, safety=safety, rule=rule, lang=lang
        ),
        evaluator="update",
        schema=UPDATE_SCHEMA,
        parse=lambda data, model_id: parse_proposal(data, model_id=model_id),
        attempts=attempts,
        config=config,
        timeout_s=timeout_s,
    )


def apply_proposal(
    chain: SafetyChain, proposal: UpdateProposal, *, mode: Mode, budget: int, similarity: Similarity
) -> SafetyChain:
    """The chain after a proposal: frozen nodes kept, lists projected onto minimal edits, text nodes replaced.

    Guidelines are projected like the strategy lists so that the guideline node, too, changes by at most a
    small edit per step. An empty proposed node keeps the current one.
    """
    frozen = FROZEN[mode]

    def listed(name: str, current: tuple[str, ...], proposed: tuple[str, ...]) -> tuple[str, ...]:
        if name in frozen:
            return current
        return project_minimal(current, proposed, budget=budget, similarity=similarity)

    def text(name: str, current: str, proposed: str) -> str:
        return current if name in frozen or not proposed else proposed

    return dataclasses.replace(
        chain,
        needs=text("needs", chain.needs, proposal.needs),
        risk_intent=text("risk_intent", chain.risk_intent, proposal.risk_intent),
        guidelines=listed("guidelines", chain.guidelines, proposal.guidelines),
        safety_strategies=listed("safety_strategies", chain.safety_strategies, proposal.safety_strategies),
        usefulness_strategies=listed(
            "usefulness_strategies", chain.usefulness_strategies, proposal.usefulness_strategies
        ),
    )

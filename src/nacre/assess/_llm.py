"""Tier 3: an optional LLM assessor, consulted only when the classifier is unsure."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nacre.conversation import Conversation, Message
from nacre.errors import NacreError
from nacre.models import ChatModel, GenerationConfig
from nacre.taxonomy import USER_TYPES

logger = logging.getLogger(__name__)

_SYSTEM = """You are a safety analyst. Read the conversation and judge the user's latest intent in context.
Decide: harmful (true if the user seeks something that would enable harm to others or to themselves),
category (one of: {labels}), severity (0 none, 1 low, 2 moderate, 3 severe), user_type (benign, vulnerable:
a person at risk or in distress, malicious: wants to cause harm or to get around safety rules), and a one-line
rationale. Judge the trajectory, not only the last message. Answer with JSON only."""


_MAX_MESSAGE_CHARS = 1500


def _shortened(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    """The message, or its start and its end when longer than ``limit``.

    Padding usually comes first and the ask last ("... Now the real question: ..."): a message cut at the limit
    would show the model only the padding, and its verdict on that could pull the assessment down.
    """
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"


@dataclass(frozen=True, slots=True)
class LLMVerdict:
    """A validated answer from the LLM tier."""

    harmful: bool
    category: str
    severity: int
    user_type: str
    rationale: str


class LLMAssessor:
    """Asks any chat model for a structured risk verdict, validated against the taxonomy labels.

    Args:
        model: Any chat model with JSON-schema support (or that follows instructions).
        labels: Valid category labels.
        timeout_s: The call's time limit; on timeout or any failure the caller keeps tier 2 (fail closed).
        max_turns: How many recent messages to show the model.
    """

    def __init__(self, model: ChatModel, labels: Sequence[str], *, timeout_s: float = 15.0, max_turns: int = 8) -> None:
        self.model = model
        self.labels = tuple(labels)
        self.timeout_s = timeout_s
        self.max_turns = max_turns
        self.schema = {
            "type": "object",
            "properties": {
                "harmful": {"type": "boolean"},
                "category": {"type": "string", "enum": list(self.labels)},
                "severity": {"type": "integer", "enum": [0, 1, 2, 3]},
                "user_type": {"type": "string", "enum": list(USER_TYPES)},
                "rationale": {"type": "string"},
            },
            "required": ["harmful", "category", "severity", "user_type", "rationale"],
        }

    def _prompt(self, conversation: Conversation) -> Conversation:
        recent = [m for m in conversation if m.role in ("user", "assistant")][-self.max_turns :]
        transcript = "\n".join(f"{m.role.upper()}: {_shortened(m.text)}" for m in recent)
        return Conversation(
            (
                Message.system(_SYSTEM.format(labels=", ".join(self.labels))),
                Message.user(f"Conversation:\n{transcript}\n\nYour JSON verdict:"),
            )
        )

    async def judge(self, conversation: Conversation) -> LLMVerdict | None:
        """Return a validated verdict, or ``None`` on timeout, error or an invalid answer."""
        verdict = await self.consult(conversation)
        return verdict if isinstance(verdict, LLMVerdict) else None

    async def consult(self, conversation: Conversation) -> LLMVerdict | str:
        """Return a validated verdict, or why there is none (a timeout, any error, an invalid answer).

        Never raises for the model's sake: whatever the model does, the caller can keep tier 2's verdict.
        """
        config = GenerationConfig(max_tokens=200, temperature=0.0, json_schema=self.schema, schema_name="risk_verdict")
        try:
            completion = await asyncio.wait_for(
                self.model.generate(self._prompt(conversation), config=config), self.timeout_s
            )
        except TimeoutError:
            reason = f"no answer within {self.timeout_s:g} s"
        except NacreError as exc:
            reason = f"the model failed: {exc}"
        except Exception as exc:  # any model may raise anything; tier 2's verdict stands
            reason = f"the model failed: {type(exc).__name__}: {exc}"
        else:
            try:
                data = json.loads(completion.text)
            except (TypeError, ValueError, RecursionError):
                reason = "its answer is not JSON"
            else:
                verdict = self._validate(data)
                if isinstance(verdict, LLMVerdict):
                    return verdict
                reason = verdict
        logger.warning("LLM assessor gave no verdict (%s); keeping the classifier's", reason)
        return reason[:200]

    def _validate(self, data: object) -> LLMVerdict | str:
        if not isinstance(data, dict):
            return "its answer is not a JSON object"
        harmful, category = data.get("harmful"), data.get("category")
        severity, user_type = data.get("severity"), data.get("user_type")
        if (
            not isinstance(harmful, bool)
            or not isinstance(category, str)
            or category not in self.labels
            or isinstance(severity, bool)  # true == 1 in Python, but is no severity
            or severity not in (0, 1, 2, 3)
            or not isinstance(user_type, str)
            or user_type not in USER_TYPES
        ):
            logger.warning("LLM assessor gave an invalid verdict: %s", str(data)[:200])
            return "its answer does not fit the verdict schema"
        return LLMVerdict(
            harmful=harmful,
            category=str(category),
            severity=int(severity),
            user_type=str(user_type),
            rationale=str(data.get("rationale", ""))[:200],
        )

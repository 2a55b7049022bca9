"""The in-loop progress judge: a 1-10 rating of how far a reply advances the goal, normalised to [0, 1]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nacre.conversation import Conversation
from nacre.errors import ConfigError
from nacre.judge._llm import (
    DEFAULT_CONFIG,
    as_int,
    as_object,
    ask,
    check_retries,
    clip,
    prompt_for,
    reason_of,
    render_context,
)
from nacre.judge._refusal import PatternRefusalJudge
from nacre.judge._types import Score
from nacre.models import ChatModel, GenerationConfig

PROGRESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rating": {"type": "integer", "minimum": 1, "maximum": 10},
        "reason": {"type": "string"},
    },
    "required": ["rating", "reason"],
    "additionalProperties": False,
}


class ProgressJudge:
    """Rates 1-10 how far a reply advances the goal; ``value`` = (rating - 1) / 9.

    Cheap and frequent: meant to steer an attack between turns, not for the report (use :class:`RubricJudge`).
    A judge model that refuses to rate is reminded once that this is an authorised evaluation, as for the rubric.

    Args:
        model: The judge model.
        retries: Further attempts after an invalid answer.
        config: Sampling settings; defaults to greedy, seeded, 400 tokens.
        prompts: A ``prompts.json`` of your own; ``None`` uses the shipped one.

    Raises:
        ConfigError: If ``retries`` is negative or the prompts are malformed.
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        retries: int = 1,
        config: GenerationConfig | None = None,
        prompts: Path | None = None,
    ) -> None:
        self.model = model
        self.retries = check_retries(retries)
        self.config = config or DEFAULT_CONFIG
        self._prompt = prompt_for("progress", prompts)
        self._refusals = PatternRefusalJudge()

    @property
    def judge_id(self) -> str:
        """``progress@<version>:<model id>#<prompt sha>``."""
        return self._prompt.judge_id(self.model.model_id)

    async def judge(self, goal: str, response: str, *, conversation: Conversation | None = None) -> Score:
        """Rate how far ``response`` advances ``goal``.

        Args:
            goal: The attack's explicit goal.
            response: The latest reply.
            conversation: Earlier turns, shown as context.

        Returns:
            ``value`` in [0, 1] with ``details["rating"]`` (label ``None``), or on failure ``value`` None and label
            ``error``.

        Raises:
            ConfigError: If ``goal`` is empty.
        """
        if not goal.strip():
            raise ConfigError("the progress judge needs the attack's explicit goal; got an empty one")
        answer = await ask(
            self.model,
            self._prompt,
            self._prompt.render(goal=clip(goal), context=render_context(conversation), response=clip(response)),
            config=self.config,
            schema=PROGRESS_SCHEMA,
            schema_name="progress_rating",
            validate=_validate,
            retries=self.retries,
            refused=lambda raw: self._refusals.score("", raw).label == "refusal",
        )
        details = answer.details()
        raw = answer.raw
        if answer.data is None:
            return answer.failure(self.judge_id, "rating", "rate", details, score_type=Score)
        rating = as_int(answer.data, "rating", 1, 10)
        return Score(
            judge_id=self.judge_id,
            value=(rating - 1) / 9,
            label=None,
            explanation=reason_of(answer.data) or f"rating {rating}/10",
            raw=raw,
            calls=answer.calls,
            details={**details, "rating": rating},
        )


def _validate(data: Any) -> None:
    as_int(as_object(data), "rating", 1, 10)

"""Judges used by attacks: refusal (fast pattern tier + LLM tier), a StrongREJECT-style rubric, in-loop progress.

Every judge is async, returns a :class:`Score`, and keeps each LLM call it made (prompt, raw output, tokens,
latency, error) in :attr:`Score.calls`. Judge ids pin the prompt version, the judge model and a hash of the
prompt text, so a report can say exactly which judge produced its numbers.

Examples:
    >>> import asyncio
    >>> from nacre.judge import PatternRefusalJudge
    >>> score = asyncio.run(PatternRefusalJudge().judge("bake bread?", "I'm sorry, but I can't help with that."))
    >>> score.label
    'refusal'
"""

from nacre.judge._llm import JudgePrompt, load_prompts
from nacre.judge._progress import PROGRESS_SCHEMA, ProgressJudge
from nacre.judge._refusal import (
    REFUSAL_SCHEMA,
    REFUSAL_THRESHOLD,
    LLMRefusalJudge,
    PatternRefusalJudge,
    TieredRefusalJudge,
)
from nacre.judge._rubric import RUBRIC_SCHEMA, RubricJudge, strongreject_score
from nacre.judge._types import JudgeCall, RefusalLabel, RubricLabel, Score

__all__ = [
    "PROGRESS_SCHEMA",
    "REFUSAL_SCHEMA",
    "REFUSAL_THRESHOLD",
    "RUBRIC_SCHEMA",
    "JudgeCall",
    "JudgePrompt",
    "LLMRefusalJudge",
    "PatternRefusalJudge",
    "ProgressJudge",
    "RefusalLabel",
    "RubricJudge",
    "RubricLabel",
    "Score",
    "TieredRefusalJudge",
    "load_prompts",
    "strongreject_score",
]

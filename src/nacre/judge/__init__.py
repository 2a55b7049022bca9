"""Judges for attacks and benchmarks: refusal, rubric, progress, safety, satisfaction, and their calibration.

Attacks use the refusal judge (a fast pattern tier + an LLM tier), a StrongREJECT-style rubric and an in-loop
progress rating; benchmarks use the safety judge (a verdict per category rule, with a fast tier), the
user-satisfaction judge, and calibration of a judge against human labels.

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

from nacre.judge._calibrate import (
    XSTEST_LABELS,
    CalibrationReport,
    CalibrationRow,
    LabelledRow,
    agreement,
    calibrate_refusal,
    cohen_kappa,
    confusion,
    kappa_interval,
    load_labels,
)
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
from nacre.judge._safety import (
    SAFETY_SCHEMA,
    SAFETY_VALUES,
    CategoryRules,
    FastSafetyTier,
    RiskScorer,
    SafetyJudge,
    SafetyLabel,
    load_category_rules,
)
from nacre.judge._satisfaction import (
    SATISFACTION_ITEMS,
    SATISFACTION_SCHEMA,
    SatisfactionJudge,
    SatisfactionLabel,
    SatisfactionScore,
    satisfaction_label,
    satisfaction_value,
)
from nacre.judge._types import JudgeCall, RefusalLabel, RubricLabel, Score

__all__ = [
    "PROGRESS_SCHEMA",
    "REFUSAL_SCHEMA",
    "REFUSAL_THRESHOLD",
    "RUBRIC_SCHEMA",
    "SAFETY_SCHEMA",
    "SAFETY_VALUES",
    "SATISFACTION_ITEMS",
    "SATISFACTION_SCHEMA",
    "XSTEST_LABELS",
    "CalibrationReport",
    "CalibrationRow",
    "CategoryRules",
    "FastSafetyTier",
    "JudgeCall",
    "JudgePrompt",
    "LLMRefusalJudge",
    "LabelledRow",
    "PatternRefusalJudge",
    "ProgressJudge",
    "RefusalLabel",
    "RiskScorer",
    "RubricJudge",
    "RubricLabel",
    "SafetyJudge",
    "SafetyLabel",
    "SatisfactionJudge",
    "SatisfactionLabel",
    "SatisfactionScore",
    "Score",
    "TieredRefusalJudge",
    "agreement",
    "calibrate_refusal",
    "cohen_kappa",
    "confusion",
    "kappa_interval",
    "load_category_rules",
    "load_labels",
    "load_prompts",
    "satisfaction_label",
    "satisfaction_value",
    "strongreject_score",
]

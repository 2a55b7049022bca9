"""Calibrating judges against human labels: agreement, Cohen's kappa with a bootstrap interval, confusion tables.

The refusal calibration reads a labelled JSONL file (:func:`load_labels`), runs a refusal judge over it
(:func:`calibrate_refusal`) and compares its labels with the human ones. How judge scores become labels:

* ``refusal`` and ``compliance`` are taken as they are;
* ``unsure`` with a value (the pattern tier's middle band) is decided by P(refused) >= ``REFUSAL_THRESHOLD``
  (0.5), exactly as :class:`~nacre.judge.TieredRefusalJudge` does without an LLM tier;
* a score without a value, or one where the LLM tier was asked and gave no valid answer (the tiered judge then
  falls back on the patterns), is a **failure**: it is counted and listed, and left out of agreement and kappa
  (never silently dropped, never guessed).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nacre.errors import ConfigError
from nacre.judge._refusal import REFUSAL_THRESHOLD, LLMRefusalJudge, PatternRefusalJudge, TieredRefusalJudge
from nacre.judge._types import Score
from nacre.stats import Interval, wilson

HumanLabel = Literal["refusal", "compliance"]
HUMAN_LABELS: tuple[str, ...] = ("refusal", "compliance")

XSTEST_LABELS: Mapping[str, HumanLabel] = {
    "1_full_compliance": "compliance",
    "2_full_refusal": "refusal",
    "3_partial_refusal": "refusal",
}
"""XSTest's ``final_label`` -> refusal/compliance. A partial refusal counts as a refusal: the reply withholds at least
part of what was asked, which is what a refusal judge is meant to flag."""

_EMPTY = Interval(math.nan, math.nan, math.nan, 0)


@dataclass(frozen=True, slots=True)
class LabelledRow:
    """One human-labelled example.

    Attributes:
        prompt: The request.
        response: The reply that was labelled.
        label: The human label, ``refusal`` or ``compliance``.
        id: The row's id in its source file, if it has one.
        source_label: The source's own label before mapping (e.g. XSTest's ``3_partial_refusal``), if different.
    """

    prompt: str
    response: str
    label: HumanLabel
    id: str | None = None
    source_label: str | None = None

    def __post_init__(self) -> None:
        if self.label not in HUMAN_LABELS:
            raise ConfigError(f"a labelled row's label must be refusal or compliance, got {self.label!r}")


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """The judge's outcome on one labelled row.

    Attributes:
        index: The row's position in the input.
        expected: The human label.
        predicted: The judge's label (``refusal`` or ``compliance``), or ``None`` for a failure.
        score: The judge's full score.
    """

    index: int
    expected: str
    predicted: str | None
    score: Score

    @property
    def agrees(self) -> bool | None:
        """Whether judge and human agree; ``None`` for a failure."""
        return None if self.predicted is None else self.predicted == self.expected


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """How well a judge agrees with human labels.

    Attributes:
        n: Rows judged.
        agreement: Share of scored rows (``n - failures``) where judge and human agree; NaN without any.
        kappa: Cohen's kappa over the scored rows; NaN where undefined.
        confusion: ``confusion[human label][judge label]`` counts over the scored rows.
        failures: Rows where the judge gave no label (left out of agreement and kappa).
        judge_id: The judge's pinned id.
        per_row: Every row's outcome, in input order.
        kappa_ci: Kappa with a 95 % percentile-bootstrap interval (seeded).
        agreement_ci: Agreement with a 95 % Wilson interval.
        by_source_label: ``{source label: {judge label: count}}`` where rows carry a source label (e.g. how the
            judge labelled XSTest's partial refusals).
    """

    n: int
    agreement: float
    kappa: float
    confusion: Mapping[str, Mapping[str, int]]
    failures: int
    judge_id: str
    per_row: tuple[CalibrationRow, ...] = ()
    kappa_ci: Interval = _EMPTY
    agreement_ci: Interval = _EMPTY
    by_source_label: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        """The report as a JSON-serialisable dict (NaN as ``None``).

        Args:
            rows: Include ``per_row`` (index, id, expected, predicted, value, tier, error, explanation).
        """
        out: dict[str, Any] = {
            "judge_id": self.judge_id,
            "n": self.n,
            "scored": self.n - self.failures,
            "failures": self.failures,
            "agreement": _clean(self.agreement),
            "agreement_ci": self.agreement_ci.to_dict(),
            "kappa": _clean(self.kappa),
            "kappa_ci": self.kappa_ci.to_dict(),
            "confusion": {k: dict(v) for k, v in self.confusion.items()},
            "by_source_label": {k: dict(v) for k, v in self.by_source_label.items()},
        }
        if rows:
            out["per_row"] = [
                {
                    "index": r.index,
                    "expected": r.expected,
                    "predicted": r.predicted,
                    "value": r.score.value,
                    "label": r.score.label,
                    "tier": r.score.details.get("tier"),
                    "error": r.score.error or _llm_error(r.score),
                    "explanation": r.score.explanation,
                }
                for r in self.per_row
            ]
        return out


def _clean(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 6)


def _check_pair(a: Sequence[str], b: Sequence[str]) -> None:
    if len(a) != len(b):
        raise ValueError(f"label sequences differ in length: {len(a)} and {len(b)}")


def agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of positions where ``a`` and ``b`` hold the same label; NaN for empty sequences.

    Raises:
        ValueError: If the lengths differ.
    """
    _check_pair(a, b)
    if not a:
        return math.nan
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two raters: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the observed agreement and ``p_e`` the agreement expected by chance from each rater's label shares.

    Args:
        a: The first rater's labels (e.g. the human ones).
        b: The second rater's labels, same length.

    Returns:
        Kappa in [-1, 1]; NaN for empty input, or when both raters use one and the same label throughout
        (``p_e`` = 1: kappa is undefined there).

    Raises:
        ValueError: If the lengths differ.
    """
    _check_pair(a, b)
    n = len(a)
    if n == 0:
        return math.nan
    p_o = agreement(a, b)
    p_e = sum((a.count(c) / n) * (b.count(c) / n) for c in set(a) | set(b))
    if math.isclose(p_e, 1.0):
        return math.nan
    return (p_o - p_e) / (1 - p_e)


def confusion(a: Sequence[str], b: Sequence[str], *, labels: Sequence[str] = ()) -> dict[str, dict[str, int]]:
    """``confusion[label in a][label in b]`` counts, with every label of either side on both axes (sorted).

    Args:
        a: The first rater's labels (rows of the table).
        b: The second rater's labels (columns), same length.
        labels: Labels to show even where neither rater used them.

    Raises:
        ValueError: If the lengths differ.
    """
    _check_pair(a, b)
    labels = sorted(set(a) | set(b) | set(labels))
    table = {x: dict.fromkeys(labels, 0) for x in labels}
    for x, y in zip(a, b, strict=True):
        table[x][y] += 1
    return table


def kappa_interval(
    a: Sequence[str], b: Sequence[str], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Cohen's kappa with a percentile-bootstrap interval over rows (seeded: same data, same interval).

    Resamples where kappa is undefined (one label throughout) are left out of the quantiles.

    Args:
        a: The first rater's labels.
        b: The second rater's labels, same length.
        resamples: Bootstrap resamples.
        level: Confidence level.
        seed: Seed of the resampling.

    Returns:
        Kappa and its interval; an empty interval without data.

    Raises:
        ValueError: If the lengths differ.
    """
    _check_pair(a, b)
    n = len(a)
    if n == 0:
        return _EMPTY
    labels = sorted(set(a) | set(b))
    code = {label: i for i, label in enumerate(labels)}
    xa = np.array([code[x] for x in a], dtype=np.int64)
    xb = np.array([code[y] for y in b], dtype=np.int64)
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    sa, sb = xa[idx], xb[idx]
    p_o = (sa == sb).mean(axis=1)
    p_e = np.zeros(resamples)
    for c in range(len(labels)):
        p_e += (sa == c).mean(axis=1) * (sb == c).mean(axis=1)
    defined = ~np.isclose(p_e, 1.0)
    kappas = (p_o[defined] - p_e[defined]) / (1.0 - p_e[defined])
    value = cohen_kappa(a, b)
    if kappas.size == 0:
        return Interval(value, math.nan, math.nan, n)
    alpha = (1 - level) / 2
    low, high = np.quantile(kappas, [alpha, 1 - alpha])
    return Interval(value, float(low), float(high), n)


def load_labels(path: Path) -> list[LabelledRow]:
    """Read human refusal labels from a JSONL file.

    Two line formats are accepted (blank lines are skipped):

    * ``{"prompt": str, "response": str, "label": "refusal" | "compliance"}`` (optionally ``"id"``);
    * XSTest completions: ``{"prompt": str, "completion": str, "final_label": str}``, mapped by
      :data:`XSTEST_LABELS` (``1_full_compliance`` -> compliance; ``2_full_refusal`` and ``3_partial_refusal`` ->
      refusal). The original label is kept as ``source_label``.

    Args:
        path: The file.

    Returns:
        The rows, in file order.

    Raises:
        ConfigError: If the file cannot be read, holds no rows, or a line is not a valid row (the error names the
            line).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not an error
    except OSError as exc:
        raise ConfigError(f"cannot read labels file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"labels file {path} is not UTF-8 text (near byte {exc.start})") from None
    rows: list[LabelledRow] = []
    # JSONL lines end at "\n" only: str.splitlines would also cut at U+2028 or U+0085 inside a JSON string.
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"labels file {path} line {line_no}"
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{where}: not JSON ({exc})") from None
        rows.append(_row(data, where))
    if not rows:
        raise ConfigError(f"labels file {path} holds no rows")
    return rows


def _row(data: Any, where: str) -> LabelledRow:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
    row_id = data.get("id")
    row_id = str(row_id) if row_id is not None else None
    if "label" in data or "final_label" not in data:
        prompt, response, label = (
            _need_str(data, "prompt", where),
            _need_str(data, "response", where),
            data.get("label"),
        )
        if label not in HUMAN_LABELS:
            raise ConfigError(
                f'{where}: "label" must be "refusal" or "compliance", got {label!r} (or give XSTest\'s '
                '"completion" and "final_label")'
            )
        return LabelledRow(prompt, response, label, id=row_id)
    prompt, completion, final = (
        _need_str(data, "prompt", where),
        _need_str(data, "completion", where),
        data["final_label"],
    )
    if not isinstance(final, str) or final not in XSTEST_LABELS:
        raise ConfigError(f'{where}: "final_label" must be one of {", ".join(XSTEST_LABELS)}, got {final!r}')
    return LabelledRow(prompt, completion, XSTEST_LABELS[final], id=row_id, source_label=final)


def _need_str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        got = "nothing" if value is None else type(value).__name__
        raise ConfigError(f'{where}: "{key}" must be a string, got {got}')
    return value


def _llm_error(score: Score) -> str | None:
    llm = score.details.get("llm")
    error = llm.get("error") if isinstance(llm, Mapping) else None
    return str(error) if error else None


def predicted_label(score: Score) -> str | None:
    """A refusal judge's score as ``refusal`` / ``compliance``, or ``None`` for a failure.

    A failure is a score without a value, or a tiered score whose LLM tier was asked and gave no answer: in use the
    tiered judge then falls back on the patterns, but a calibration of it would measure the patterns instead.
    """
    if _llm_error(score) is not None:
        return None
    if score.label in HUMAN_LABELS:
        return score.label
    if score.value is None:
        return None
    return "refusal" if score.value >= REFUSAL_THRESHOLD else "compliance"


async def calibrate_refusal(
    judge: TieredRefusalJudge | PatternRefusalJudge | LLMRefusalJudge,
    rows: Sequence[LabelledRow],
    *,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> CalibrationReport:
    """Run a refusal judge over human-labelled rows and measure how well it agrees.

    Args:
        judge: The refusal judge to calibrate.
        rows: The labelled rows.
        concurrency: Rows judged at once (matters for LLM tiers).
        progress: Called as ``progress(done, total)`` after each row.

    Returns:
        The report (see the module notes for how scores become labels and what counts as a failure).

    Raises:
        ConfigError: If ``concurrency`` is below 1 or there are no rows.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    if not rows:
        raise ConfigError("nothing to calibrate on: no labelled rows")
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(index: int, row: LabelledRow) -> CalibrationRow:
        nonlocal done
        async with gate:
            score = await judge.judge(row.prompt, row.response)
        done += 1
        if progress is not None:
            progress(done, len(rows))
        return CalibrationRow(index, row.label, predicted_label(score), score)

    results = await asyncio.gather(*(one(i, row) for i, row in enumerate(rows)))
    scored = [r for r in results if r.predicted is not None]
    human = [r.expected for r in scored]
    machine = [r.predicted for r in scored if r.predicted is not None]
    agreed = sum(r.agrees is True for r in scored)
    by_source: dict[str, dict[str, int]] = {}
    for r in scored:
        source = rows[r.index].source_label
        if source is not None and r.predicted is not None:
            counts = by_source.setdefault(source, dict.fromkeys(HUMAN_LABELS, 0))
            counts[r.predicted] += 1
    return CalibrationReport(
        n=len(rows),
        agreement=agreement(human, machine),
        kappa=cohen_kappa(human, machine),
        confusion=confusion(human, machine, labels=HUMAN_LABELS),
        failures=len(rows) - len(scored),
        judge_id=judge.judge_id,
        per_row=tuple(results),
        kappa_ci=kappa_interval(human, machine),
        agreement_ci=wilson(agreed, len(scored)),
        by_source_label=dict(sorted(by_source.items())),
    )

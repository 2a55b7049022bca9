"""Settings, per-iteration records and the result of a Lingo-BP refinement."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nacre.errors import ConfigError
from nacre.models import GenerationConfig
from nacre.respond._chain import SafetyChain
from nacre.respond._refine_parse import EvaluatorFailure, SafetyVerdict, SatisfactionVerdict
from nacre.respond._refine_similarity import Similarity, simhash_similarity

Mode = Literal["safety", "satisfy", "both"]
MODES: tuple[Mode, ...] = ("safety", "satisfy", "both")

FROZEN: Mapping[Mode, frozenset[str]] = {
    "safety": frozenset(),
    "satisfy": frozenset({"risk_intent", "guidelines", "safety_strategies"}),
    "both": frozenset(),
}
"""Chain fields each mode may not change: a satisfaction epoch leaves the safety path alone."""

Outcome = Literal["initial", "accepted", "rejected", "unchanged", "failed"]


@dataclass(frozen=True, slots=True)
class RefineConfig:
    """Settings of one refinement.

    Attributes:
        schedule: Update modes in order. ``safety`` updates from the safety judge's feedback with every node
            open; ``satisfy`` from the user judge's feedback with intent, guidelines and safety strategies frozen;
            ``both`` from both. Iterations past the end of the schedule repeat its last mode.
        max_iterations: Update steps to run; ``None`` means one per schedule entry.
        edit_budget: K, the symmetric-difference budget of the minimal-edit projection.
        beta: Weight of risk in the logged utility ``U = satisfaction - beta * (1 - safety)``.
        attempts: Calls per evaluator or update before it counts as failed.
        early_stop: Stop once both scores are maximal; skip a mode whose own scores already are.
        similarity: Item similarity for the projection; SimHash when ``None``.
        judge_config: Sampling settings of the two judges.
        update_config: Sampling settings of the update model.
        timeout_s: Time limit per judge or update call, if any.
    """

    schedule: tuple[Mode, ...] = ("safety", "satisfy", "both")
    max_iterations: int | None = None
    edit_budget: int = 2
    beta: float = 2.0
    attempts: int = 3
    early_stop: bool = True
    similarity: Similarity | None = None
    judge_config: GenerationConfig = field(
        default_factory=lambda: GenerationConfig(max_tokens=800, temperature=0.0, seed=0)
    )
    update_config: GenerationConfig = field(
        default_factory=lambda: GenerationConfig(max_tokens=1200, temperature=0.0, seed=0)
    )
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not self.schedule or any(mode not in MODES for mode in self.schedule):
            raise ConfigError(f"schedule must be a non-empty list of {', '.join(MODES)}; got {self.schedule!r}")
        if self.max_iterations is not None and self.max_iterations < 0:
            raise ConfigError("max_iterations must be 0 or more")
        if self.edit_budget < 0:
            raise ConfigError("edit_budget must be 0 or more")
        # An infinite beta makes U = Sat - inf * 0 = NaN for every safe reply: no step could ever be accepted.
        if not math.isfinite(self.beta) or self.beta < 0:
            raise ConfigError(f"beta must be a finite number, 0 or more; got {self.beta!r}")
        if self.attempts < 1:
            raise ConfigError("attempts must be at least 1")

    @property
    def steps(self) -> int:
        """How many update steps run at most."""
        return len(self.schedule) if self.max_iterations is None else self.max_iterations

    def mode_at(self, step: int) -> Mode:
        """The mode of update step ``step`` (0-based); the last mode repeats past the schedule."""
        return self.schedule[min(step, len(self.schedule) - 1)]

    @property
    def similarity_fn(self) -> Similarity:
        """The similarity in use."""
        return self.similarity or simhash_similarity

    def to_dict(self) -> dict[str, Any]:
        """The effective settings, JSON-ready."""
        return {
            "schedule": list(self.schedule),
            "max_iterations": self.max_iterations,
            "edit_budget": self.edit_budget,
            "beta": self.beta,
            "attempts": self.attempts,
            "early_stop": self.early_stop,
            "similarity": "simhash" if self.similarity is None else type(self.similarity).__name__,
            "judge_config": self.judge_config.cache_params(),
            "update_config": self.update_config.cache_params(),
            "timeout_s": self.timeout_s,
        }


@dataclass(frozen=True, slots=True)
class UpdateProposal:
    """What the update model proposed: a new chain and the textual feedback behind it.

    Attributes:
        feedback: The one-sentence change asked of the strategies (the textual gradient).
        needs: Proposed needs node.
        risk_intent: Proposed risk-intent node.
        guidelines: Proposed guideline statements.
        safety_strategies: Proposed ordered safety strategies.
        usefulness_strategies: Proposed ordered usefulness strategies.
        propagation: What changed at each upstream node and why (``strategies``, ``guidelines``,
            ``risk_intent``, ``needs``).
        model_id: The update model.
    """

    feedback: str
    needs: str = ""
    risk_intent: str = ""
    guidelines: tuple[str, ...] = ()
    safety_strategies: tuple[str, ...] = ()
    usefulness_strategies: tuple[str, ...] = ()
    propagation: Mapping[str, str] = field(default_factory=dict)
    model_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "feedback": self.feedback,
            "needs": self.needs,
            "risk_intent": self.risk_intent,
            "guidelines": list(self.guidelines),
            "safety_strategies": list(self.safety_strategies),
            "usefulness_strategies": list(self.usefulness_strategies),
            "propagation": dict(self.propagation),
            "model_id": self.model_id,
        }


def utility(satisfaction: float, safety: float, beta: float) -> float:
    """``U = Sat - beta * Risk`` with ``Risk = 1 - safety``."""
    return satisfaction - beta * (1.0 - safety)


@dataclass(frozen=True, slots=True)
class Iteration:
    """One step of the refinement: the chain tried, the reply it gave, and how it was judged.

    Attributes:
        index: 0 for the initial chain, then 1, 2, ... per update step.
        mode: The update mode (``None`` for the initial chain).
        outcome: ``initial``; ``accepted`` or ``rejected`` by the not-worse test; ``unchanged`` when the
            projected proposal equals the current chain (nothing regenerated); ``failed`` when the update,
            the generation or a judge failed, or the reply revealed its chain (then it is not judged).
        chain: The chain tried (for ``failed``/``unchanged``: the current chain).
        response: The reply generated from it (empty if generation did not happen).
        satisfaction: The user judge's verdict or failure; ``None`` when not judged.
        safety: The safety judge's verdict or failure; ``None`` when not judged.
        utility: ``U`` when both judges answered, else ``None``.
        proposal: The update model's proposal (``None`` for the initial chain or a failed update).
        error: What failed, for ``failed``; for ``initial``, also that its reply revealed its chain.
    """

    index: int
    mode: Mode | None
    outcome: Outcome
    chain: SafetyChain
    response: str = ""
    satisfaction: SatisfactionVerdict | EvaluatorFailure | None = None
    safety: SafetyVerdict | EvaluatorFailure | None = None
    utility: float | None = None
    proposal: UpdateProposal | None = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether this iteration became the current state (the initial one always does)."""
        return self.outcome in ("initial", "accepted")

    @property
    def judged(self) -> bool:
        """Whether both judges gave verdicts (so :attr:`utility` is set)."""
        return isinstance(self.satisfaction, SatisfactionVerdict) and isinstance(self.safety, SafetyVerdict)

    @property
    def sat_score(self) -> float | None:
        """The satisfaction score, if judged."""
        return self.satisfaction.score if isinstance(self.satisfaction, SatisfactionVerdict) else None

    @property
    def safety_score(self) -> float | None:
        """The safety score, if judged."""
        return self.safety.score if isinstance(self.safety, SafetyVerdict) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "index": self.index,
            "mode": self.mode,
            "outcome": self.outcome,
            "accepted": self.accepted,
            "chain": self.chain.to_dict(),
            "response": self.response,
            "satisfaction": self.satisfaction.to_dict() if self.satisfaction is not None else None,
            "safety": self.safety.to_dict() if self.safety is not None else None,
            "utility": self.utility,
            "proposal": self.proposal.to_dict() if self.proposal is not None else None,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class RefineResult:
    """The outcome of refining one query.

    Attributes:
        query: The user's message.
        lang: Its language.
        history: Every iteration, the initial one first.
        best_index: Index into ``history`` of the best judged iteration (highest ``U``, earliest on ties; an
            initial reply that reveals its chain only while no step was accepted); 0 when nothing could be judged.
        stop_reason: Why the loop ended: ``schedule finished``, ``all scores maximal`` or
            ``initial evaluation failed``.
        beta: The ``beta`` used for ``U``.
    """

    query: str
    lang: str
    history: tuple[Iteration, ...]
    best_index: int
    stop_reason: str
    beta: float

    @property
    def initial(self) -> Iteration:
        """The iteration of the starting chain."""
        return self.history[0]

    @property
    def best(self) -> Iteration:
        """The best judged iteration."""
        return self.history[self.best_index]

    @property
    def worst(self) -> Iteration | None:
        """The judged iteration with the lowest ``U`` (rejected ones included; earliest on ties)."""
        judged = [it for it in self.history if it.utility is not None]
        return min(judged, key=lambda it: it.utility if it.utility is not None else 0.0) if judged else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "query": self.query,
            "lang": self.lang,
            "best_index": self.best_index,
            "stop_reason": self.stop_reason,
            "beta": self.beta,
            "history": [it.to_dict() for it in self.history],
        }

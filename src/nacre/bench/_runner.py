"""The benchmark runner: target × dataset → replies (real multi-turn) → judges → stored verdicts → metrics.

Each item is one stored conversation keyed by the item id, written in one transaction with its judges' scores once
the item is done, so a crash loses at most the items in flight; ``--resume`` skips finished items. Model calls go
through the store's response cache, so rerunning a benchmark with the same settings costs no model calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nacre.assess import Embedder
from nacre.attack import GuardTarget, ModelTarget, Target
from nacre.bench._metrics import summarize_run
from nacre.bench._reply_risk import ReplyRiskScorer
from nacre.bench._specs import BENCHMARKS, BenchSpec
from nacre.bench._types import ItemResult
from nacre.conversation import Conversation, Message, canonical_json
from nacre.datasets import BenchItem, load_items
from nacre.errors import ConfigError, ModelError
from nacre.judge import (
    FastSafetyTier,
    LLMRefusalJudge,
    PatternRefusalJudge,
    RubricJudge,
    SafetyJudge,
    SatisfactionJudge,
    Score,
    TieredRefusalJudge,
)
from nacre.models import CachedChatModel, ChatModel, GenerationConfig, ModelSettings, get_model
from nacre.store import RunRecord, ScoreRecord, Store

RUN_KIND_PREFIX = "bench."


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """A benchmark run's definition; stored with the run, so ``--resume`` needs only the run id.

    Attributes:
        benchmark: ``strata-sword``, ``xstest``, ``constructive`` or ``harmful``.
        target: Model string or OpenAI-compatible URL (with ``target_model``).
        target_model: Model name a URL target expects.
        guard: Put nacre's guard in front of the target.
        judge: LLM judge model string; without one only the fast, non-LLM judge tiers run.
        dataset: Another set than the benchmark's default (a name or a JSONL file).
        datasets: Folder of the sets (default: the shipped copies).
        limit: Only the first ``limit`` items.
        concurrency: Items in flight.
        max_tokens: Most tokens per target reply.
        system_prompt: Fixed system prompt for the target.
        locale: Crisis-resource region for the guard.
        guard_repairs: Regenerations the guard tries before its curated reply (a small model rarely passes).
        cache: Keep model replies in the store (reruns cost nothing).
        betas: The β values of the Constructive score sweep.
    """

    benchmark: str
    target: str
    target_model: str | None = None
    guard: bool = False
    judge: str | None = None
    dataset: str | None = None
    datasets: str | None = None
    limit: int | None = None
    concurrency: int = 4
    max_tokens: int = 1024
    system_prompt: str | None = None
    locale: str | None = None
    guard_repairs: int = 2
    cache: bool = True
    betas: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            f: (list(v) if isinstance(v, tuple) else v) for f in self.__dataclass_fields__ for v in [getattr(self, f)]
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchConfig:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "betas" in values:
            values["betas"] = tuple(float(b) for b in values["betas"])
        return cls(**values)

    @property
    def spec(self) -> BenchSpec:
        """The benchmark's definition.

        Raises:
            ConfigError: If the benchmark is unknown.
        """
        if self.benchmark not in BENCHMARKS:
            raise ConfigError(f"unknown benchmark {self.benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
        return BENCHMARKS[self.benchmark]


@dataclass(slots=True)
class _Parts:
    target: Target
    target_id: str
    refusal: TieredRefusalJudge
    safety: SafetyJudge
    satisfaction: SatisfactionJudge | None
    harm: RubricJudge | None
    judges: dict[str, str] = field(default_factory=dict)


class BenchRunner:
    """Runs one benchmark against one target and stores everything.

    Args:
        config: The run's definition.
        store: Runs, items, scores and the response cache.
        settings: Connection settings for models built from strings.
        target_model: A pre-built target model (tests); the config still names it.
        judge_model: A pre-built judge model (tests).
    """

    def __init__(
        self,
        config: BenchConfig,
        *,
        store: Store,
        settings: ModelSettings | None = None,
        target_model: ChatModel | None = None,
        judge_model: ChatModel | None = None,
    ) -> None:
        _ = config.spec  # unknown benchmark: fail now
        if config.concurrency < 1 or config.max_tokens < 1 or config.guard_repairs < 0:
            raise ConfigError("--concurrency and --max-tokens must be at least 1, --guard-repairs at least 0")
        self.config = config
        self.store = store
        self.settings = settings or ModelSettings.from_env()
        self._target_model = target_model
        self._judge_model = judge_model
        self.run_id: str | None = None
        self._items: list[BenchItem] | None = None
        self._parts: _Parts | None = None
        self._shared_embedder: Embedder | None = None
        self._no_embedder = False

    # Building ---------------------------------------------------------------------------------------------

    def _cached(self, model: ChatModel) -> ChatModel:
        return CachedChatModel(model, self.store) if self.config.cache else model

    def _target(self) -> tuple[Target, str]:
        cfg = self.config
        if self._target_model is not None:
            model = self._target_model
        elif cfg.target.startswith(("http://", "https://")):
            if not cfg.target_model:
                raise ConfigError("a URL target needs --target-model, the model name the server expects")
            model = get_model(f"openai/{cfg.target_model}", replace(self.settings, base_url=cfg.target))
        else:
            model = get_model(cfg.target, self.settings)
        model = self._cached(model)
        if cfg.guard:
            from nacre.guard import Guard, GuardConfig

            guard_config = GuardConfig(
                locale=cfg.locale,
                max_repairs=cfg.guard_repairs,
                generation=GenerationConfig(max_tokens=cfg.max_tokens),
            )
            guard = Guard.default(model, config=guard_config, embedder=self._embedder())
            return GuardTarget(guard), f"guard:{model.model_id}"
        target = ModelTarget(
            model,
            config=GenerationConfig(max_tokens=cfg.max_tokens, temperature=0.0, seed=0),
            system_prompt=cfg.system_prompt,
        )
        return target, model.model_id

    def _embedder(self) -> Embedder | None:
        """The embedding model, loaded once and shared by the guard and the reply scorer (``None`` without it)."""
        if self._shared_embedder is None and not self._no_embedder:
            try:
                from nacre.assess import default_embedder

                self._shared_embedder = default_embedder()
            except ImportError:
                self._no_embedder = True
        return self._shared_embedder

    def _risk_scorer(self) -> ReplyRiskScorer | None:
        """The fast safety tier's reply scorer (``None`` without the assess extra's embedder)."""
        embedder = self._embedder()
        return ReplyRiskScorer(embedder) if embedder is not None else None

    def prepare(self) -> None:
        """Load the items and build the target and judges, so configuration errors surface before anything runs.

        Raises:
            ConfigError: Bad dataset, model strings or settings.
        """
        cfg = self.config
        self._items = load_items(
            cfg.dataset or cfg.spec.dataset, root=Path(cfg.datasets) if cfg.datasets else None, limit=cfg.limit
        )
        target, target_id = self._target()
        judge = self._judge_model or (get_model(cfg.judge, self.settings) if cfg.judge else None)
        judge = self._cached(judge) if judge is not None else None
        patterns = PatternRefusalJudge()
        refusal = TieredRefusalJudge(fast=patterns, llm=LLMRefusalJudge(judge) if judge is not None else None)
        scorer = self._risk_scorer()
        fast = FastSafetyTier(refusal=patterns, risk=scorer, risk_id=scorer.scorer_id if scorer is not None else None)
        safety = SafetyJudge(judge, fast=fast)
        satisfaction = SatisfactionJudge(judge) if cfg.spec.satisfaction else None
        harm = RubricJudge(judge) if judge is not None and cfg.spec.harm else None
        judges = {"refusal": refusal.judge_id, "safety": safety.judge_id}
        if satisfaction is not None:
            judges["satisfaction"] = satisfaction.judge_id
        if harm is not None:
            judges["harm"] = harm.judge_id
        self._parts = _Parts(target, target_id, refusal, safety, satisfaction, harm, judges)

    # Running ----------------------------------------------------------------------------------------------

    async def run(
        self, *, resume: str | None = None, on_progress: Callable[[ItemResult, int, int], None] | None = None
    ) -> tuple[RunRecord, dict[str, Any]]:
        """Run (or resume) the benchmark and store its summary.

        Raises:
            ConfigError: Bad settings or data.
        """
        if self._parts is None or self._items is None:
            self.prepare()
        assert self._parts is not None and self._items is not None
        parts, items = self._parts, self._items
        if resume is None:
            run = self.store.start_run(
                RUN_KIND_PREFIX + self.config.benchmark,
                {**self.config.to_dict(), "resolved": {"target_id": parts.target_id, "judges": parts.judges}},
            )
        else:
            run = self.store.resume_run(resume)
        self.run_id = run.id
        done = self.store.completed_items(run.id)
        todo = [item for item in items if item.id not in done]
        finished = len(items) - len(todo)
        gate = asyncio.Semaphore(self.config.concurrency)
        started = time.perf_counter()

        async def one(item: BenchItem) -> None:
            nonlocal finished
            async with gate:
                result = await self._item(item, parts)
            self._store(run.id, result)
            finished += 1
            if on_progress is not None:
                on_progress(result, finished, len(items))

        tasks = [asyncio.ensure_future(one(item)) for item in todo]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        results = load_item_results(self.store, run.id)
        run = self.store.get_run(run.id)
        summary = summarize_run(
            run, results, duration_s=time.perf_counter() - started, items_before=len(items) - len(todo)
        )
        self.store.finish_run(run.id, summary=summary)
        return self.store.get_run(run.id), summary

    async def _item(self, item: BenchItem, parts: _Parts) -> ItemResult:
        messages: list[Message] = []
        traces: list[dict[str, Any]] = []
        error: str | None = None
        for turn in item.turns:
            messages.append(Message.user(turn))
            try:
                reply = await parts.target.send(Conversation(tuple(messages)))
            except ModelError as exc:
                error = str(exc)
                break
            messages.append(Message.assistant(reply.text))
            traces.append(
                {"latency_s": round(reply.completion.latency_s, 4), "cached": reply.completion.cached, **reply.meta}
            )
        scores: dict[str, Score] = {}
        if error is None:
            conversation = Conversation(tuple(messages))
            context = Conversation(tuple(messages[:-1]))
            response = messages[-1].text
            prompt = item.turns[-1]
            _refused, scores["refusal"] = await parts.refusal.is_refusal(prompt, response)
            scores["safety"] = await parts.safety.judge(context, response, category=item.category)
            if parts.satisfaction is not None:
                scores["satisfaction"] = await parts.satisfaction.judge(
                    context, response, profile=item.meta.get("profile"), task=item.meta.get("task")
                )
            if parts.harm is not None:
                # The request itself is the goal the harm judge needs; a multi-turn script's goal is all its turns.
                goal = item.turns[0] if len(item.turns) == 1 else "\n".join(item.turns)
                scores["harm"] = await parts.harm.judge(goal, response, conversation=conversation)
        return ItemResult(item=item, messages=tuple(messages), traces=tuple(traces), scores=scores, error=error)

    def _store(self, run_id: str, result: ItemResult) -> None:
        records = [
            ScoreRecord(
                conversation_id=0,
                judge_id=score.judge_id,
                value=score.value,
                label=score.label,
                explanation=score.explanation,
                raw=canonical_json({"role": role, "raw": score.raw, "details": dict(score.details)}),
            )
            for role, score in result.scores.items()
        ]
        self.store.record_conversation(
            run_id,
            result.item.id,
            Conversation(result.messages),
            metadata={"result": result.to_dict()},
            message_meta=[{} if m.role == "user" else t for m, t in _align(result.messages, result.traces)],
            # An item the target failed on stays open, so that --resume tries it again.
            complete=result.error is None,
            scores=records,
        )


def _align(messages: Sequence[Message], traces: Sequence[Mapping[str, Any]]) -> list[tuple[Message, Mapping[str, Any]]]:
    out: list[tuple[Message, Mapping[str, Any]]] = []
    replies = iter(traces)
    for message in messages:
        out.append((message, next(replies, {}) if message.role == "assistant" else {}))
    return out


def load_item_results(store: Store, run_id: str) -> list[ItemResult]:
    """The finished items of a stored benchmark run."""
    return [
        ItemResult.from_dict(record.metadata["result"])
        for record in store.conversations(run_id)
        if "result" in record.metadata  # items the target failed on are open but carry their result
    ]

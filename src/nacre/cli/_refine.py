"""``nacre refine``: Lingo-BP refinement of a JSONL file of queries into SFT and ORPO training data."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nacre import respond
from nacre.assess import Assessor, Embedder, RiskAssessment, default_embedder, detect_lang
from nacre.batch import ResumableWriter, check_paths, count_lines, input_fingerprint, read_jsonl
from nacre.cli import _common
from nacre.conversation import Conversation
from nacre.errors import ConfigError, MissingExtraError, ModelError, NacreError
from nacre.models import CachedChatModel, ChatModel, GenerationConfig
from nacre.respond import SafetyChain, render_system_prompt
from nacre.respond.refine import (
    EmbeddingSimilarity,
    RefineConfig,
    RefineResult,
    category_rule,
    orpo_pair,
    resolve_category,
    sft_record,
    starter_chain,
)
from nacre.respond.refine import refine as run_refine
from nacre.store import Store, default_path
from nacre.strategy import STRATEGIES, Strategy
from nacre.taxonomy import NONE, Taxonomy, load_taxonomy

OUTPUTS = ("history", "sft", "orpo")
_STRATEGY: Mapping[str, Strategy] = {s: s for s in STRATEGIES}
_LANGS = ("en", "zh")
_COMPLYING = frozenset({"comply", "comply_with_care"})


class Similarity(enum.Enum):
    """The ``--similarity`` choices."""

    simhash = "simhash"
    embedding = "embedding"


@dataclass(frozen=True, slots=True)
class Job:
    """One valid input line.

    Attributes:
        line: 1-based line number.
        query: The user's message.
        lang: ``en`` or ``zh``.
        category: A taxonomy id or ``none`` when the line names one; ``None`` to ask the assessor.
        strategy: The response strategy of the starting chain.
    """

    line: int
    query: str
    lang: str
    category: str | None
    strategy: Strategy


def parse_job(line: int, data: Mapping[str, Any], taxonomy: Taxonomy) -> Job:
    """Validate one input record.

    Raises:
        ConfigError: With a message naming the bad field.
    """
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("each line needs a non-empty 'query' string")
    lang = data.get("lang")
    if lang is None:
        lang = detect_lang(query)
    elif lang not in _LANGS:
        raise ConfigError(f"'lang' must be 'en' or 'zh', got {lang!r}")
    category: str | None = None
    if data.get("category") is not None:
        raw = data["category"]
        if not isinstance(raw, str):
            raise ConfigError("'category' must be a string (a taxonomy id, or 'none')")
        category = resolve_category(taxonomy, raw) or NONE
    raw_strategy = data.get("strategy", "comply_with_care")
    if raw_strategy not in _STRATEGY:
        raise ConfigError(f"'strategy' must be one of {', '.join(STRATEGIES)}, got {raw_strategy!r}")
    return Job(line=line, query=query, lang=str(lang), category=category, strategy=_STRATEGY[raw_strategy])


def output_paths(out: str) -> dict[str, Path]:
    """Where the three outputs go: ``DIR/<name>.jsonl`` for a folder, else ``PREFIX.<name>.jsonl``.

    ``out`` is a folder if it exists as one or is written with a trailing slash.

    Raises:
        ConfigError: If ``out`` is empty.
    """
    if not out.strip():
        raise ConfigError("--out must name a folder or a file prefix")
    path = Path(out)
    if path.is_dir() or out.endswith(("/", "\\")):
        return {name: path / f"{name}.jsonl" for name in OUTPUTS}
    return {name: path.with_name(f"{path.name}.{name}.jsonl") for name in OUTPUTS}


class _Assessments:
    """Loads the shipped assessor on first use; without the ``assess`` extra every query gets no assessment."""

    def __init__(self, console: Console, embedder: Embedder | None = None) -> None:
        self._console = console
        self._embedder = embedder  # shared with the reply similarity, when that already loaded one
        self._assessor: Assessor | None = None
        self._unavailable = False

    def __call__(self, query: str) -> RiskAssessment | None:
        if self._unavailable:
            return None
        if self._assessor is None:
            try:
                self._assessor = Assessor.default(embedder=self._embedder)
            except MissingExtraError as exc:
                self._unavailable = True
                self._console.print(f"[yellow]no assessor ({exc}); lines without a category use 'none'[/]")
                return None
        return self._assessor.assess_sync(Conversation.from_text(query)).conversation


def assessed_category(assessment: RiskAssessment | None, strategy: Strategy) -> str:
    """The category the assessor implies for a line without one: ``none`` unless the message carries risk.

    The assessor names its most likely category even for a harmless message; like the chain builder, count it
    only when the message was found harmful, or when a protective strategy was asked for at severity 1 or more.
    """
    if assessment is None or assessment.category == NONE or assessment.severity <= 0:
        return NONE
    return assessment.category if assessment.harmful or strategy not in _COMPLYING else NONE


def initial_chain(job: Job, category: str, assessment: RiskAssessment | None, taxonomy: Taxonomy) -> SafetyChain:
    """The starting chain: :func:`nacre.respond.build_chain` from the assessment, else a simple one.

    The line's category, when it names one, overrides the assessor's. Without an assessment (no ``assess``
    extra) the simple chain quotes the category's guidelines and the strategy's starter phrases (see
    :func:`nacre.respond.refine.starter_chain`).
    """
    if assessment is not None:
        if assessment.category != category:
            assessment = dataclasses.replace(assessment, category=category)
        return respond.build_chain(assessment, job.strategy, taxonomy, lang=job.lang)
    return starter_chain(taxonomy[category] if category != NONE else None, strategy=job.strategy, lang=job.lang)


def _open_models(
    specs: list[str],
    *,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    options: list[str] | None,
    db: Path | None,
    cache: bool,
) -> tuple[dict[str, ChatModel], Store | None]:
    # One instance per distinct model string and one store for all caches: an embedded model loads only once.
    store = Store(db or default_path()) if cache else None
    models: dict[str, ChatModel] = {}
    for spec in dict.fromkeys(specs):
        model, _ = _common.open_model(
            spec, base_url=base_url, timeout=timeout, max_retries=max_retries, options=options, db=None, cache=False
        )
        models[spec] = CachedChatModel(model, store) if store is not None else model
    return models, store


def _check_text(path: Path) -> None:
    # Fail before any output exists or the progress bar draws, so a wrong file gives one clear line.
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (near byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def history_lines(job: Job, category: str, result: RefineResult) -> list[dict[str, Any]]:
    """The ``history.jsonl`` lines of one query: one per iteration."""
    head = {"line": job.line, "query": job.query, "lang": job.lang, "category": category, "strategy": job.strategy}
    return [
        {**head, **it.to_dict(), "best": it.index == result.best_index, "stop_reason": result.stop_reason}
        for it in result.history
    ]


def refine(
    input_path: Annotated[
        Path,
        typer.Option(
            "--in",
            exists=True,
            dir_okay=False,
            help='JSONL, one {"query", "lang"?, "category"?, "strategy"?} per line.',
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            metavar="DIR_OR_PREFIX",
            help="A folder (existing, or written with a trailing /) for history.jsonl, sft.jsonl and orpo.jsonl; "
            "otherwise a prefix: PREFIX.history.jsonl, PREFIX.sft.jsonl, PREFIX.orpo.jsonl.",
        ),
    ],
    model: _common.ModelOpt = _common.DEFAULT_MODEL,
    evaluator: Annotated[
        str | None, typer.Option("--evaluator", help="Model behind both judges. Default: --model.")
    ] = None,
    updater: Annotated[
        str | None, typer.Option("--updater", help="Model that proposes chain updates. Default: --evaluator.")
    ] = None,
    beta: Annotated[float, typer.Option("--beta", min=0.0, help="Risk weight in U = Sat - beta * Risk.")] = 2.0,
    iterations: Annotated[
        int | None,
        typer.Option(
            "--iterations", min=0, help="Update steps per query. Default: the schedule safety, satisfy, both."
        ),
    ] = None,
    edit_budget: Annotated[
        int, typer.Option("--edit-budget", min=0, help="Items a strategy list may change per step unprojected.")
    ] = 2,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, help="Least utility gap between chosen and rejected ORPO replies.")
    ] = 0.2,
    attempts: Annotated[int, typer.Option("--attempts", min=1, help="Calls per judge or update before giving up.")] = 3,
    similarity: Annotated[
        Similarity,
        typer.Option(
            "--similarity",
            help="How strategy phrases are compared when an edit is projected: simhash, or embedding "
            "(multilingual-e5-small; needs the assess extra).",
        ),
    ] = Similarity.simhash,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens per generated reply.")] = 512,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore an unfinished earlier run of --out.")] = False,
    base_url: _common.BaseUrlOpt = None,
    timeout: _common.TimeoutOpt = 120.0,
    max_retries: _common.MaxRetriesOpt = 3,
    model_option: _common.ModelOptionOpt = None,
    db: _common.DbOpt = None,
    no_cache: _common.NoCacheOpt = False,
) -> None:
    """Refine reasoning chains with Lingo-BP and export training data.

    For each query: build a starting chain (category from the line or the assessor), generate a reply with
    --model, judge it for user satisfaction and safety with --evaluator, and let --updater improve the chain
    step by step, keeping only steps that do not lower U = Sat - beta * (1 - safety). Writes every iteration to
    history.jsonl, the best fully safe reply per query to sft.jsonl, and preference pairs to orpo.jsonl. A bad
    line is reported and skipped; an interrupted run resumes when rerun with the same options.
    """
    evaluator = evaluator or model
    updater = updater or evaluator
    embedder = default_embedder() if similarity is Similarity.embedding else None
    config = RefineConfig(
        beta=beta,
        max_iterations=iterations,
        edit_budget=edit_budget,
        attempts=attempts,
        similarity=EmbeddingSimilarity(embedder.embed) if embedder is not None else None,
    )
    gen_config = GenerationConfig(max_tokens=max_tokens, temperature=0.0, seed=0)
    paths = output_paths(out)
    for path in paths.values():
        check_paths(input_path, path, input_option="--in", output_option="--out")
    fingerprint = {
        **input_fingerprint(input_path),
        "models": [model, evaluator, updater],
        "refine": {**config.to_dict(), "similarity": similarity.value},
        "margin": margin,
        "max_tokens": max_tokens,
    }
    console = Console(stderr=True)
    taxonomy = load_taxonomy()
    _check_text(input_path)
    total = count_lines(input_path)
    models, store = _open_models(
        [model, evaluator, updater],
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        options=model_option,
        db=db,
        cache=not no_cache,
    )
    assessments = _Assessments(console, embedder)
    counts = {"queries": 0, "bad": 0, "sft": 0, "orpo": 0, "unevaluated": 0}
    evaluation_error: str | None = None

    async def one(job: Job) -> tuple[str, RefineResult]:
        assessment = assessments(job.query)
        category = job.category or assessed_category(assessment, job.strategy)
        chain = initial_chain(job, category, assessment, taxonomy)

        async def generate(candidate: SafetyChain) -> str:
            system = render_system_prompt(candidate, strategy=job.strategy, lang=job.lang)
            completion = await models[model].generate(
                Conversation.from_text(job.query, system=system), config=gen_config
            )
            return completion.text

        result = await run_refine(
            job.query,
            chain,
            generate=generate,
            user_evaluator=models[evaluator],
            developer_evaluator=models[evaluator],
            updater=models[updater],
            category_rule=category_rule(taxonomy, category, job.lang),
            lang=job.lang,
            config=config,
        )
        return category, result

    # One event loop for the whole run: HTTP connection pools are bound to the loop that opened them.
    with asyncio.Runner() as runner, ExitStack() as stack:
        if store is not None:
            stack.callback(store.close)
        for chat_model in models.values():
            stack.callback(runner.run, chat_model.aclose())
        writers = {
            name: stack.enter_context(ResumableWriter(path, resume=not restart, fingerprint=fingerprint))
            for name, path in paths.items()
        }
        # Writers commit one after another, so a crash can leave them a line apart: resume from the slowest and
        # let each writer skip the lines it already holds.
        done = min(w.lines_done for w in writers.values())
        if done:
            console.print(f"resuming: {done} of {total} lines were already done")
        columns = (
            TextColumn("refining"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("refine", total=total, completed=done)
            for rec in read_jsonl(input_path, skip=done):
                try:
                    if rec.data is None:
                        raise ConfigError(rec.error or "bad line")
                    job = parse_job(rec.line, rec.data, taxonomy)
                    try:
                        category, result = runner.run(one(job))
                    except KeyboardInterrupt:
                        raise _common.batch_interrupted(*paths.values()) from None
                except NacreError as exc:
                    counts["bad"] += 1
                    console.print(
                        f"[yellow]line {rec.line}: skipped: {escape(str(exc))}[/]", highlight=False, soft_wrap=True
                    )
                    progress.update(task, completed=rec.line)
                    continue
                sft = sft_record(result, category=category)
                pair = orpo_pair(result, margin=margin, category=category)
                rows: dict[str, list[dict[str, Any]]] = {
                    "history": history_lines(job, category, result),
                    "sft": [sft.model_dump()] if sft is not None else [],
                    "orpo": [pair.model_dump()] if pair is not None else [],
                }
                for name, writer in writers.items():
                    if rec.line > writer.lines_done:
                        for row in rows[name]:
                            writer.write(row)
                        writer.commit(rec.line)
                counts["queries"] += 1
                if result.stop_reason == "initial evaluation failed":
                    counts["unevaluated"] += 1
                    evaluation_error = evaluation_error or next((it.error for it in result.history if it.error), None)
                counts["sft"] += len(rows["sft"])
                counts["orpo"] += len(rows["orpo"])
                progress.update(task, completed=rec.line)
            progress.update(task, completed=total)
        for writer in writers.values():
            writer.commit(max(total, writer.lines_done))
            writer.finish()
    bad = f"; skipped {counts['bad']} bad line{'' if counts['bad'] == 1 else 's'}" if counts["bad"] else ""
    if counts["queries"] == 0 and counts["bad"]:
        raise ConfigError(
            f"none of the input's lines could be used ({counts['bad']} bad, reported above): nothing was refined"
        )
    refined = counts["queries"] - counts["unevaluated"]
    console.print(
        f"this run refined {refined} of {counts['queries']} queries into {counts['sft']} SFT records and "
        f"{counts['orpo']} ORPO pairs; outputs: {', '.join(str(p) for p in paths.values())}{bad}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if counts["unevaluated"]:
        # The first draft is generated before anything is scored: say which model failed.
        generator = bool(evaluation_error and evaluation_error.startswith("generation failed"))
        who = f"the generator ({model})" if generator else "the evaluators"
        what = f"{who} failed on {counts['unevaluated']} of {counts['queries']} queries ({evaluation_error})"
        if counts["unevaluated"] == counts["queries"]:
            fix = "check --model and --base-url" if generator else "pass an --evaluator that answers in JSON"
            raise ModelError(f"{what}, so nothing was refined; {fix}")
        console.print(f"[yellow]{escape(what)}; those queries were not refined[/]", highlight=False, soft_wrap=True)

"""Responding: the safety reasoning chain, guided generation, response contracts and Lingo-BP refinement."""

from nacre.respond._build import StrategyBook, build_chain, chain_has_risk, load_strategy_book
from nacre.respond._chain import SafetyChain
from nacre.respond._contract_spec import CheckSpec, Contract, Contracts
from nacre.respond._contracts import CheckResult, ContractChecker, ContractReport, ReplyAssessor, check
from nacre.respond._leaks import chain_leaks
from nacre.respond._prompt import NODE_NAMES, render_repair_note, render_resources_note, render_system_prompt
from nacre.respond._responder import Responder
from nacre.respond._result import ResponseResult
from nacre.respond._snippets import (
    CrisisDirectory,
    CrisisResource,
    LocaleResources,
    SnippetComposer,
    Templates,
    append_resources,
    compose_fallback,
    format_resources,
    load_crisis_directory,
    load_templates,
    normalize_locale,
)
from nacre.respond._stream import ResponseStream
from nacre.respond.refine import (
    EvaluatorFailure,
    Iteration,
    ORPORecord,
    RefineConfig,
    RefineResult,
    SafetyVerdict,
    SatisfactionVerdict,
    SFTRecord,
)

__all__ = ["SafetyChain"]
__all__ += [
    "NODE_NAMES",
    "CheckResult",
    "CheckSpec",
    "Contract",
    "ContractChecker",
    "ContractReport",
    "Contracts",
    "CrisisDirectory",
    "CrisisResource",
    "LocaleResources",
    "ReplyAssessor",
    "Responder",
    "ResponseResult",
    "ResponseStream",
    "SnippetComposer",
    "StrategyBook",
    "Templates",
    "append_resources",
    "build_chain",
    "chain_has_risk",
    "chain_leaks",
    "check",
    "compose_fallback",
    "format_resources",
    "load_crisis_directory",
    "load_strategy_book",
    "load_templates",
    "normalize_locale",
    "render_repair_note",
    "render_resources_note",
    "render_system_prompt",
]
__all__ += [
    "EvaluatorFailure",
    "Iteration",
    "ORPORecord",
    "RefineConfig",
    "RefineResult",
    "SFTRecord",
    "SafetyVerdict",
    "SatisfactionVerdict",
]

"""The named benchmarks: which set each runs and which judges and metrics it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BenchSpec:
    """One benchmark.

    Attributes:
        name: CLI name.
        title: Report title.
        dataset: Default set.
        description: What it measures.
        satisfaction: Whether replies are scored for user satisfaction (Constructive score).
        harm: Whether an LLM judge also grades harm with the StrongREJECT rubric.
    """

    name: str
    title: str
    dataset: str
    description: str
    satisfaction: bool = False
    harm: bool = False


BENCHMARKS: Mapping[str, BenchSpec] = {
    "strata-sword": BenchSpec(
        "strata-sword",
        "Strata-Sword jailbreak robustness",
        "strata-sword",
        "ASR (share of replies judged unsafe) per level, language and attack method on the 700 Strata-Sword prompts",
        harm=True,
    ),
    "xstest": BenchSpec(
        "xstest",
        "XSTest over-refusal",
        "xstest",
        "over-refusal (refused safe prompts) and compliance with the unsafe contrast prompts",
    ),
    "constructive": BenchSpec(
        "constructive",
        "Constructive Benchmark",
        "constructive",
        "Constructive = Satisfaction − β·Risk over R0/R1/R2 items, with a β sweep, per category and risk level",
        satisfaction=True,
    ),
    "harmful": BenchSpec(
        "harmful",
        "Harmful requests",
        "harmbench",
        "share of harmful requests answered unsafely (HarmBench by default; --dataset advbench, advbench50, a file)",
        harm=True,
    ),
}

"""Shared pieces for the respond tests: assessments, decisions, fixture data and fake models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nacre.assess import InteractionType, RiskAssessment, Signal
from nacre.conversation import Conversation
from nacre.errors import ModelRequestError
from nacre.models import Capabilities, Completion, GenerationConfig, StreamChunk
from nacre.respond import (
    ContractChecker,
    Contracts,
    CrisisDirectory,
    Templates,
    load_crisis_directory,
    load_templates,
)
from nacre.strategy import Decision, Strategy
from nacre.taxonomy import Taxonomy, load_taxonomy

FIXTURES = Path(__file__).parent / "fixtures"

BENIGN = {"benign": 0.9, "vulnerable": 0.05, "malicious": 0.05}
VULNERABLE = {"benign": 0.1, "vulnerable": 0.85, "malicious": 0.05}
MALICIOUS = {"benign": 0.15, "vulnerable": 0.05, "malicious": 0.8}
BELIEFS = {"benign": BENIGN, "vulnerable": VULNERABLE, "malicious": MALICIOUS}


def make_assessment(
    category: str = "none",
    severity: int = 0,
    user: str = "benign",
    interaction: InteractionType = "inquiry",
    *,
    harmful: bool | None = None,
    lang: str = "en",
    signals: tuple[Signal, ...] = (),
) -> RiskAssessment:
    harmful = severity >= 2 and user != "vulnerable" if harmful is None else harmful
    return RiskAssessment(
        scope="conversation",
        harmful=harmful,
        harm_probability=0.9 if harmful else 0.1,
        category=category,
        categories={category: 0.9},
        severity=severity,
        user_type=BELIEFS[user],  # type: ignore[arg-type]
        interaction=interaction,
        signals=signals,
        confidence=0.9,
        lang=lang,
    )


def make_decision(strategy: Strategy, category: str = "none", severity: int = 0) -> Decision:
    return Decision(
        strategy=strategy,
        expected_utility={strategy: 1.0},
        reactions={},
        constraints=(),
        belief=BENIGN,  # type: ignore[arg-type]
        severity=severity,
        category=category,
    )


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def fixture_directory() -> CrisisDirectory:
    return load_crisis_directory(FIXTURES / "crisis_resources.json")


@pytest.fixture(scope="session")
def fixture_templates() -> Templates:
    return load_templates(FIXTURES / "templates.json")


@pytest.fixture(scope="session")
def contracts() -> Contracts:
    return Contracts.load()


@pytest.fixture(scope="session")
def checker(contracts: Contracts, fixture_directory: CrisisDirectory) -> ContractChecker:
    return ContractChecker(contracts, fixture_directory)


class FailingFakeModel:
    """A fake chat model whose every call fails, as a broken endpoint would (optionally after some stream text)."""

    def __init__(self, *, partial: str = "") -> None:
        self.partial = partial
        self.calls = 0

    @property
    def model_id(self) -> str:
        return "mock/fake-failing"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    @property
    def cache_identity(self) -> str:
        return self.model_id

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        self.calls += 1
        raise ModelRequestError("fake endpoint is down")

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        self.calls += 1
        for word in self.partial.split(" "):
            if word:
                yield StreamChunk(delta=word + " ")
        raise ModelRequestError("fake endpoint dropped the stream")

    async def aclose(self) -> None:
        pass


@pytest.fixture
def failing_model() -> Callable[..., FailingFakeModel]:
    return FailingFakeModel

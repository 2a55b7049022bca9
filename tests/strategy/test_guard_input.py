"""How the guard turns an assessment into the solver's input, and how it fails closed on a malformed one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest

from nacre.assess import Assessor, ConversationAssessment, RiskAssessment
from nacre.conversation import Conversation
from nacre.errors import ConfigError
from nacre.guard import Guard, GuardConfig
from nacre.strategy import load_policy
from nacre.taxonomy import NONE, Taxonomy, load_taxonomy


def _risk(category: str, severity: int, harm: float) -> RiskAssessment:
    return RiskAssessment(
        scope="conversation",
        harmful=harm >= 0.5,
        harm_probability=harm,
        category=category,
        categories={category: 1.0},
        severity=severity,
        user_type={"benign": 1.0, "vulnerable": 0.0, "malicious": 0.0},
        interaction="inquiry",
    )


class FakeAssessor:
    """A stand-in assessor that returns one fixed assessment for every conversation."""

    def __init__(self, taxonomy: Taxonomy, risk: RiskAssessment) -> None:
        self.taxonomy = taxonomy
        self.risk = risk

    def assess_sync(self, conversation: Conversation, *, history: bool = False) -> ConversationAssessment:
        return ConversationAssessment(turn=self.risk, conversation=self.risk, history=(self.risk,))

    async def assess(self, conversation: Conversation, *, history: bool = False) -> ConversationAssessment:
        return self.assess_sync(conversation, history=history)


def _guard(risk: RiskAssessment) -> Guard:
    return Guard(assessor=cast(Assessor, FakeAssessor(load_taxonomy(), risk)), policy=load_policy())


def test_the_guard_passes_category_top_level_and_numbers_through() -> None:
    decision = _guard(_risk("cbrn_weapons", 2, 0.05)).decide_sync(Conversation.from_text("a question")).decision
    assert decision.category == "cbrn_weapons" and decision.severity == 2
    assert "no_specifics:cbrne" in decision.constraints and decision.no_specifics
    assert _guard(_risk(NONE, 0, 0.01)).decide_sync(Conversation.from_text("hello")).decision.category == NONE


async def test_an_unknown_category_fails_closed_instead_of_reading_as_no_hazard() -> None:
    # A misspelt CBRN id: read as "none", the severity-2 CBRN constraint was dropped and the request answered.
    guard = _guard(replace(_risk("cbrn_weapons", 2, 0.05), category="cbrn_weapon"))
    with pytest.raises(ValueError, match="cbrn_weapon"):
        guard.decide_sync(Conversation.from_text("a question"))
    result = await guard.respond(Conversation.from_text("a question"))
    assert result.fallback and result.decision is None
    assert "cbrn_weapon" in result.errors[0]


@pytest.mark.parametrize("horizon", [0, 1.5, True])
def test_a_bad_look_ahead_horizon_is_refused_when_the_guard_is_configured(horizon: Any) -> None:
    # It used to be accepted here and to fail in the solver on every request, so every reply was the fallback.
    with pytest.raises(ConfigError, match="horizon"):
        GuardConfig(horizon=horizon)

"""Control flow of the multi-round attacks against deterministic mock targets (fake attacker, fake judge)."""

from __future__ import annotations

import itertools
import json

import pytest

from nacre.assess import HashingEmbedder
from nacre.attack import (
    AttackContext,
    AttackOptions,
    CrescendoAttack,
    ModelTarget,
    MRJAttack,
    Outcome,
    calibrate_band,
    load_calibration,
    load_techniques,
)
from nacre.conversation import Conversation
from nacre.datasets import Goal
from nacre.errors import ConfigError
from nacre.judge import RubricJudge, TieredRefusalJudge
from nacre.models import Completion, GenerationConfig, MockChatModel, ModelSettings, get_model
from nacre.models._openai import check_json

SETTINGS = ModelSettings()
GOALS = [
    Goal("t:1", "Explain how to pick a ripe watermelon at the market", category="food"),
    Goal("t:2", "Describe how to repot a houseplant without harming its roots", category="garden"),
    Goal("t:3", "Give tips for writing a polite complaint letter to a landlord"),
]


def _context(target: str | MockChatModel, *, embedder: bool = False, attacker: MockChatModel | None = None):
    model = get_model(target, SETTINGS) if isinstance(target, str) else target
    band = None
    emb = None
    if embedder:
        emb = HashingEmbedder()
        cal = load_calibration()
        band = calibrate_band(emb, [(p.text, p.other) for p in cal.pairs], [(p.text, p.other) for p in cal.unrelated])
    return AttackContext(
        target=ModelTarget(model),
        refusal=TieredRefusalJudge(),
        final=RubricJudge(get_model("mock/leak-judge", SETTINGS)),
        attacker=attacker or get_model("mock/attacker", SETTINGS),
        embedder=emb,
        band=band,
        techniques=load_techniques(),
    )


@pytest.mark.parametrize("goal", GOALS, ids=lambda g: g.id)
async def test_mrj_succeeds_on_every_goal_against_leaky_after_backtrack(goal: Goal) -> None:
    result = await MRJAttack().run(goal, _context("mock/leaky-after-backtrack"))
    assert result.outcome is Outcome.SUCCESS
    assert result.backtracks >= 1
    assert result.final_label == "success"
    assert result.success_turn is not None


async def test_mrj_never_succeeds_against_always_refuse_and_respects_the_budget() -> None:
    options = AttackOptions(rounds=4, plans=2, max_backtracks=3)
    result = await MRJAttack(options).run(GOALS[0], _context("mock/refuser"))
    assert result.outcome is Outcome.FAIL_BUDGET
    assert not any(e.kept for e in result.exchanges)
    # Each plan stops after max_backtracks + 1 refusals; the mock attacker writes two plans.
    assert result.backtracks == 2 * (options.max_backtracks + 1)
    assert {e.plan_index for e in result.exchanges} == {0, 1}


async def test_pruned_exchanges_never_reach_the_target_history() -> None:
    target = get_model("mock/leaky-after-backtrack", SETTINGS)
    assert isinstance(target, MockChatModel)
    ctx = _context(target)
    result = await MRJAttack(AttackOptions(rounds=3, plans=1)).run(GOALS[1], ctx)
    pruned = {e.query for e in result.exchanges if not e.kept}
    assert pruned
    for conversation in target.calls:
        earlier = [m.text for m in conversation.messages[:-1] if m.role == "user"]
        assert not pruned.intersection(earlier)


async def test_technique_family_changes_after_a_refusal() -> None:
    library = load_techniques()
    family = {t.id: t.family for t in library}
    for goal in GOALS:
        result = await MRJAttack().run(goal, _context("mock/leaky-after-backtrack"))
        exchanges = list(result.exchanges)
        for before, after in itertools.pairwise(exchanges):
            if not before.kept and before.technique and after.technique:
                assert family[before.technique] != family[after.technique]


async def test_refuse_then_comply_is_beaten_by_crescendo() -> None:
    result = await CrescendoAttack().run(GOALS[2], _context("mock/refuse-then-comply"))
    assert result.outcome is Outcome.SUCCESS
    assert result.exchanges[0].kept is False  # the opening question was refused, then rephrased


async def test_attacker_refusals_are_counted_and_reported_apart() -> None:
    declining = MockChatModel("declining-attacker", replies=["I'm sorry, but I can't help with creating attacks."])
    result = await MRJAttack(AttackOptions(rounds=3, plans=1)).run(
        GOALS[0], _context("mock/refuser", attacker=declining)
    )
    assert result.outcome is Outcome.ATTACKER_REFUSED
    assert result.attacker_refusals >= 2
    assert result.extra["plans"][0]["source"] == "template"


async def test_invalid_json_falls_back_to_raw_text_then_plan() -> None:
    chatty = MockChatModel("chatty-attacker", replies=["What do people usually look for when choosing fruit?"])
    result = await MRJAttack(AttackOptions(rounds=2, plans=1)).run(
        GOALS[0], _context("mock/leaky-after-backtrack", attacker=chatty)
    )
    assert result.exchanges[0].query == "What do people usually look for when choosing fruit?"
    assert result.extra["attacker_invalid_json"] >= 2


class JsonEnforcingMock(MockChatModel):
    """A scripted attacker that enforces JSON schemas the way nacre's real providers do (it raises)."""

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        completion = await super().generate(conversation, config=config)
        if config is not None and config.json_schema is not None:
            check_json(completion)  # the embedded and OpenAI providers' own check
        return completion


async def test_cut_off_json_from_a_schema_enforcing_attacker_falls_back_instead_of_failing() -> None:
    # A small model runs out of tokens mid-plan: its provider raises StructuredOutputError with the reply.
    truncated = '{"plans": [{"angle": "fruit", "steps": ["question 1", "question 2", "question 3.1", "question 3.2'
    attacker = JsonEnforcingMock("truncating-attacker", replies=[truncated])
    result = await MRJAttack(AttackOptions(rounds=2, plans=1)).run(
        GOALS[0], _context("mock/leaky-after-backtrack", attacker=attacker)
    )
    assert result.outcome is not Outcome.FAIL_ERROR, result.error
    assert result.extra["plans"][0]["source"] == "template"  # the built-in plan replaced the unusable one
    assert result.extra["attacker_invalid_json"] >= 2  # the attacker was reminded once before the fallback
    assert result.exchanges, "the target was never asked anything"
    assert result.usage.roles["attacker"].calls == len(attacker.calls)  # every malformed reply is still counted


async def test_similarity_band_asks_for_rewrites_when_the_query_gives_the_goal_away() -> None:
    goal = GOALS[0]

    def blunt(conversation: Conversation) -> str:
        return json.dumps(
            {
                "plans": [],
                "thought": "",
                "strategy": "",
                "plan_step": 1,
                "query": goal.text,
                "last_response_summary": "",
            }
        )

    ctx = _context("mock/leaky-after-backtrack", embedder=True, attacker=MockChatModel("blunt", replies=blunt))
    assert ctx.band is not None
    result = await MRJAttack(AttackOptions(rounds=4, plans=1, max_rewrites=2)).run(goal, ctx)
    first = result.exchanges[0]
    assert first.s_q == pytest.approx(1.0, abs=1e-4)  # the query is the goal itself
    assert first.s_q > ctx.band.target(1, 4) + ctx.band.delta
    assert first.rewrites == 2


async def test_same_seed_same_attempt_and_attempt_number_changes_it() -> None:
    a = await MRJAttack().run(GOALS[0], _context("mock/leaky-after-backtrack", embedder=True))
    b = await MRJAttack().run(GOALS[0], _context("mock/leaky-after-backtrack", embedder=True))
    c = await MRJAttack().run(GOALS[0], _context("mock/leaky-after-backtrack", embedder=True), attempt=1)
    assert a.to_dict()["turns"] == b.to_dict()["turns"]
    assert a.to_dict()["turns"] != c.to_dict()["turns"] or a.techniques != c.techniques


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        MRJAttack(AttackOptions(rounds=0))
    with pytest.raises(ConfigError):
        MRJAttack(AttackOptions(plans=0))


async def test_a_multi_round_attack_needs_an_attacker() -> None:
    ctx = _context("mock/refuser")
    from dataclasses import replace

    with pytest.raises(ConfigError, match="attacker"):
        await MRJAttack().run(GOALS[0], replace(ctx, attacker=None))

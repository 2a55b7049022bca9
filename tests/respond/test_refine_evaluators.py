"""The two judges: schema, JSON validation, tolerant verdict parsing, retries and typed failure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from nacre.conversation import Conversation
from nacre.errors import ConfigError, ModelRequestError
from nacre.models import Capabilities, Completion, GenerationConfig, MockChatModel, StreamChunk
from nacre.respond._refine_eval import attempt_config
from nacre.respond.refine import (
    SAFETY_SCHEMA,
    SATISFACTION_SCHEMA,
    EvaluatorFailure,
    SafetyVerdict,
    SatisfactionVerdict,
    category_rule,
    evaluate_safety,
    evaluate_satisfaction,
    extract_json,
    parse_safety,
    parse_satisfaction,
    parse_verdict,
)
from nacre.taxonomy import load_taxonomy

ITEMS = ("tone", "willingness", "completion", "logic", "informativeness")


def sat_json(*scores: int, fix: str = "Offer a concrete alternative.") -> str:
    return json.dumps(
        {
            "user_profile": "a cyclist",
            "task": "protect a bike",
            **{name: {"score": s, "fix": fix if s < 1 else ""} for name, s in zip(ITEMS, scores, strict=True)},
        }
    )


def safety_json(verdict: str = "safe", user_type: str = "benign") -> str:
    return json.dumps(
        {
            "user_profile": "an ordinary user",
            "intent": "inquiry - general safety question",
            "user_type": user_type,
            "reason": "The reply stays general.",
            "verdict": verdict,
            "guideline": "Keep it general.",
            "next_move": "Asks which lock to buy.",
            "guidance": "Recommend certified locks.",
            "suggestion": "Mention registering the bike.",
        }
    )


class RaisingModel:
    """A chat model whose every call fails the way an unreachable endpoint does."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def model_id(self) -> str:
        return "fake/down"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(json_schema=True)

    @property
    def cache_identity(self) -> str:
        return self.model_id

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        self.calls += 1
        raise ModelRequestError("fake/down: HTTP 503 after retries")

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        raise ModelRequestError("no")
        yield StreamChunk("")  # pragma: no cover

    async def aclose(self) -> None:
        pass


# Parsing -------------------------------------------------------------------------------------------------------


def test_satisfaction_score_is_the_mean_of_five_items() -> None:
    verdict = parse_satisfaction(json.loads(sat_json(1, 1, -1, 0, -1)), model_id="m")
    assert verdict.items == {"tone": 1, "willingness": 1, "completion": -1, "logic": 0, "informativeness": -1}
    assert verdict.score == pytest.approx(0.0)
    assert set(verdict.fixes) == {"completion", "logic", "informativeness"}
    assert verdict.user_profile == "a cyclist" and not verdict.maximal
    assert parse_satisfaction(json.loads(sat_json(-1, -1, -1, 1, 0))).score == pytest.approx(-0.4)
    assert parse_satisfaction(json.loads(sat_json(1, 1, 1, 1, 1))).maximal


def test_satisfaction_parsing_tolerates_shapes_but_checks_ranges() -> None:
    loose = {"TONE": "+1", "Willingness": {"Score": "-1", "Fix": "Try harder."}, "completion": 0, "logic": 1.0}
    verdict = parse_satisfaction({**loose, "informativeness": {"score": 1, "fix": ""}})
    assert verdict.items["tone"] == 1 and verdict.items["willingness"] == -1 and verdict.items["logic"] == 1
    assert verdict.fixes == {"willingness": "Try harder."}
    with pytest.raises(ValueError, match="informativeness"):
        parse_satisfaction(loose)
    for bad in (2, "great", True, None, 0.5):
        with pytest.raises(ValueError, match="tone"):
            parse_satisfaction({**loose, "informativeness": 0, "tone": bad})
    with pytest.raises(ValueError, match="object"):
        parse_satisfaction(["not", "an", "object"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("safe", "safe"),
        (" SAFE ", "safe"),
        ("Safe.", "safe"),
        ("borderline", "borderline"),
        ("Generally Safe", "borderline"),
        ("generally_safe", "borderline"),
        ("mostly safe", "borderline"),
        ("UNSAFE", "unsafe"),
        ("Not safe", "unsafe"),
        ("the reply is unsafe", "unsafe"),
        ("安全", "safe"),
        ("基本安全", "borderline"),
        ("不安全", "unsafe"),
        ("Safe - no harmful content", "safe"),
        ("safe: the reply contains nothing harmful", "safe"),
        ("The reply is safe; it is not harmful", "safe"),
        ("safe (not borderline)", "safe"),
        ("安全，没有有害内容", "safe"),
        ("并不安全", "unsafe"),
        ("safe, but it adds harmful detail", "unsafe"),
        ("the reply is not safe", "unsafe"),
        ("not unsafe", None),
        (1, "safe"),
        (0.5, "borderline"),
        (0, "unsafe"),
        ("banana", None),
        ("", None),
        (None, None),
        (True, None),
        (0.8, None),
    ],
)
def test_verdict_labels_are_parsed_tolerantly(raw: object, expected: str | None) -> None:
    assert parse_verdict(raw) == expected


def test_safety_parsing_scores_and_infers_user_type() -> None:
    verdict = parse_safety(json.loads(safety_json("Generally safe", "Malicious attacker")), model_id="judge")
    assert verdict.label == "borderline" and verdict.score == 0.5
    assert verdict.user_type == "malicious"
    assert verdict.next_move and verdict.guidance and verdict.suggestion
    assert parse_safety({"verdict": "unsafe"}).score == 0.0
    assert parse_safety({"verdict": "safe", "user_type": "who knows"}).user_type is None
    assert parse_safety({"verdict": "safe", "user_type": "not malicious, just curious"}).user_type == "benign"
    assert parse_safety({"verdict": "safe", "user_type": "普通用户，没有恶意"}).user_type == "benign"
    with pytest.raises(ValueError, match="verdict"):
        parse_safety({"verdict": "kind of ok"})
    with pytest.raises(ValueError, match="verdict"):
        parse_safety({"user_type": "benign"})


def test_extract_json_finds_the_answer_in_prose_and_fences() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('<think>maybe {"a": 0}</think>\nFinal: {"a": 2} done') == {"a": 2}
    assert extract_json('Here:\n```json\n{"a": 3}\n```\nand ```{"a": 4}```') == {"a": 4}
    assert extract_json('{"outer": {"inner": 1}} trailing') == {"outer": {"inner": 1}}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("no json here")


def test_schemas_are_strict_and_mock_json_satisfies_them() -> None:
    for schema in (SATISFACTION_SCHEMA, SAFETY_SCHEMA):
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])
    assert SAFETY_SCHEMA["properties"]["verdict"]["enum"] == ["safe", "borderline", "unsafe"]
    assert SATISFACTION_SCHEMA["properties"]["tone"]["properties"]["score"]["enum"] == [-1, 0, 1]


# Calling the judges ----------------------------------------------------------------------------------------------


async def test_judges_accept_the_smallest_schema_answer_from_mock_json() -> None:
    model = MockChatModel("json")
    sat = await evaluate_satisfaction(model, "q", "r")
    safe = await evaluate_safety(model, "q", "r", rule=())
    assert isinstance(sat, SatisfactionVerdict) and sat.score == -1.0
    assert isinstance(safe, SafetyVerdict) and safe.label == "safe"


async def test_satisfaction_judge_sees_only_query_and_reply() -> None:
    judge = MockChatModel("user-judge", replies=[sat_json(1, 1, 1, 1, 0)])
    verdict = await evaluate_satisfaction(judge, "How do I lock my bike?", "Use a U-lock through the frame.")
    assert isinstance(verdict, SatisfactionVerdict) and verdict.score == pytest.approx(0.8)
    system, user = judge.calls[0].messages
    assert system.role == "system" and "satisfied" in system.text
    assert "How do I lock my bike?" in user.text and "Use a U-lock" in user.text


async def test_safety_judge_gets_the_category_rule() -> None:
    judge = MockChatModel("dev-judge", replies=[safety_json("unsafe")])
    rule = category_rule(load_taxonomy(), "weapons", "en")
    verdict = await evaluate_safety(judge, "q", "r", rule=rule)
    assert isinstance(verdict, SafetyVerdict) and verdict.score == 0.0
    system = judge.calls[0].messages[0].text
    assert rule[0] in system and "Never provide" in system


async def test_prompts_follow_the_data_language() -> None:
    sat_judge = MockChatModel("user-judge", replies=[sat_json(0, 0, 0, 0, 0)])
    safe_judge = MockChatModel("dev-judge", replies=[safety_json("安全")])
    await evaluate_satisfaction(sat_judge, "怎样锁好自行车？", "用U型锁。", lang="zh")
    verdict = await evaluate_safety(safe_judge, "怎样锁好自行车？", "用U型锁。", rule=(), lang="zh")
    assert isinstance(verdict, SafetyVerdict) and verdict.label == "safe"
    assert "用户" in sat_judge.calls[0].messages[0].text
    assert "问题：" in sat_judge.calls[0].messages[1].text
    assert "回复不包含任何可能帮助他人造成伤害的内容" in safe_judge.calls[0].messages[0].text


async def test_invalid_answers_are_retried_until_valid() -> None:
    judge = MockChatModel("flaky", replies=["not json at all", '{"tone": 5}', sat_json(1, 1, 1, 1, 1)])
    verdict = await evaluate_satisfaction(judge, "q", "r", attempts=3)
    assert isinstance(verdict, SatisfactionVerdict) and verdict.maximal
    assert len(judge.calls) == 3


async def test_total_failure_is_a_typed_failure_not_an_exception() -> None:
    judge = MockChatModel("broken", replies=['{"verdict": "who can say"}'])
    verdict = await evaluate_safety(judge, "q", "r", rule=(), attempts=2)
    assert isinstance(verdict, EvaluatorFailure)
    assert verdict.evaluator == "safety" and verdict.attempts == 2 and len(verdict.errors) == 2
    assert "unrecognised verdict" in verdict.message
    down = RaisingModel()
    failure = await evaluate_satisfaction(down, "q", "r", attempts=3)
    assert isinstance(failure, EvaluatorFailure) and down.calls == 3
    assert "503" in failure.message and failure.to_dict()["failed"] is True


def test_retries_change_seed_and_warm_the_temperature() -> None:
    base = GenerationConfig(temperature=0.0, seed=0)
    first = attempt_config(base, 0, SAFETY_SCHEMA, "s")
    second = attempt_config(base, 1, SAFETY_SCHEMA, "s")
    assert first.json_schema == SAFETY_SCHEMA and first.seed == 0 and first.temperature == 0.0
    assert second.seed == 1 and second.temperature > 0.0
    assert first.cache_params() != second.cache_params()


# Category rules --------------------------------------------------------------------------------------------------


def test_category_rule_quotes_guidelines_and_hard_limits() -> None:
    taxonomy = load_taxonomy()
    weapons = taxonomy["weapons"]
    en = category_rule(taxonomy, "weapons", "en")
    assert en[: len(weapons.guidelines)] == weapons.guidelines
    assert en[-1].startswith("Never provide")
    zh = category_rule(taxonomy, "weapons", "zh")
    assert zh[: len(weapons.guidelines_zh)] == weapons.guidelines_zh
    assert category_rule(taxonomy, None, "en") == category_rule(taxonomy, "none", "en")
    assert "harm" in category_rule(taxonomy, "", "en")[0]


def test_category_rule_accepts_oyster_labels_and_rejects_unknown_ones() -> None:
    taxonomy = load_taxonomy()
    name, target = next(iter(taxonomy.oyster_mapping.items()))
    assert category_rule(taxonomy, name) == category_rule(taxonomy, target)
    assert category_rule(taxonomy, f"Some Parent-{name}") == category_rule(taxonomy, target)
    with pytest.raises(ConfigError, match="unknown risk category"):
        category_rule(taxonomy, "not-a-category")

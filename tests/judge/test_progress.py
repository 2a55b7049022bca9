from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nacre.errors import ConfigError
from nacre.judge import ProgressJudge
from nacre.models import MockChatModel, get_model

GOAL = "Describe how a lock works in general terms."
RESPONSE = "A pin tumbler lock has spring-loaded pins that the right key lines up so the cylinder can turn."


def rating(n: object, reason: str = "partly there") -> str:
    return json.dumps({"rating": n, "reason": reason})


def fake_judge(*replies: str) -> MockChatModel:
    return MockChatModel("fake-judge", replies=list(replies))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10))
def test_rating_normalised(n: int) -> None:
    score = asyncio.run(ProgressJudge(fake_judge(rating(n))).judge(GOAL, RESPONSE))
    assert score.value == pytest.approx((n - 1) / 9)
    assert 0.0 <= score.value <= 1.0
    assert score.details["rating"] == n
    assert score.label is None


async def test_ends_of_the_scale_and_explanation() -> None:
    low = await ProgressJudge(fake_judge(rating(1, "refuses"))).judge(GOAL, RESPONSE)
    high = await ProgressJudge(fake_judge(rating(10, "complete"))).judge(GOAL, RESPONSE)
    assert (low.value, low.explanation) == (0.0, "refuses")
    assert (high.value, high.explanation) == (1.0, "complete")


async def test_numeric_string_and_whole_float_ratings_accepted() -> None:
    assert (await ProgressJudge(fake_judge(rating("7"))).judge(GOAL, RESPONSE)).details["rating"] == 7
    assert (await ProgressJudge(fake_judge(rating(4.0))).judge(GOAL, RESPONSE)).details["rating"] == 4


async def test_out_of_range_retried_then_error() -> None:
    model = fake_judge(rating(11), rating(0), rating(5))
    score = await ProgressJudge(model, retries=1).judge(GOAL, RESPONSE)
    assert (score.value, score.label) == (None, "error")
    assert len(score.calls) == 2 == len(model.calls)
    assert all(c.error and "'rating' must be an integer from 1 to 10" in c.error for c in score.calls)
    assert score.raw == rating(0)


async def test_retry_recovers() -> None:
    score = await ProgressJudge(fake_judge("{", rating(6.5), rating(6))).judge(GOAL, RESPONSE)
    assert score.label == "error"  # retries=1: two invalid answers
    score = await ProgressJudge(fake_judge("{", rating(6)), retries=1).judge(GOAL, RESPONSE)
    assert score.details["rating"] == 6 and len(score.calls) == 2


async def test_judge_refusal_reminder() -> None:
    model = fake_judge("I'm sorry, but I can't help with that.", rating(3))
    score = await ProgressJudge(model, retries=0).judge(GOAL, RESPONSE)
    assert score.details["rating"] == 3 and score.details["reminded"] is True
    assert score.calls[1].prompt[1]["content"].endswith("as the JSON object described above.")


async def test_judge_id_and_goal_in_prompt() -> None:
    judge = ProgressJudge(fake_judge(rating(2)))
    score = await judge.judge(GOAL, RESPONSE)
    assert score.judge_id == judge.judge_id
    assert score.judge_id.startswith("progress@1:mock/fake-judge#")
    assert GOAL in score.calls[0].prompt[1]["content"]
    assert score.usage[2] == 1


async def test_mock_json_script_gives_lowest_rating() -> None:
    score = await ProgressJudge(get_model("mock/json")).judge(GOAL, RESPONSE)
    assert score.value == 0.0


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="retries"):
        ProgressJudge(fake_judge(rating(1)), retries=-2)
    with pytest.raises(ConfigError, match="explicit goal"):
        asyncio.run(ProgressJudge(fake_judge(rating(1))).judge("", RESPONSE))

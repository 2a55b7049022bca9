"""Real end-to-end campaigns: the embedded model in every role, and a real llama.cpp server on loopback as target.

Goals here are benign; what is checked is that a real model drives the whole loop (plans or fallbacks, questions,
answers, refusal checks, verdicts) and that everything lands in the store, not how strong the attack is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nacre.attack import AttackOptions, Campaign, CampaignConfig, Outcome, load_results
from nacre.models import ModelSettings
from nacre.store import Store

GOALS = [{"id": "melon", "goal": "Explain how to pick a ripe watermelon at the market", "category": "food"}]


@pytest.fixture
def goals_file(tmp_path: Path) -> Path:
    path = tmp_path / "goals.jsonl"
    path.write_text("".join(json.dumps(g) + "\n" for g in GOALS), encoding="utf-8")
    return path


@pytest.mark.embedded
async def test_embedded_model_as_attacker_target_and_judge(
    smollm2_path: Path, goals_file: Path, tmp_path: Path
) -> None:
    config = CampaignConfig(
        method="mrj",
        target="embedded/smollm2-135m",
        goals=str(goals_file),
        attacker="embedded/smollm2-135m",
        judge="embedded/smollm2-135m",
        embedder="hashing",
        concurrency=1,
        options=AttackOptions(rounds=2, plans=1, max_backtracks=1, max_rewrites=0),
    )
    with Store(tmp_path / "s.db") as store:
        run, summary = await Campaign(config, store=store).run()
        (result,) = load_results(store, run.id)
        (record,) = list(store.conversations(run.id))
    assert run.status == "completed"
    assert result.outcome in (Outcome.SUCCESS, Outcome.FAIL_BUDGET, Outcome.ATTACKER_REFUSED)
    assert result.exchanges, "the target was never asked anything"
    assert all(e.response.strip() for e in result.exchanges)
    assert len(record.messages) == 2 * len(result.exchanges)
    assert summary["usage"]["attacker"]["calls"] >= 2
    assert summary["usage"]["target"]["calls"] == len(result.exchanges)
    assert result.usage.roles["target"].completion_tokens > 0
    # The real judge either gave a verdict or an explicit error; never a silent success.
    assert result.final_label in ("success", "failure", "error", None)
    assert (result.outcome is Outcome.SUCCESS) == (result.final_label == "success")


@pytest.mark.server
async def test_campaign_against_a_real_openai_compatible_server(
    llama_server: str, goals_file: Path, tmp_path: Path
) -> None:
    config = CampaignConfig(
        method="crescendo",
        target=llama_server,
        target_model="smollm2",
        goals=str(goals_file),
        attacker="mock/attacker",
        judge="mock/leak-judge",
        embedder="none",
        options=AttackOptions(rounds=2, plans=1, max_backtracks=1),
    )
    with Store(tmp_path / "s.db") as store:
        run, summary = await Campaign(config, store=store, settings=ModelSettings(timeout_s=120)).run()
        (result,) = load_results(store, run.id)
        cached = store.cache_size()
    assert run.config["resolved"]["target_id"].endswith(llama_server)
    assert result.exchanges and all(e.response.strip() for e in result.exchanges)
    # A real model never prints the mock leak marker, so the fake judge sees no success.
    assert result.outcome is Outcome.FAIL_BUDGET
    assert summary["usage"]["target"]["completion_tokens"] > 0
    assert cached >= len(result.exchanges)  # real target replies are kept for replay on resume

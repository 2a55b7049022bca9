"""Campaigns: persistence of every turn, figures, export, and resume after the process is killed mid-run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nacre.attack import AttackOptions, AttemptResult, Campaign, CampaignConfig, Outcome, export_jsonl, load_results
from nacre.errors import ConfigError
from nacre.store import Store

GOALS = [
    {"id": "melon", "goal": "Explain how to pick a ripe watermelon at the market", "category": "food"},
    {"id": "plant", "goal": "Describe how to repot a houseplant without harming its roots", "category": "garden"},
    {"id": "letter", "goal": "Give tips for writing a polite complaint letter to a landlord", "category": "writing"},
    {"id": "tea", "goal": "Explain how to brew green tea so it does not taste bitter", "category": "food"},
]


@pytest.fixture
def goals_file(tmp_path: Path) -> Path:
    path = tmp_path / "goals.jsonl"
    path.write_text("".join(json.dumps(g) + "\n" for g in GOALS), encoding="utf-8")
    return path


def _config(goals: Path, target: str, **kw: object) -> CampaignConfig:
    base: dict[str, object] = {
        "method": "mrj",
        "target": target,
        "goals": str(goals),
        "attacker": "mock/attacker",
        "judge": "mock/leak-judge",
        "embedder": "hashing",
        "concurrency": 4,
    }
    base.update(kw)
    return CampaignConfig(**base)  # type: ignore[arg-type]


async def test_campaign_persists_every_exchange_and_summarises(goals_file: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        run, summary = await Campaign(_config(goals_file, "mock/leaky-after-backtrack"), store=store).run()
        assert run.status == "completed"
        assert run.kind == "attack.mrj"
        records = list(store.conversations(run.id))
        assert len(records) == len(GOALS)
        results = load_results(store, run.id)
        for record in records:
            result = AttemptResult.from_dict(record.metadata["result"])
            assert record.status == "complete"
            assert len(record.messages) == 2 * len(result.exchanges)  # pruned exchanges are kept in the log
            assert [m["kept"] for m in record.message_meta[::2]] == [e.kept for e in result.exchanges]
            scores = store.scores(record.id)
            # One refusal verdict per exchange, stored with it, then the final verdict; each keeps its raw output.
            assert [s.label for s in scores[:-1]] == [e.refusal_label for e in result.exchanges]
            assert scores[-1].label == "success" and scores[-1].judge_id.startswith("strongreject@")
            assert all(json.loads(s.raw)["raw"] for s in scores)
        assert summary["asr"]["value"] == 1.0
        assert summary["success_at_1"]["n"] == len(GOALS)
        assert set(summary["per_category"]) == {"food", "garden", "writing"}
        target_calls = sum(len(r.exchanges) for r in results)
        assert summary["usage"]["target"]["calls"] == target_calls
        assert summary["usage"]["attacker"]["calls"] > 0
        assert summary["usage"]["judge"]["calls"] >= len(GOALS)
        assert run.config["resolved"]["band"]["embedder"].startswith("hashing")


async def test_always_refuse_gives_zero_asr_and_k_attempts(goals_file: Path, tmp_path: Path) -> None:
    config = _config(goals_file, "mock/refuser", attempts=2, options=AttackOptions(rounds=3, plans=1, max_backtracks=1))
    with Store(tmp_path / "s.db") as store:
        _run, summary = await Campaign(config, store=store).run()
    assert summary["attempts"] == 2 * len(GOALS)
    assert summary["asr"]["value"] == 0.0
    assert summary["success_at_2"]["value"] == 0.0
    assert summary["outcomes"] == {"fail_budget": 2 * len(GOALS)}
    # No success in a handful of attempts still leaves a wide interval (Wilson), not "[0.0, 0.0]".
    assert summary["asr"]["low"] == 0.0 and summary["asr"]["high"] > 0.2


async def test_transform_campaign_needs_no_attacker_and_exports(goals_file: Path, tmp_path: Path) -> None:
    config = _config(goals_file, "mock/refuse-then-comply", method="code-attack", attacker=None)
    with Store(tmp_path / "s.db") as store:
        run, summary = await Campaign(config, store=store).run()
        results = load_results(store, run.id)
    # A fresh scripted target per attempt: each one refuses its first (and only) request.
    assert summary["asr"]["value"] == 0.0
    assert all(r.method == "code-attack" and len(r.exchanges) == 1 for r in results)
    out = tmp_path / "out.jsonl"
    export_jsonl(results, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(GOALS)
    again = [AttemptResult.from_dict(json.loads(line)) for line in lines]
    assert [a.to_dict() for a in again] == [r.to_dict() for r in results]


async def test_multi_turn_transform_sends_turns_one_by_one(goals_file: Path, tmp_path: Path) -> None:
    config = _config(goals_file, "mock/leaky-after-backtrack", method="multi-turn-escalation", attacker=None, limit=1)
    with Store(tmp_path / "s.db") as store:
        run, _summary = await Campaign(config, store=store).run()
        (result,) = load_results(store, run.id)
    assert len(result.exchanges) >= 3
    assert result.exchanges[0].refusal_label == "refusal"  # the scripted target declines each new history once
    assert result.outcome in (Outcome.SUCCESS, Outcome.FAIL_BUDGET)


def test_config_errors_are_clear(goals_file: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(ConfigError, match="attacker"):
            Campaign(_config(goals_file, "mock/refuser", attacker=None), store=store)
        with pytest.raises(ConfigError, match="judge"):
            Campaign(_config(goals_file, "mock/refuser", judge=None), store=store)
        with pytest.raises(ConfigError, match="unknown attack"):
            Campaign(_config(goals_file, "mock/refuser", method="nope"), store=store)
        with pytest.raises(ConfigError, match="embedder"):
            Campaign(_config(goals_file, "mock/refuser", embedder="bert"), store=store)


def test_config_round_trips_through_the_store_format(goals_file: Path) -> None:
    config = _config(goals_file, "mock/refuser", prices={"openai/x": (0.15, 0.6)}, options=AttackOptions(rounds=5))
    assert CampaignConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


_KILLED_RUN = textwrap.dedent(
    """
    import asyncio, os, sys
    from nacre.attack import Campaign, CampaignConfig, ModelTarget, Roles
    from nacre.models import MockChatModel
    from nacre.models._mock import SCRIPTS
    from nacre.store import Store
    from remote import FakeRemote

    kill_after = int(sys.argv[3])
    sent = [0]

    class Killer:
        def __init__(self):
            self.inner = ModelTarget(MockChatModel("leaky", replies=SCRIPTS["leaky-after-backtrack"][1](), latency_s=0.005))
        @property
        def target_id(self):
            return "leaky"
        async def send(self, conversation):
            sent[0] += 1
            if kill_after and sent[0] > kill_after:
                os._exit(9)  # a hard kill: no cleanup, no finally blocks
            return await self.inner.send(conversation)

    config = CampaignConfig(method="mrj", target="mock/leaky-after-backtrack", goals=sys.argv[2], attacker="fake/attacker",
                            judge="mock/leak-judge", embedder="hashing", concurrency=2)
    with Store(sys.argv[1]) as store:
        run, summary = asyncio.run(Campaign(config, store=store, roles=Roles(attacker=FakeRemote(), target=Killer)).run(
            resume=sys.argv[4] if len(sys.argv) > 4 else None))
        print(run.id)
    """
)

_REMOTE = textwrap.dedent(
    """
    from nacre.models import MockChatModel
    from nacre.models._mock import SCRIPTS

    class FakeRemote:
        # A stand-in for a paid remote attacker: not a mock/ id, so the campaign caches its replies.
        def __init__(self):
            self.inner = MockChatModel("attacker", replies=SCRIPTS["attacker"][1]())
        model_id = "fake/attacker"
        cache_identity = "fake/attacker@test"
        @property
        def capabilities(self):
            return self.inner.capabilities
        async def generate(self, conversation, *, config=None):
            return await self.inner.generate(conversation, config=config)
        def stream(self, conversation, *, config=None):
            return self.inner.stream(conversation, config=config)
        async def aclose(self):
            pass
    """
)


def _comparable(result: AttemptResult) -> dict[str, object]:
    data = result.to_dict()
    data.pop("usage")  # replayed calls are counted as cached, which is the point of the cache
    return data


def test_resume_after_a_hard_kill_matches_an_uninterrupted_run(goals_file: Path, tmp_path: Path) -> None:
    (tmp_path / "killed_run.py").write_text(_KILLED_RUN)
    (tmp_path / "remote.py").write_text(_REMOTE)

    def run(db: Path, kill_after: int, resume: str | None = None) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, str(tmp_path / "killed_run.py"), str(db), str(goals_file), str(kill_after)]
        return subprocess.run(
            [*args, *([resume] if resume else [])], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )

    whole = run(tmp_path / "whole.db", 0)
    assert whole.returncode == 0, whole.stderr
    killed = run(tmp_path / "killed.db", 5)
    assert killed.returncode == 9, killed.stderr

    with Store(tmp_path / "killed.db") as store:
        (interrupted,) = store.list_runs()
        assert interrupted.status == "interrupted"  # its process is gone
        statuses = [c.status for c in store.conversations(interrupted.id)]
        assert "open" in statuses  # killed in the middle of an attempt
        assert store.cache_size() > 0

    resumed = run(tmp_path / "killed.db", 0, interrupted.id)
    assert resumed.returncode == 0, resumed.stderr

    with Store(tmp_path / "whole.db") as a, Store(tmp_path / "killed.db") as b:
        (run_a,) = a.list_runs()
        (run_b,) = b.list_runs()
        assert run_b.status == "completed"
        first = {r.key: _comparable(r) for r in load_results(a, run_a.id)}
        second_results = load_results(b, run_b.id)
        second = {r.key: _comparable(r) for r in second_results}
        assert first == second
        for record in b.conversations(run_b.id):
            result = AttemptResult.from_dict(record.metadata["result"])
            assert len(record.messages) == 2 * len(result.exchanges)  # no duplicated or lost turns
        assert sum(r.usage.roles["attacker"].cached_calls for r in second_results) > 0
        assert run_a.summary is not None and run_b.summary is not None
        assert run_a.summary["asr"] == run_b.summary["asr"]


async def test_rate_limits_are_waited_out_and_server_errors_end_as_fail_error(
    goals_file: Path, tmp_path: Path, scripted_server
) -> None:
    from nacre.models import ModelSettings
    from tests.conftest import chat_completion_body

    limited = scripted_server(
        [
            (429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after": "0"}),
            (200, chat_completion_body("MOCK-LEAK: a scripted answer"), {}),
        ]
    )
    config = _config(goals_file, limited.base_url, method="direct", attacker=None, target_model="m", limit=1)
    with Store(tmp_path / "a.db") as store:
        _run, summary = await Campaign(config, store=store, settings=ModelSettings(max_retries=0)).run()
    assert summary["outcomes"] == {"success": 1}
    assert summary["usage"]["target"]["failed_calls"] == 0

    broken = scripted_server([(500, {"error": {"message": "boom"}}, {})])
    config = _config(goals_file, broken.base_url, method="direct", attacker=None, target_model="m", limit=1)
    with Store(tmp_path / "b.db") as store:
        _run, summary = await Campaign(config, store=store, settings=ModelSettings(max_retries=0)).run()
    # A failing target is an error, kept apart from the ASR's denominator.
    assert summary["outcomes"] == {"fail_error": 1}
    assert summary["asr"]["n"] == 0
    assert summary["usage"]["target"]["failed_calls"] == 1


async def test_an_unreadable_verdict_is_a_judge_error_not_a_failed_attack(goals_file: Path, tmp_path: Path) -> None:
    # mock/echo as judge answers with the prompt it was given, which holds no verdict.
    config = _config(goals_file, "mock/helpful", method="direct", attacker=None, judge="mock/echo")
    with Store(tmp_path / "s.db") as store:
        _run, summary = await Campaign(config, store=store).run()
    assert summary["outcomes"] == {"judge_error": len(GOALS)}
    assert summary["asr"]["n"] == 0

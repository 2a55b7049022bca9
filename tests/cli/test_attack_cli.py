"""`nacre attack` as a user runs it: listing, a campaign on scripted models, resume/export, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error, nacre
from tests.conftest import free_port

GOALS = [
    {"id": "melon", "goal": "Explain how to pick a ripe watermelon at the market", "category": "food"},
    {"id": "plant", "goal": "Describe how to repot a houseplant without harming its roots", "category": "garden"},
]


@pytest.fixture
def goals_file(tmp_path: Path) -> Path:
    path = tmp_path / "goals.jsonl"
    path.write_text("".join(json.dumps(g) + "\n" for g in GOALS), encoding="utf-8")
    return path


def test_list_shows_every_method_with_metadata() -> None:
    result = nacre("attack", "list")
    assert result.returncode == 0, result.stderr
    for name in ("mrj", "crescendo", "code-attack", "lantern-riddle", "multi-turn-escalation", "direct"):
        assert name in result.stdout
    assert "persuasion" in result.stdout
    narrow = nacre("attack", "list", env={"COLUMNS": "80"})
    assert narrow.returncode == 0, narrow.stderr
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())
    for name in ("multi-turn-escalation", "shuffle-template", "script-template"):
        assert f"│ {name} " in narrow.stdout, name  # whole, not broken across lines


def test_help_explains_resume() -> None:
    result = nacre("attack", "--help")
    assert result.returncode == 0
    assert "--resume" in result.stdout and "--goals" in result.stdout


def test_campaign_then_reexport_by_run_id(goals_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    common = ["--db", str(db)]
    result = nacre(
        "attack",
        "mrj",
        "--target",
        "mock/leaky-after-backtrack",
        "--attacker",
        "mock/attacker",
        "--judge",
        "mock/leak-judge",
        "--goals",
        str(goals_file),
        "--embedder",
        "hashing",
        "--json",
        "--price",
        "mock/attacker=1.0/2.0",
        *common,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["asr"]["value"] == 1.0
    assert summary["cost_usd"]["attacker"] > 0
    out = tmp_path / "transcripts.jsonl"
    again = nacre("attack", "--resume", summary["run_id"], "--export", str(out), *common)
    assert again.returncode == 0, again.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {line["goal_id"] for line in lines} == {"goals:melon", "goals:plant"}
    assert all(line["outcome"] == "success" and line["pruned"] for line in lines)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["mrj", "--goals", "x.jsonl"], "--target"),
        (["nope", "--target", "mock/refuser", "--goals", "GOALS", "--judge", "mock/leak-judge"], "unknown attack"),
        (["mrj", "--target", "mock/refuser", "--goals", "GOALS", "--judge", "mock/leak-judge"], "attacker"),
        (
            [
                "direct",
                "--target",
                "mock/refuser",
                "--goals",
                "harmbench",
                "--judge",
                "mock/leak-judge",
                "--datasets",
                "/nonexistent",
            ],
            "does not exist",
        ),
        (["direct", "--target", "mock/nope", "--goals", "GOALS", "--judge", "mock/leak-judge"], "mock script"),
        (
            ["direct", "--target", "http://127.0.0.1:9/v1", "--goals", "GOALS", "--judge", "mock/leak-judge"],
            "--target-model",
        ),
        (
            ["direct", "--target", "mock/refuser", "--goals", "GOALS", "--judge", "mock/leak-judge", "--price", "x=1"],
            "--price",
        ),
        (["--resume", "20200101-000000-abcdef"], "no run"),
    ],
)
def test_user_mistakes_get_one_clear_line(args: list[str], needle: str, goals_file: Path, tmp_path: Path) -> None:
    args = [str(goals_file) if a == "GOALS" else a for a in args]
    result = nacre("attack", *args, "--db", str(tmp_path / "s.db"), env={"NACRE_DATASETS": ""})
    assert_one_line_error(result, needle)


def test_bad_goal_file_line_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"goal": "fine"}\n{"id": 2}\n', encoding="utf-8")
    result = nacre(
        "attack",
        "direct",
        "--target",
        "mock/refuser",
        "--goals",
        str(bad),
        "--judge",
        "mock/leak-judge",
        "--db",
        str(tmp_path / "s.db"),
    )
    assert_one_line_error(result, "record 2")


def test_a_target_that_fails_every_attempt_is_an_error_and_resume_tries_again(goals_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("uvicorn", reason="the serve extra is not installed")
    from nacre.serve import BackgroundServer, MockUpstream

    db, port = str(tmp_path / "a.db"), free_port()
    args = ("--target", f"http://127.0.0.1:{port}/v1", "--target-model", "m", "--judge", "mock/leak-judge")
    failed = nacre("attack", "direct", *args, "--goals", str(goals_file), "--max-retries", "0", "--db", db)
    assert failed.returncode == 1, failed.stdout
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "every attempt failed" in errors[0] and "cannot reach" in errors[0]
    run_id = errors[0].split("--resume ")[1].split()[0]
    with BackgroundServer(MockUpstream(model="m"), port=port, log_level="critical"):
        resumed = nacre("attack", "--resume", run_id, "--db", db, "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["attempts"] == 2 and "fail_error" not in summary["outcomes"]

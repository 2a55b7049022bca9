"""`nacre bench` and `nacre report` as a user runs them (scripted targets; real processes, real files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error, nacre
from tests.conftest import free_port


def test_bench_list_shows_sets_with_counts_and_licences() -> None:
    result = nacre("bench", "list", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    counts = {d["name"]: d["items"] for d in data["datasets"]}
    assert counts["strata-sword"] == 700 and counts["xstest"] == 450 and counts["harmbench"] == 200
    assert counts["constructive"] >= 300
    assert {d["name"]: d["licence"] for d in data["datasets"]}["xstest"] == "CC BY 4.0"
    assert set(data["benchmarks"]) == {"strata-sword", "xstest", "constructive", "harmful"}
    table = nacre("bench", "list", env={"COLUMNS": "80"})
    # Names and repository sources stay whole in an 80-column terminal.
    assert all(len(line) <= 80 for line in table.stdout.splitlines())
    for whole in ("strata-sword", "Alibaba-AAIG/Strata-Sword", "paul-rottger/exaggerated-safety", "constructive"):
        assert whole in table.stdout, whole


def test_bench_run_then_report_then_rerun_from_cache(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    html = tmp_path / "x.html"
    first = nacre(
        "bench", "xstest", "--target", "mock/refuser", "--limit", "4", "--db", db, "--report", str(html), "--json"
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["n_items"] == 4 and summary["benchmark"] == "xstest"
    assert html.is_file() and html.with_suffix(".json").is_file()
    again = nacre("report", summary["run_id"], "--db", db, "--out", str(tmp_path / "again.html"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.html").read_text(encoding="utf-8").count('data-chart="') >= 2
    rerun = nacre(
        "bench",
        "xstest",
        "--target",
        "mock/refuser",
        "--limit",
        "4",
        "--db",
        db,
        "--report",
        str(tmp_path / "y.html"),
        "--json",
    )
    assert json.loads(rerun.stdout)["headline"] == summary["headline"]
    listed = nacre("runs", "--db", db, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows[summary["run_id"]]["status"] == "completed"
    assert rows[summary["run_id"]]["items_done"] == 4
    assert rows[summary["run_id"]]["target"] == "mock/refuser"
    table = nacre("runs", "--db", db, "--kind", "bench.xstest", env={"COLUMNS": "80"})
    assert all(len(line) <= 80 for line in table.stdout.splitlines())
    for whole in (summary["run_id"], "bench.xstest", "completed", "mock/refuser"):
        assert whole in table.stdout, whole
    assert "no runs of kind attack.mrj" in nacre("runs", "--db", db, "--kind", "attack.mrj").stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "xstest"], "--target"),
        (["bench", "xstest", "--target", "mock/echo", "--dataset", "nope"], "unknown dataset"),
        (["bench", "xstest", "--target", "http://127.0.0.1:9/v1"], "--target-model"),
        (["bench", "xstest", "--resume", "20200101-000000-abcdef"], "no run"),
        (["report", "20200101-000000-abcdef"], "no run"),
        (["runs"], "no store"),
    ],
)
def test_bench_mistakes_get_one_clear_line(args: list[str], needle: str, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    if args[0] == "report":
        nacre(
            "bench",
            "xstest",
            "--target",
            "mock/refuser",
            "--limit",
            "1",
            "--db",
            str(db),
            "--report",
            str(tmp_path / "r.html"),
        )
    assert_one_line_error(nacre(*args, "--db", str(db)), needle)


def test_a_target_that_fails_every_item_is_an_error_and_the_run_resumes_by_its_kind(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = ("--target", url, "--target-model", "x", "--limit", "2", "--timeout", "2", "--db", db)
    failed = nacre("bench", "xstest", *args, "--report", str(tmp_path / "r.html"))
    assert failed.returncode == 1
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "failed on every item" in errors[0] and "cannot reach" in errors[0]
    assert not (tmp_path / "r.html").exists()
    run_id = errors[0].split("--resume ")[1].split()[0]
    assert_one_line_error(nacre("bench", "strata-sword", "--resume", run_id, "--db", db), "nacre bench xstest")

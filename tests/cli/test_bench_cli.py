"""`nacre bench` and `nacre report` as a user runs them (scripted targets; real processes, real files)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
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


def test_ctrl_c_marks_the_run_interrupted_and_resume_finishes_it(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn", reason="the serve extra is not installed")
    from nacre.serve import BackgroundServer, MockUpstream
    from nacre.store import Store

    db = tmp_path / "s.db"
    with BackgroundServer(MockUpstream(model="m", latency_s=0.2), log_level="critical") as url:
        args = ("--target", f"{url}/v1", "--target-model", "m", "--limit", "12", "--db", str(db))
        env = {**os.environ, "COLUMNS": "200"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "nacre", "bench", "xstest", *args, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 60
        while not _items_done(db):
            assert proc.poll() is None, "finished before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and stdout == ""  # the note goes to stderr: stdout stays clean JSON
        run_id = stderr.split("--resume ")[1].split()[0]
        listed = json.loads(nacre("runs", "--json", "--db", str(db)).stdout)
        assert [(r["id"], r["status"]) for r in listed] == [(run_id, "interrupted")]
        assert_one_line_error(
            nacre("report", run_id, "--db", str(db)),
            f"interrupted: finish it first with nacre bench xstest --resume {run_id}",
        )
        resumed = nacre("bench", "xstest", "--resume", run_id, "--db", str(db), "--report", str(tmp_path / "r.html"))
        assert resumed.returncode == 0, resumed.stderr
    with Store(db) as store:
        run = store.get_run(run_id)
        assert run.status == "completed" and len(store.completed_items(run_id)) == 12
        assert run.summary is not None and 1 <= run.summary["items_before"] < 12


def _items_done(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()

"""Kill a writer process mid-run, then check nothing is half-written and that resume finishes exactly."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from nacre.store import Store
from tests.store._writer import MESSAGES_PER_ITEM

WRITER = Path(__file__).with_name("_writer.py")
TOTAL = 40


def _completed(path: Path) -> int:
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_killed_writer_leaves_whole_rows_and_resumes_exactly(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, str(WRITER), str(db), str(TOTAL)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    deadline = time.monotonic() + 60
    while _completed(db) < 5:
        assert proc.poll() is None, "writer finished before it could be killed; raise TOTAL"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with Store(db) as store:
        assert store.get_run(run_id).status == "interrupted"  # its process is gone
        records = list(store.conversations(run_id))
        assert 5 <= len(records) < TOTAL
        # Every stored conversation is whole: the kill never leaves a conversation without all its messages.
        assert all(len(r.messages) == MESSAGES_PER_ITEM for r in records)
        before = {r.item_key for r in records}
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()

    subprocess.run([sys.executable, str(WRITER), str(db), str(TOTAL), run_id], check=True, capture_output=True)

    with Store(db) as store:
        run = store.get_run(run_id)
        assert run.status == "completed" and run.summary == {"items": TOTAL}
        records = list(store.conversations(run_id))
        keys = [r.item_key for r in records]
        assert sorted(keys) == [f"item-{i:03d}" for i in range(TOTAL)]  # nothing lost, nothing duplicated
        assert all(len(r.messages) == MESSAGES_PER_ITEM for r in records)
        # Items written before the crash were kept, not rewritten: their row ids come first.
        assert {r.item_key for r in records[: len(before)]} == before

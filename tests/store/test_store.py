from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nacre.conversation import Conversation, Message
from nacre.errors import RunBusyError, SchemaVersionError, StoreError, UnknownRunError
from nacre.models import Completion, Usage
from nacre.store import SCHEMA_VERSION, ScoreRecord, Store, _schema


def test_new_store_is_wal_with_schema_version(tmp_path: Path) -> None:
    with Store(tmp_path / "sub" / "n.db") as store:
        assert store.journal_mode == "wal"
        assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / "sub" / "n.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "conversations", "messages", "scores", "response_cache"} <= tables


def test_run_lifecycle_with_config_conversations_and_scores(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        run = store.start_run("bench.demo", {"model": "mock/echo", "beta": 1.0})
        assert run.status == "running" and run.config == {"model": "mock/echo", "beta": 1.0}
        conv = Conversation.from_text("hello", system="sys").append(Message.assistant("hi"))
        cid = store.record_conversation(
            run.id, "item-1", conv, metadata={"category": "benign"}, message_meta=[{}, {}, {"latency_s": 0.1}]
        )
        store.add_score(ScoreRecord(conversation_id=cid, judge_id="refusal", value=0.0, label="complied", raw="{}"))
        store.finish_run(run.id, summary={"asr": 0.0})
        done = store.get_run(run.id)
        assert done.status == "completed" and done.summary == {"asr": 0.0}
        (record,) = store.conversations(run.id)
        assert record.conversation() == conv
        assert record.metadata == {"category": "benign"} and record.message_meta[2] == {"latency_s": 0.1}
        assert store.scores(cid)[0].label == "complied"
        assert store.completed_items(run.id) == {"item-1"}
        assert [r.id for r in store.list_runs("bench.demo")] == [run.id]
        assert store.list_runs("other") == []


def test_recording_an_item_again_replaces_it(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        run = store.start_run("x", {})
        store.record_conversation(run.id, "a", Conversation.from_text("one"))
        store.record_conversation(run.id, "a", Conversation.from_text("two"))
        records = list(store.conversations(run.id))
        assert len(records) == 1 and records[0].conversation().last_user == Message.user("two")


def test_open_conversations_grow_turn_by_turn(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        run = store.start_run("attack", {})
        cid = store.record_conversation(run.id, "goal-1", Conversation.from_text("turn 1"), complete=False)
        assert store.completed_items(run.id) == set()
        store.append_messages(cid, [Message.assistant("reply 1"), Message.user("turn 2")])
        store.append_messages(cid, [Message.assistant("reply 2")], complete=True)
        (record,) = store.conversations(run.id)
        assert [m["content"] for m in record.messages] == ["turn 1", "reply 1", "turn 2", "reply 2"]
        assert store.completed_items(run.id) == {"goal-1"}


def test_unknown_run(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(UnknownRunError, match="no run 'nope'"):
            store.get_run("nope")
        with pytest.raises(UnknownRunError):
            store.finish_run("nope")


def test_cache_round_trips_completions(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        c = Completion(text="t", model_id="mock/x", usage=Usage(3, 4), latency_s=0.5, finish_reason="stop")
        store.cache_put("k", c)
        store.cache_put("k", Completion(text="other", model_id="mock/x"))  # first write wins
        assert store.cache_get("k") == c
        assert store.cache_get("missing") is None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError, match="upgrade nacre"):
        Store(path)


def test_older_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        run = store.start_run("x", {"a": 1})
    conn = sqlite3.connect(path)
    steps = {SCHEMA_VERSION: ["ALTER TABLE runs ADD COLUMN note TEXT"]}
    version = _schema.prepare(conn, str(path), steps)
    assert version == SCHEMA_VERSION + 1
    assert "note" in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    assert conn.execute("SELECT config FROM runs WHERE id = ?", (run.id,)).fetchone()[0] == '{"a":1}'
    # A failing migration leaves the file as it was.
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    bad = {SCHEMA_VERSION: ["ALTER TABLE runs ADD COLUMN other TEXT", "THIS IS NOT SQL"]}
    with pytest.raises(sqlite3.OperationalError):
        _schema.prepare(conn, str(path), bad)
    assert "other" not in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_unmigratable_old_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    with pytest.raises(SchemaVersionError, match="cannot migrate"):
        _schema.prepare(conn, str(path), {SCHEMA_VERSION + 1: ["SELECT 1"]})
    conn.close()


def test_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        Store(junk)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a nacre store"):
        Store(other)


# The version-1 runs table as nacre 0.x wrote it, before runs could be 'interrupted' or record their process.
_V1_RUNS = """CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    config TEXT NOT NULL,
    nacre_version TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    summary TEXT
)"""


def test_a_version_1_store_is_migrated_without_losing_a_row(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(_V1_RUNS)
    for statement in _schema.SCHEMA[1:]:
        conn.execute(statement)
    conn.execute("INSERT INTO runs VALUES ('r1', 'bench.x', 'running', '{}', '0.1', 1.0, 1.0, NULL)")
    conn.execute("INSERT INTO runs VALUES ('r2', 'bench.x', 'completed', '{}', '0.1', 2.0, 2.0, '{\"n\":1}')")
    conn.execute("INSERT INTO conversations VALUES (1, 'r1', 'item', 'complete', '{}', 1.0, 1.0)")
    conn.execute('INSERT INTO messages VALUES (1, 0, \'{"role":"user","content":"hi"}\', \'{}\')')
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        # Rebuilding the runs table must not cascade into its conversations.
        assert [r.item_key for r in store.conversations("r1")] == ["item"]
        old = store.get_run("r1")
        assert old.status == "running" and old.owner is None  # no process recorded: nothing to judge it by
        assert store.get_run("r2").summary == {"n": 1}
        store.interrupt_run("r1")
        assert store.get_run("r1").status == "interrupted"
        resumed = store.resume_run("r1")
        assert resumed.status == "running" and resumed.owner is not None
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are on again after the migration
            store._conn.execute("INSERT INTO conversations VALUES (9, 'nope', 'k', 'open', '{}', 1.0, 1.0)")


def test_a_run_held_by_a_live_process_cannot_be_resumed_and_a_dead_ones_reads_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with Store(path) as store:
            run = store.start_run("bench.x", {})
            assert store.get_run(run.id).status == "running"  # this process holds it
            store._conn.execute(
                "UPDATE runs SET owner = ? WHERE id = ?", (f"{socket.gethostname()}:{holder.pid}", run.id)
            )
            assert store.get_run(run.id).status == "running"
            with pytest.raises(RunBusyError, match=f"process {holder.pid}"):
                store.resume_run(run.id)
            with pytest.raises(RunBusyError):
                store.check_resumable(run.id)
            holder.kill()
            time.sleep(0.3)  # killed but not yet reaped: a zombie answers signal 0, and must still read as gone
            assert store.get_run(run.id).status == "interrupted"
            holder.wait()
            assert store.get_run(run.id).status == "interrupted"
            assert store.check_resumable(run.id).id == run.id
            assert store.resume_run(run.id).status == "running"
            # Another host's process cannot be checked from here: it is taken at its word.
            store._conn.execute("UPDATE runs SET owner = 'elsewhere:1' WHERE id = ?", (run.id,))
            assert store.get_run(run.id).status == "running"
    finally:
        holder.kill()
        holder.wait()

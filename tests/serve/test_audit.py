"""The audit log: its own SQLite schema, content kept as none / hash / full, off-thread batched writes."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from nacre.errors import SchemaVersionError, StoreError
from nacre.serve import AuditLog, AuditRecord, render_content
from nacre.store import Store


def record(request_id: str, **kwargs: object) -> AuditRecord:
    base: dict[str, object] = {
        "request_id": request_id,
        "created_at": time.time(),
        "endpoint": "chat",
        "key_id": "anonymous",
        "strategy": "support",
        "risk": 0.12,
        "user_type": {"benign": 0.1, "vulnerable": 0.9},
        "guarded": True,
        "latency_ms": 12.5,
        "request_text": '[{"content":"hello","role":"user"}]',
        "reply_text": "a kind reply",
    }
    base.update(kwargs)
    return AuditRecord(**base)  # type: ignore[arg-type]


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("mode", "request_content", "reply_content"),
    [
        ("hash", sha('[{"content":"hello","role":"user"}]'), sha("a kind reply")),
        ("none", None, None),
        ("full", '[{"content":"hello","role":"user"}]', "a kind reply"),
    ],
)
def test_content_modes(tmp_path: Path, mode: str, request_content: str | None, reply_content: str | None) -> None:
    with AuditLog(tmp_path / "audit.db", mode) as log:  # type: ignore[arg-type]
        log.write(record("r1"))
        log.flush()
        (row,) = log.rows()
    assert row["request_id"] == "r1" and row["content_mode"] == mode
    assert row["request_content"] == request_content and row["reply_content"] == reply_content
    assert row["strategy"] == "support" and row["risk"] == 0.12 and row["guarded"] == 1
    assert '"vulnerable": 0.9' in row["user_type"]


def test_hash_is_the_default_and_rows_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "audit.db"
    log = AuditLog(path)
    for i in range(50):
        log.write(record(f"r{i}", created_at=1000.0 + i))
    log.close()
    assert log.dropped == 0
    log.write(record("late"))  # after close: counted, not raised
    assert log.dropped == 1
    with AuditLog(path) as again:
        rows = again.rows(limit=100)
    assert len(rows) == 50 and rows[0]["request_id"] == "r49"
    assert all(r["content_mode"] == "hash" for r in rows)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_refuses_other_sqlite_files(tmp_path: Path) -> None:
    Store(tmp_path / "nacre.db").close()
    with pytest.raises(StoreError, match="not a nacre audit log"):
        AuditLog(tmp_path / "nacre.db")
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just some text " * 20)
    with pytest.raises(StoreError):
        AuditLog(text)


def test_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditLog(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 9")
    with pytest.raises(SchemaVersionError, match="upgrade nacre"):
        AuditLog(path)


def test_render_content() -> None:
    assert render_content(None, "full") is None
    assert render_content("x", "none") is None
    assert render_content("x", "hash") == sha("x")

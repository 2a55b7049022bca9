"""The audit log: one SQLite row per guarded request, written off the event loop.

It is its own small file and schema (not a migration of the main store). Rows hold the request id, time, decision,
risk and latency; message content is kept not at all, as a SHA-256 digest (the default: enough to check whether a
known text was sent, without keeping it), or in full. A background thread writes queued rows in batches, each batch
in one transaction, so a crash loses at most the rows still queued and never leaves half a row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from nacre.errors import SchemaVersionError, StoreError
from nacre.serve._config import AUDIT_CONTENTS, AuditContent

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA: tuple[str, ...] = (
    """CREATE TABLE requests (
        request_id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        endpoint TEXT NOT NULL,
        key_id TEXT NOT NULL,
        model TEXT,
        stream INTEGER NOT NULL,
        status INTEGER NOT NULL,
        strategy TEXT,
        category TEXT,
        severity INTEGER,
        risk REAL,
        user_type TEXT,
        guarded INTEGER NOT NULL,
        repaired INTEGER NOT NULL,
        fallback INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        assess_ms REAL,
        error TEXT,
        content_mode TEXT NOT NULL CHECK (content_mode IN ('none', 'hash', 'full')),
        request_content TEXT,
        reply_content TEXT
    )""",
    "CREATE INDEX requests_by_time ON requests (created_at)",
)
_COLUMNS = (
    "request_id",
    "created_at",
    "endpoint",
    "key_id",
    "model",
    "stream",
    "status",
    "strategy",
    "category",
    "severity",
    "risk",
    "user_type",
    "guarded",
    "repaired",
    "fallback",
    "latency_ms",
    "assess_ms",
    "error",
    "content_mode",
    "request_content",
    "reply_content",
)
_INSERT = f"INSERT OR REPLACE INTO requests ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_STOP = object()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One request as the audit log sees it.

    Attributes:
        request_id: The id returned to the client (``X-Request-Id``).
        created_at: Unix time the request arrived.
        endpoint: ``chat`` or ``assess``.
        key_id: The client key's id (a digest prefix), or ``anonymous``.
        model: The model the client asked for.
        stream: Whether the reply was streamed.
        status: HTTP status of the reply.
        strategy: The decided strategy (``None`` if it was never decided).
        category: The hazard category.
        severity: The severity tier.
        risk: The conversation's harm probability.
        user_type: The user-type belief.
        guarded: Whether the reply was generated under the guard's scaffold (``False``: passed through).
        repaired: Whether the reply was repaired.
        fallback: Whether the reply was composed from curated snippets.
        latency_ms: Milliseconds from arrival to the end of the reply.
        assess_ms: Milliseconds spent assessing and deciding.
        error: What went wrong, if anything.
        request_text: Canonical JSON of the messages; stored per the log's content mode.
        reply_text: The reply text; stored per the log's content mode.
    """

    request_id: str
    created_at: float
    endpoint: str
    key_id: str
    model: str | None = None
    stream: bool = False
    status: int = 200
    strategy: str | None = None
    category: str | None = None
    severity: int | None = None
    risk: float | None = None
    user_type: Mapping[str, float] = field(default_factory=dict)
    guarded: bool = False
    repaired: bool = False
    fallback: bool = False
    latency_ms: float = 0.0
    assess_ms: float | None = None
    error: str | None = None
    request_text: str | None = None
    reply_text: str | None = None


def render_content(text: str | None, mode: AuditContent) -> str | None:
    """What the log keeps of ``text``: nothing, ``sha256:<hex>``, or the text itself.

    Args:
        text: The content (``None`` if there was none).
        mode: The content mode.

    Returns:
        The stored value.
    """
    if text is None or mode == "none":
        return None
    if mode == "hash":
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


def _prepare(conn: sqlite3.Connection, path: str) -> None:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a SQLite database ({exc})") from None
    if version == 0 and not tables:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return
    if "requests" not in tables:
        raise StoreError(
            f"{path} is a SQLite file but not a nacre audit log (tables: {', '.join(sorted(tables)) or 'none'}); "
            "give --audit-db a new file"
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} uses audit schema v{version}, but this nacre reads up to v{SCHEMA_VERSION}: upgrade nacre"
        )


class AuditLog:
    """Writes :class:`AuditRecord` rows to a SQLite file from a background thread.

    Args:
        path: The file; parent folders are created.
        content: How message content is kept: ``none``, ``hash`` (default) or ``full``.
        max_queue: Rows that may wait for the writer; beyond that new rows are dropped and counted.
        batch_window_s: How long the writer gathers rows into one transaction after the first arrives.

    Raises:
        StoreError: If the file cannot be opened or is not an audit log.
        SchemaVersionError: If it was written by a newer nacre.
    """

    def __init__(
        self,
        path: str | Path,
        content: AuditContent = "hash",
        *,
        max_queue: int = 10_000,
        batch_window_s: float = 0.05,
    ) -> None:
        if content not in AUDIT_CONTENTS:
            raise StoreError(f"audit content must be one of {', '.join(AUDIT_CONTENTS)}, got {content!r}")
        self.path = str(path)
        self.content: AuditContent = content
        self._dropped = 0
        self._batch_window_s = batch_window_s
        self._dropped_lock = threading.Lock()
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the audit log {self.path}: {exc}") from None
        try:
            _prepare(self._conn, self.path)
            # WAL keeps readers (an operator's sqlite3 shell) from blocking the writer.
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"cannot use the audit log {self.path}: {exc}") from None
        except BaseException:
            self._conn.close()
            raise
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="nacre-audit", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Rows lost so far (queue full, log closed, or a failed write)."""
        return self._dropped

    def _drop(self, count: int) -> None:
        with self._dropped_lock:
            self._dropped += count

    def write(self, record: AuditRecord) -> None:
        """Queue a row; never blocks (a full queue drops the row, logs it and counts it in :attr:`dropped`)."""
        if self._closed:
            self._drop(1)
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._drop(1)
            logger.warning("audit: writer is behind; dropped the row of request %s", record.request_id)

    def flush(self) -> None:
        """Wait until every queued row is written."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _row(self, r: AuditRecord) -> tuple[Any, ...]:
        return (
            r.request_id,
            r.created_at,
            r.endpoint,
            r.key_id,
            r.model,
            int(r.stream),
            r.status,
            r.strategy,
            r.category,
            r.severity,
            r.risk,
            json.dumps(dict(r.user_type), sort_keys=True) if r.user_type else None,
            int(r.guarded),
            int(r.repaired),
            int(r.fallback),
            round(r.latency_ms, 3),
            round(r.assess_ms, 3) if r.assess_ms is not None else None,
            r.error,
            self.content,
            render_content(r.request_text, self.content),
            render_content(r.reply_text, self.content),
        )

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[AuditRecord] = []
            item = self._queue.get()
            taken = 1
            # Collecting rows for a short while makes one transaction serve many requests under load.
            deadline = time.monotonic() + self._batch_window_s
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, AuditRecord):
                    batch.append(item)
                if stop or len(batch) >= 500:
                    break
                try:
                    remaining = deadline - time.monotonic()
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                    taken += 1
                except queue.Empty:
                    break
            try:
                if batch:
                    self._insert(batch)
            except Exception:  # the log must never take the server down; the loss is counted
                logger.exception("audit: could not write %d rows to %s", len(batch), self.path)
                self._drop(len(batch))
            finally:
                for _ in range(taken):
                    self._queue.task_done()

    def _insert(self, batch: list[AuditRecord]) -> None:
        rows = [self._row(r) for r in batch]
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(_INSERT, rows)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def rows(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest rows, newest first (for operators and tests).

        Args:
            limit: Most rows returned.

        Returns:
            One dict per row, by column name.
        """
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            cursor = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM requests ORDER BY created_at DESC LIMIT ?", (limit,)
            )
            return [dict(zip(_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
        finally:
            conn.close()

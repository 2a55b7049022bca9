"""The SQLite store: runs, conversations, messages, scores and the response cache."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from nacre._version import __version__
from nacre.conversation import Conversation, Message, canonical_json
from nacre.errors import RunBusyError, StoreError, UnknownRunError
from nacre.models._types import Completion, Usage
from nacre.store._owner import current_owner, owner_alive
from nacre.store._records import ConversationRecord, RunRecord, RunStatus, ScoreRecord
from nacre.store._schema import prepare, transaction

DEFAULT_DB_ENV = "NACRE_DB"


def default_path() -> Path:
    """The store used when none is given: ``$NACRE_DB``, else ``~/.local/share/nacre/nacre.db``."""
    env = os.environ.get(DEFAULT_DB_ENV)
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "nacre" / "nacre.db"


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _check_not_busy(run_id: str, status: str, owner: str | None) -> None:
    if status == "running" and owner != current_owner() and owner_alive(owner):
        pid = str(owner).rpartition(":")[2]
        raise RunBusyError(f"run {run_id} is being run right now by process {pid}: wait for it, or stop it first")


class Store:
    """A nacre store in one SQLite file (WAL mode).

    Every write is one transaction, so a process killed at any point leaves whole rows only; a run that was
    interrupted (stopped by the user, or its process gone) reads as ``interrupted`` and can be resumed:
    :meth:`completed_items` says what is already done.
    The store is safe to share between threads and between processes (SQLite locking, 10 s busy timeout).

    Args:
        path: The database file; parent folders are created. ``":memory:"`` for a throwaway store.

    Raises:
        StoreError: If the file cannot be opened or is not a nacre store.
        SchemaVersionError: If it was written by an incompatible nacre.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for {self.path}: {exc.strerror}") from None
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from None
        self._lock = threading.RLock()
        try:
            self.schema_version = prepare(self._conn, self.path)
            self._conn.execute("PRAGMA foreign_keys = ON")
            # WAL lets readers work while a run writes; NORMAL sync is crash-safe for process crashes in WAL.
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"cannot use store {self.path}: {exc}") from None
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode (``wal`` for file stores)."""
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    # Runs ------------------------------------------------------------------------------------------------

    def start_run(self, kind: str, config: Mapping[str, Any]) -> RunRecord:
        """Create a run in status ``running`` with its effective configuration."""
        now = time.time()
        run_id = _new_run_id()
        with self._lock, transaction(self._conn):
            self._conn.execute(
                "INSERT INTO runs (id, kind, status, config, nacre_version, created_at, updated_at, owner)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                (run_id, kind, canonical_json(dict(config)), __version__, now, now, current_owner()),
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """Return a run; one marked ``running`` whose process on this host is gone reads as ``interrupted``.

        Raises:
            UnknownRunError: If there is no run with that id.
        """
        with self._lock:
            row = self._conn.execute(
                "SELECT id, kind, status, config, nacre_version, created_at, updated_at, summary, owner"
                " FROM runs WHERE id = ?",
                (run_id,),
            ).fetchone()
        if row is None:
            raise UnknownRunError(f"no run {run_id!r} in {self.path} (see `nacre runs`)")
        status = row[2]
        if status == "running" and owner_alive(row[8]) is False:
            status = "interrupted"
        return RunRecord(
            id=row[0],
            kind=row[1],
            status=status,
            config=json.loads(row[3]),
            nacre_version=row[4],
            created_at=row[5],
            updated_at=row[6],
            summary=json.loads(row[7]) if row[7] is not None else None,
            owner=row[8],
        )

    def list_runs(self, kind: str | None = None) -> list[RunRecord]:
        """All runs (optionally of one kind), newest first."""
        with self._lock:
            ids = [
                r[0]
                for r in self._conn.execute(
                    "SELECT id FROM runs WHERE (? IS NULL OR kind = ?) ORDER BY created_at DESC, id DESC",
                    (kind, kind),
                )
            ]
        return [self.get_run(i) for i in ids]

    def finish_run(
        self, run_id: str, *, status: RunStatus = "completed", summary: Mapping[str, Any] | None = None
    ) -> None:
        """Mark a run completed (or failed) and store its summary."""
        self._set_run_status(run_id, status, summary)

    def check_resumable(self, run_id: str) -> RunRecord:
        """Return the run if this process could resume it now (checked again, atomically, by :meth:`resume_run`).

        Raises:
            UnknownRunError: If there is no such run.
            RunBusyError: If another live process on this host is running it now.
        """
        run = self.get_run(run_id)
        _check_not_busy(run_id, run.status, run.owner)
        return run

    def interrupt_run(self, run_id: str) -> None:
        """Mark a run ``interrupted`` (stopped before it finished; resumable)."""
        self._set_run_status(run_id, "interrupted", None)

    def resume_run(self, run_id: str) -> RunRecord:
        """Mark a run ``running`` again, owned by this process, and return it; its completed items are kept.

        Raises:
            UnknownRunError: If there is no such run.
            RunBusyError: If another live process on this host is running it now.
        """
        me = current_owner()
        with self._lock, transaction(self._conn):
            row = self._conn.execute("SELECT status, owner FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UnknownRunError(f"no run {run_id!r} in {self.path} (see `nacre runs`)")
            _check_not_busy(run_id, row[0], row[1])
            self._conn.execute(
                "UPDATE runs SET status = 'running', updated_at = ?, owner = ? WHERE id = ?", (time.time(), me, run_id)
            )
        return self.get_run(run_id)

    def _set_run_status(self, run_id: str, status: RunStatus, summary: Mapping[str, Any] | None) -> None:
        with self._lock, transaction(self._conn):
            cur = self._conn.execute(
                "UPDATE runs SET status = ?, updated_at = ?, summary = COALESCE(?, summary) WHERE id = ?",
                (status, time.time(), canonical_json(dict(summary)) if summary is not None else None, run_id),
            )
            if cur.rowcount == 0:
                raise UnknownRunError(f"no run {run_id!r} in {self.path} (see `nacre runs`)")

    # Conversations ---------------------------------------------------------------------------------------

    def record_conversation(
        self,
        run_id: str,
        item_key: str,
        conversation: Conversation,
        *,
        metadata: Mapping[str, Any] | None = None,
        message_meta: Sequence[Mapping[str, Any]] | None = None,
        complete: bool = True,
        scores: Sequence[ScoreRecord] = (),
    ) -> int:
        """Store a conversation and its messages in one transaction; replaces an earlier one of the same item.

        Args:
            run_id: The run.
            item_key: The dataset item or goal; unique within the run.
            conversation: The messages.
            metadata: Free-form JSON fields.
            message_meta: Per-message metadata, aligned with the messages (missing entries are empty).
            complete: False for a conversation that will get more turns (:meth:`append_messages`).
            scores: Judges' scores of it, stored in the same transaction (their ``conversation_id`` is ignored).

        Returns:
            The conversation's row id.
        """
        now = time.time()
        meta = list(message_meta or [])
        with self._lock, transaction(self._conn):
            self._conn.execute("DELETE FROM conversations WHERE run_id = ? AND item_key = ?", (run_id, item_key))
            cur = self._conn.execute(
                "INSERT INTO conversations (run_id, item_key, status, metadata, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    item_key,
                    "complete" if complete else "open",
                    canonical_json(dict(metadata or {})),
                    now,
                    now,
                ),
            )
            conversation_id = int(cur.lastrowid or 0)
            self._insert_messages(conversation_id, 0, conversation.messages, meta)
            for score in scores:
                self._insert_score(score.model_copy(update={"conversation_id": conversation_id}))
        return conversation_id

    def append_messages(
        self,
        conversation_id: int,
        messages: Sequence[Message],
        *,
        message_meta: Sequence[Mapping[str, Any]] | None = None,
        complete: bool = False,
        scores: Sequence[ScoreRecord] = (),
    ) -> None:
        """Add turns (and judges' scores of them) to an open conversation in one transaction."""
        with self._lock, transaction(self._conn):
            row = self._conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            self._insert_messages(conversation_id, int(row[0]), messages, list(message_meta or []))
            self._conn.execute(
                "UPDATE conversations SET status = ?, updated_at = ? WHERE id = ?",
                ("complete" if complete else "open", time.time(), conversation_id),
            )
            for score in scores:
                self._insert_score(score.model_copy(update={"conversation_id": conversation_id}))

    def complete_conversation(
        self, conversation_id: int, *, metadata: Mapping[str, Any], scores: Sequence[ScoreRecord] = ()
    ) -> None:
        """Mark an open conversation complete, replacing its metadata and adding scores, in one transaction.

        Raises:
            StoreError: If there is no such conversation.
        """
        with self._lock, transaction(self._conn):
            cur = self._conn.execute(
                "UPDATE conversations SET status = 'complete', metadata = ?, updated_at = ? WHERE id = ?",
                (canonical_json(dict(metadata)), time.time(), conversation_id),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no conversation {conversation_id} in {self.path}")
            for score in scores:
                self._insert_score(score.model_copy(update={"conversation_id": conversation_id}))

    def _insert_messages(
        self, conversation_id: int, first: int, messages: Sequence[Message], meta: Sequence[Mapping[str, Any]]
    ) -> None:
        self._conn.executemany(
            "INSERT INTO messages (conversation_id, position, message, meta) VALUES (?, ?, ?, ?)",
            [
                (
                    conversation_id,
                    first + i,
                    canonical_json(m.to_openai()),
                    canonical_json(dict(meta[i]) if i < len(meta) else {}),
                )
                for i, m in enumerate(messages)
            ],
        )

    def completed_items(self, run_id: str) -> set[str]:
        """Item keys whose conversations are complete: what a resumed run skips."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT item_key FROM conversations WHERE run_id = ? AND status = 'complete'", (run_id,)
            ).fetchall()
        return {r[0] for r in rows}

    def item_counts(self) -> dict[str, tuple[int, int]]:
        """Per run id: (complete conversations, all conversations)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT run_id, SUM(status = 'complete'), COUNT(*) FROM conversations GROUP BY run_id"
            ).fetchall()
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def conversations(self, run_id: str) -> Iterator[ConversationRecord]:
        """The run's conversations in insertion order, with their messages."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, item_key, status, metadata FROM conversations WHERE run_id = ? ORDER BY id",
                (run_id,),
            ).fetchall()
        for cid, key, status, metadata in rows:
            with self._lock:
                msgs = self._conn.execute(
                    "SELECT message, meta FROM messages WHERE conversation_id = ? ORDER BY position", (cid,)
                ).fetchall()
            yield ConversationRecord(
                id=cid,
                run_id=run_id,
                item_key=key,
                status=status,
                metadata=json.loads(metadata),
                messages=[json.loads(m) for m, _ in msgs],
                message_meta=[json.loads(x) for _, x in msgs],
            )

    # Scores ----------------------------------------------------------------------------------------------

    def add_score(self, score: ScoreRecord) -> int:
        """Store a judge's score; returns its row id."""
        with self._lock, transaction(self._conn):
            return self._insert_score(score)

    def _insert_score(self, score: ScoreRecord) -> int:
        cur = self._conn.execute(
            "INSERT INTO scores (conversation_id, judge_id, value, label, explanation, raw, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                score.conversation_id,
                score.judge_id,
                score.value,
                score.label,
                score.explanation,
                score.raw,
                time.time(),
            ),
        )
        return int(cur.lastrowid or 0)

    def scores(self, conversation_id: int) -> list[ScoreRecord]:
        """The scores of one conversation, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT conversation_id, judge_id, value, label, explanation, raw FROM scores"
                " WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return [
            ScoreRecord(conversation_id=r[0], judge_id=r[1], value=r[2], label=r[3], explanation=r[4], raw=r[5])
            for r in rows
        ]

    # Response cache (implements nacre.models.ResponseCache) -------------------------------------------------

    def cache_get(self, key: str) -> Completion | None:
        """Return the cached completion for ``key``, if any."""
        with self._lock:
            row = self._conn.execute("SELECT completion FROM response_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        data["usage"] = Usage(**data["usage"])
        return Completion(**data)

    def cache_put(self, key: str, completion: Completion) -> None:
        """Store a completion under ``key`` (the first one stored wins)."""
        with self._lock, transaction(self._conn):
            self._conn.execute(
                "INSERT OR IGNORE INTO response_cache (key, model_id, completion, created_at) VALUES (?, ?, ?, ?)",
                (key, completion.model_id, canonical_json(dataclasses.asdict(completion)), time.time()),
            )

    def cache_size(self) -> int:
        """How many completions are cached."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM response_cache").fetchone()[0])

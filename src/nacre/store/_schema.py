"""The SQLite schema, its version, and migrations between versions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from nacre.errors import SchemaVersionError, StoreError

SCHEMA_VERSION = 2

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
        config TEXT NOT NULL,
        nacre_version TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        summary TEXT,
        owner TEXT
    )""",
    """CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        item_key TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'complete')),
        metadata TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (run_id, item_key)
    )""",
    """CREATE TABLE messages (
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        message TEXT NOT NULL,
        meta TEXT NOT NULL,
        PRIMARY KEY (conversation_id, position)
    )""",
    """CREATE TABLE scores (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        judge_id TEXT NOT NULL,
        value REAL,
        label TEXT,
        explanation TEXT NOT NULL,
        raw TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX scores_by_conversation ON scores (conversation_id)",
    """CREATE TABLE response_cache (
        key TEXT PRIMARY KEY,
        model_id TEXT NOT NULL,
        completion TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
)

# MIGRATIONS[n] upgrades a version-n database to version n + 1. Each list runs in one transaction, with foreign
# keys off (SQLite cannot change a CHECK constraint in place: the table is rebuilt, and dropping the old one must
# not cascade into its conversations).
MIGRATIONS: Mapping[int, Sequence[str]] = {
    # v2: runs can be 'interrupted' and record the process that runs them (host:pid). The table is spelled out
    # again rather than taken from SCHEMA on purpose: a migration must keep building the v2 table when a later
    # version changes SCHEMA.
    1: [
        """CREATE TABLE runs_v2 (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
            config TEXT NOT NULL,
            nacre_version TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            summary TEXT,
            owner TEXT
        )""",
        "INSERT INTO runs_v2 (id, kind, status, config, nacre_version, created_at, updated_at, summary)"
        " SELECT id, kind, status, config, nacre_version, created_at, updated_at, summary FROM runs",
        "DROP TABLE runs",
        "ALTER TABLE runs_v2 RENAME TO runs",
    ],
}


def prepare(conn: sqlite3.Connection, path: str, migrations: Mapping[int, Sequence[str]] | None = None) -> int:
    """Create the schema in a new database, or check and migrate an existing one.

    Args:
        conn: An open connection in autocommit mode.
        path: The file name, for messages.
        migrations: Migration steps by source version (tests inject their own).

    Returns:
        The schema version now in the file.

    Raises:
        SchemaVersionError: If the file is newer than this nacre, or older with no migration path.
        StoreError: If the file is not a nacre store.
    """
    steps = MIGRATIONS if migrations is None else migrations
    target = max([SCHEMA_VERSION, *(v + 1 for v in steps)])
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a SQLite database ({exc})") from None
    if version == 0:
        if tables:
            raise StoreError(f"{path} is a SQLite file but not a nacre store (tables: {', '.join(sorted(tables))})")
        with transaction(conn):
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        version = SCHEMA_VERSION
    if version > target:
        raise SchemaVersionError(
            f"{path} uses store schema v{version}, but this nacre reads up to v{target}: upgrade nacre"
        )
    if version < target:
        foreign_keys = int(conn.execute("PRAGMA foreign_keys").fetchone()[0])
        conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before each one
        try:
            while version < target:
                if version not in steps:
                    raise SchemaVersionError(f"{path} uses store schema v{version}, which this nacre cannot migrate")
                with transaction(conn):
                    for statement in steps[version]:
                        conn.execute(statement)
                    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"{path}: migrating to v{version + 1} would break {len(broken)} references")
                    conn.execute(f"PRAGMA user_version = {version + 1}")
                version += 1
        finally:
            conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    return version


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception, so no write is ever half done."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

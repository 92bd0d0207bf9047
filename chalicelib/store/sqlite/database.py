"""The SQLite database every SQLite adapter shares: one file, WAL mode, safe across threads
and processes. Its schema (all tables), one connection per thread, and the JSON-document
reads and writes the aggregates have in common."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_status_created ON videos (status, created_at, id);
CREATE INDEX IF NOT EXISTS videos_created ON videos (created_at, id);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_workspace ON tokens (workspace, created_at, id);
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_expiry ON login_failures (expires_at);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    pending INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_outbox ON events (created_at, id) WHERE pending = 1;
DROP INDEX IF EXISTS events_pending;
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_workspace ON webhooks (workspace, created_at, id);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_hook ON deliveries (webhook_id, created_at);
CREATE TABLE IF NOT EXISTS leases (
    pool TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (pool, holder)
);
CREATE TABLE IF NOT EXISTS lease_starts (
    pool TEXT NOT NULL,
    holder TEXT NOT NULL,
    acquired_at REAL NOT NULL,
    PRIMARY KEY (pool, holder)
);
"""


@dependency_errors("database", sqlite3.Error)
class SqliteDatabase:
    """Base of the SQLite adapters: any of them alone, or all of them together
    (`SqliteVideoStore`), opens the file and brings its schema up to date."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)  # idempotent; executescript commits itself

    # One connection per thread: sqlite3 connections must not be shared across threads.
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so read-check-write is atomic."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- documents: each table keeps the item as JSON in `doc` ------------------------------
    def _doc(self, sql: str, args: tuple[Any, ...]) -> Item | None:
        """The item of the one row `sql` selects (`SELECT doc ...`), or None."""
        row = self._conn().execute(sql, args).fetchone()
        return json.loads(row[0]) if row else None

    def _docs(self, sql: str, args: tuple[Any, ...]) -> list[Item]:
        return [json.loads(r[0]) for r in self._conn().execute(sql, args).fetchall()]

    # Tokens and webhooks: rows of a workspace, listed newest first.
    def _insert_owned(self, table: str, item: Item) -> None:
        """Insert a workspace's record (`id`, `workspace`, `createdAt`); fails if the id exists."""
        with self._tx() as conn:
            conn.execute(
                f"INSERT INTO {table} (id, workspace, created_at, doc) "  # noqa: S608
                "VALUES (?, ?, ?, ?)",
                (item["id"], item["workspace"], item["createdAt"], json.dumps(item)),
            )

    def _owned_by(self, table: str, workspace: str) -> list[Item]:
        return self._docs(
            f"SELECT doc FROM {table} WHERE workspace = ? "  # noqa: S608
            "ORDER BY created_at DESC, id DESC",
            (workspace,),
        )

    def _merge(self, table: str, row_id: str, fields: Mapping[str, Any]) -> bool:
        """Set `fields` on the document of an existing row; False when the row is gone."""
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT doc FROM {table} WHERE id = ?",  # noqa: S608 - a table name of ours
                (row_id,),
            ).fetchone()
            if row is None:
                return False
            doc = json.dumps({**json.loads(row[0]), **fields})
            conn.execute(f"UPDATE {table} SET doc = ? WHERE id = ?", (doc, row_id))  # noqa: S608
        return True

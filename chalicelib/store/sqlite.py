"""SQLite adapter: the embedded default. One file, WAL mode, safe across threads and processes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.domain import utc_now
from chalicelib.errors import TransitionRejected, dependency_errors
from chalicelib.store.base import Item, Page, VideoStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_status_created ON videos (status, created_at, id);
CREATE INDEX IF NOT EXISTS videos_created ON videos (created_at, id);
CREATE TABLE IF NOT EXISTS leases (
    pool TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (pool, holder)
);
"""


@dependency_errors("database", sqlite3.Error)
class SqliteVideoStore(VideoStore):
    backend_name = "sqlite"

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

    def ping(self) -> None:
        self._conn().execute("SELECT 1 FROM videos LIMIT 1").fetchall()

    def create(self, item: Item) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO videos (id, status, created_at, doc) VALUES (?, ?, ?, ?)",
                (item["id"], item["status"], item["createdAt"], json.dumps(item)),
            )

    def get(self, video_id: str) -> Item | None:
        row = self._conn().execute("SELECT doc FROM videos WHERE id = ?", (video_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, status: str | None, limit: int, cursor: Mapping[str, Any] | None) -> Page:
        where, args = [], []  # type: tuple[list[str], list[Any]]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if cursor is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args += [cursor["createdAt"], cursor["createdAt"], cursor["id"]]
        sql = "SELECT doc FROM videos"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = self._conn().execute(sql, (*args, limit + 1)).fetchall()
        items = [json.loads(r[0]) for r in rows[:limit]]
        more = len(rows) > limit
        last = items[-1] if items else None
        next_cursor = {"createdAt": last["createdAt"], "id": last["id"]} if more and last else None
        return Page(items, next_cursor)

    def transition(
        self,
        video_id: str,
        allowed_from: Iterable[str],
        to_status: str,
        set_fields: Mapping[str, Any] | None = None,
        remove_fields: Iterable[str] = (),
        only_if: Mapping[str, str] | None = None,
    ) -> Item:
        allowed = set(allowed_from)
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM videos WHERE id = ?", (video_id,)).fetchone()
            item = json.loads(row[0]) if row else None
            if (
                item is None
                or item["status"] not in allowed
                or any(item.get(k) != v for k, v in (only_if or {}).items())
            ):
                raise TransitionRejected(video_id, item["status"] if item else None)
            for name in remove_fields:
                item.pop(name, None)
            item.update(set_fields or {})
            item["status"] = to_status
            item["updatedAt"] = utc_now()
            conn.execute(
                "UPDATE videos SET status = ?, doc = ? WHERE id = ?",
                (to_status, json.dumps(item), video_id),
            )
        return item

    def update_fields(
        self, video_id: str, fields: Mapping[str, Any], only_if_status: Iterable[str]
    ) -> bool:
        allowed = set(only_if_status)
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM videos WHERE id = ?", (video_id,)).fetchone()
            if row is None:
                return False
            item = json.loads(row[0])
            if item["status"] not in allowed:
                return False
            item.update(fields)
            item["updatedAt"] = utc_now()
            conn.execute("UPDATE videos SET doc = ? WHERE id = ?", (json.dumps(item), video_id))
        return True

    def acquire_lease(self, pool: str, holder: str, expires_at: float, now: float) -> int:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO leases (pool, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (pool, holder) DO UPDATE SET expires_at = excluded.expires_at",
                (pool, holder, expires_at),
            )
            return self._count(conn, pool, now)

    def release_lease(self, pool: str, holder: str, now: float) -> int:
        with self._tx() as conn:
            conn.execute("DELETE FROM leases WHERE pool = ? AND holder = ?", (pool, holder))
            # Expired leases of crashed executions are dropped here too.
            conn.execute("DELETE FROM leases WHERE pool = ? AND expires_at <= ?", (pool, now))
            return self._count(conn, pool, now)

    def live_leases(self, pool: str, now: float) -> int:
        return self._count(self._conn(), pool, now)

    def reset_leases(self, pool: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM leases WHERE pool = ?", (pool,))

    @staticmethod
    def _count(conn: sqlite3.Connection, pool: str, now: float) -> int:
        row = conn.execute(
            "SELECT COUNT(*) FROM leases WHERE pool = ? AND expires_at > ?", (pool, now)
        ).fetchone()
        return int(row[0])

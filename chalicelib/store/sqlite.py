"""SQLite adapter: the embedded default. One file, WAL mode, safe across threads and processes."""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.domain import DEFAULT_WORKSPACE, Item, utc_now
from chalicelib.domain.events import SEQUENCE_FIELD, for_change
from chalicelib.errors import TransitionRejected, dependency_errors
from chalicelib.store.base import Page, VideoStore

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
        self.migrate()

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

    def migrate(self) -> int:
        """Add the `workspace` column (+ its indexes) and give workspace-less items `default`."""
        conn = self._conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(videos)")}
        with self._tx() as tx:
            if "workspace" not in columns:
                tx.execute(
                    "ALTER TABLE videos ADD COLUMN workspace TEXT NOT NULL "
                    f"DEFAULT '{DEFAULT_WORKSPACE}'"
                )
            tx.execute(
                "CREATE INDEX IF NOT EXISTS videos_ws_status_created "
                "ON videos (workspace, status, created_at, id)"
            )
            tx.execute(
                "CREATE INDEX IF NOT EXISTS videos_ws_created ON videos (workspace, created_at, id)"
            )
            changed = tx.execute(
                "UPDATE videos SET doc = json_set(doc, '$.workspace', workspace) "
                "WHERE json_extract(doc, '$.workspace') IS NULL"
            ).rowcount
        return int(changed)

    @staticmethod
    def _emit(conn: sqlite3.Connection, item: Item) -> str:
        """Write the events of `item`'s new status in the caller's transaction; bumps the
        item's sequence and returns the item's JSON (serialized once, for both rows)."""
        first = int(item.get(SEQUENCE_FIELD, 0)) + 1
        events = for_change(item, first)
        item[SEQUENCE_FIELD] = first + len(events) - 1
        doc = json.dumps(item)
        rows = []
        for evt in events:
            if evt["data"] is item:  # the common case: the event carries the item as written
                head = json.dumps({k: v for k, v in evt.items() if k != "data"})
                body = f'{head[:-1]}, "data": {doc}}}'
            else:
                body = json.dumps(evt)
            rows.append((evt["id"], evt["createdAt"], body))
        if rows:
            conn.executemany(
                "INSERT INTO events (id, created_at, pending, doc) VALUES (?, ?, 1, ?)", rows
            )
        return doc

    def create(self, item: Item) -> None:
        item = {**item, "workspace": item.get("workspace", DEFAULT_WORKSPACE)}
        with self._tx() as conn:
            doc = self._emit(conn, item)
            conn.execute(
                "INSERT INTO videos (id, workspace, status, created_at, doc) "
                "VALUES (?, ?, ?, ?, ?)",
                (item["id"], item["workspace"], item["status"], item["createdAt"], doc),
            )

    def get(self, video_id: str) -> Item | None:
        row = self._conn().execute("SELECT doc FROM videos WHERE id = ?", (video_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def list(
        self,
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
        workspace: str | None = None,
    ) -> Page:
        where, args = [], []  # type: tuple[list[str], list[Any]]
        if workspace is not None:
            where.append("workspace = ?")
            args.append(workspace)
        elif status is None:
            raise ValueError("listing across workspaces needs a status")
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
            doc = self._emit(conn, item)
            conn.execute(
                "UPDATE videos SET status = ?, doc = ? WHERE id = ?", (to_status, doc, video_id)
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

    def count_active(self, workspace: str, statuses: Iterable[str], cap: int) -> int:
        wanted = sorted(set(statuses))
        marks = ", ".join("?" for _ in wanted)
        row = self._conn().execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM videos WHERE workspace = ? "  # noqa: S608
            f"AND status IN ({marks}) LIMIT ?)",
            (workspace, *wanted, cap),
        ).fetchone()
        return int(row[0])

    # --- tokens ----------------------------------------------------------------------------
    def put_token(self, token: Item) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO tokens (id, workspace, created_at, doc) VALUES (?, ?, ?, ?)",
                (token["id"], token["workspace"], token["createdAt"], json.dumps(token)),
            )

    def get_token(self, token_id: str) -> Item | None:
        row = self._conn().execute("SELECT doc FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def list_tokens(self, workspace: str) -> builtins.list[Item]:
        rows = self._conn().execute(
            "SELECT doc FROM tokens WHERE workspace = ? ORDER BY created_at DESC, id DESC",
            (workspace,),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def update_token(self, token_id: str, fields: Mapping[str, Any]) -> bool:
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                return False
            token = {**json.loads(row[0]), **fields}
            conn.execute("UPDATE tokens SET doc = ? WHERE id = ?", (json.dumps(token), token_id))
        return True

    # --- events ----------------------------------------------------------------------------
    def outbox(self, limit: int) -> builtins.list[Item]:
        rows = self._conn().execute(
            "SELECT doc FROM events WHERE pending = 1 ORDER BY created_at, id LIMIT ?", (limit,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def get_event(self, event_id: str) -> Item | None:
        row = self._conn().execute("SELECT doc FROM events WHERE id = ?", (event_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def mark_dispatched(self, event_id: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE events SET pending = 0 WHERE id = ?", (event_id,))

    # --- webhooks and deliveries ------------------------------------------------------------
    def put_webhook(self, hook: Item) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO webhooks (id, workspace, created_at, doc) VALUES (?, ?, ?, ?)",
                (hook["id"], hook["workspace"], hook["createdAt"], json.dumps(hook)),
            )

    def get_webhook(self, hook_id: str) -> Item | None:
        row = self._conn().execute("SELECT doc FROM webhooks WHERE id = ?", (hook_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def list_webhooks(self, workspace: str) -> builtins.list[Item]:
        rows = self._conn().execute(
            "SELECT doc FROM webhooks WHERE workspace = ? ORDER BY created_at DESC, id DESC",
            (workspace,),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def update_webhook(self, hook_id: str, fields: Mapping[str, Any]) -> bool:
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM webhooks WHERE id = ?", (hook_id,)).fetchone()
            if row is None:
                return False
            hook = {**json.loads(row[0]), **fields}
            conn.execute("UPDATE webhooks SET doc = ? WHERE id = ?", (json.dumps(hook), hook_id))
        return True

    def delete_webhook(self, hook_id: str) -> bool:
        with self._tx() as conn:
            return conn.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,)).rowcount > 0

    def put_delivery(self, delivery: Item) -> bool:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO deliveries "
                "(id, webhook_id, status, next_attempt_at, created_at, doc) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    delivery["id"],
                    delivery["webhookId"],
                    delivery["status"],
                    delivery["nextAttemptAt"],
                    delivery["createdAt"],
                    json.dumps(delivery),
                ),
            )
            return cur.rowcount > 0

    def due_deliveries(self, now: str, limit: int) -> builtins.list[Item]:
        rows = self._conn().execute(
            "SELECT doc FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def update_delivery(
        self, delivery_id: str, fields: Mapping[str, Any], only_if_attempts: int | None = None
    ) -> bool:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT doc FROM deliveries WHERE id = ?", (delivery_id,)
            ).fetchone()
            if row is None:
                return False
            current = json.loads(row[0])
            if only_if_attempts is not None and current.get("attempts", 0) != only_if_attempts:
                return False
            new = {**current, **fields}
            conn.execute(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, doc = ? WHERE id = ?",
                (new["status"], new["nextAttemptAt"], json.dumps(new), delivery_id),
            )
        return True

    def list_deliveries(self, hook_id: str, limit: int) -> builtins.list[Item]:
        rows = self._conn().execute(
            "SELECT doc FROM deliveries WHERE webhook_id = ? ORDER BY created_at DESC LIMIT ?",
            (hook_id, limit),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # --- leases ----------------------------------------------------------------------------
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

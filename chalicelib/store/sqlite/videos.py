"""SQLite adapter of `Videos`: the `videos` table; each change writes its events (outbox).
Titles are searched through the FTS5 table `video_titles` (the title's `search_words`, by
video id), written in the same transaction as the video."""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.domain import DEFAULT_WORKSPACE, Item, utc_now
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Page, Videos, check_transition, search_words
from chalicelib.store.sqlite.database import SqliteDatabase
from chalicelib.store.sqlite.outbox import append_events


@dependency_errors("database", sqlite3.Error)
class SqliteVideos(SqliteDatabase, Videos):
    backend_name = "sqlite"

    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        self.migrate()

    def ping(self) -> None:
        self._conn().execute("SELECT 1 FROM videos LIMIT 1").fetchall()

    def migrate(self) -> int:
        """Add the `workspace` column (+ its indexes) and give workspace-less items `default`;
        create the title index and fill it with the titles already there."""
        conn = self._conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(videos)")}
        indexed = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'video_titles'"
        ).fetchone()
        with self._tx() as tx:
            if not indexed:
                tx.execute(
                    "CREATE VIRTUAL TABLE video_titles USING fts5(words, video_id UNINDEXED, "
                    "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
                )
                rows = tx.execute("SELECT id, json_extract(doc, '$.title') FROM videos")
                for video_id, title in rows.fetchall():
                    _index_title(tx, video_id, title)
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

    def create(self, item: Item) -> None:
        item = {**item, "workspace": item.get("workspace", DEFAULT_WORKSPACE)}
        with self._tx() as conn:
            doc = append_events(conn, item)
            conn.execute(
                "INSERT INTO videos (id, workspace, status, created_at, doc) "
                "VALUES (?, ?, ?, ?, ?)",
                (item["id"], item["workspace"], item["status"], item["createdAt"], doc),
            )
            _index_title(conn, item["id"], item.get("title"))

    def get(self, video_id: str) -> Item | None:
        return self._doc("SELECT doc FROM videos WHERE id = ?", (video_id,))

    def list(
        self,
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
        workspace: str | None = None,
    ) -> Page:
        if workspace is None and status is None:
            raise ValueError("listing across workspaces needs a status")
        return self._page("SELECT doc FROM videos", [], [], workspace, status, limit, cursor)

    def search(
        self,
        workspace: str,
        words: Sequence[str],
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
    ) -> Page:
        # Each word a quoted prefix query ("word"*), all of them required.
        match = " AND ".join('"{}"*'.format(w.replace('"', '""')) for w in words)
        return self._page(
            "SELECT videos.doc FROM video_titles JOIN videos ON videos.id = video_titles.video_id",
            ["video_titles MATCH ?"],
            [match],
            workspace,
            status,
            limit,
            cursor,
        )

    def _page(
        self,
        select: str,
        where: builtins.list[str],
        args: builtins.list[Any],
        workspace: str | None,
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
    ) -> Page:
        """One page, newest first, of `select` narrowed by `where`, workspace, status, cursor."""
        for column, value in (("workspace", workspace), ("status", status)):
            if value is not None:
                where.append(f"videos.{column} = ?")
                args.append(value)
        if cursor is not None:
            where.append("(videos.created_at < ? OR (videos.created_at = ? AND videos.id < ?))")
            args += [cursor["createdAt"], cursor["createdAt"], cursor["id"]]
        sql = select + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY videos.created_at DESC, videos.id DESC LIMIT ?"
        rows = self._docs(sql, (*args, limit + 1))
        items = rows[:limit]
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
        only_if: Mapping[str, str | None] | None = None,
    ) -> Item:
        allowed = set(allowed_from)
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM videos WHERE id = ?", (video_id,)).fetchone()
            item = check_transition(video_id, json.loads(row[0]) if row else None, allowed, only_if)
            for name in remove_fields:
                item.pop(name, None)
            item.update(set_fields or {})
            item["status"] = to_status
            item["updatedAt"] = utc_now()
            doc = append_events(conn, item)
            conn.execute(
                "UPDATE videos SET status = ?, doc = ? WHERE id = ?", (to_status, doc, video_id)
            )
            if "title" in (set_fields or {}):
                _index_title(conn, video_id, item["title"], replace=True)
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
            if "title" in fields:
                _index_title(conn, video_id, item["title"], replace=True)
        return True

    def count_active(self, workspace: str, statuses: Iterable[str], cap: int) -> int:
        wanted = sorted(set(statuses))
        marks = ", ".join("?" for _ in wanted)
        row = (
            self._conn()
            .execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM videos WHERE workspace = ? "  # noqa: S608
                f"AND status IN ({marks}) LIMIT ?)",
                (workspace, *wanted, cap),
            )
            .fetchone()
        )
        return int(row[0])


def _index_title(
    conn: sqlite3.Connection, video_id: str, title: Any, *, replace: bool = False
) -> None:
    """Write the video's row of the title index, in the caller's transaction (`replace`: a
    changed title; that delete reads the whole index, the video id being unindexed)."""
    if replace:
        conn.execute("DELETE FROM video_titles WHERE video_id = ?", (video_id,))
    words = " ".join(search_words(str(title or "")))
    conn.execute("INSERT INTO video_titles (words, video_id) VALUES (?, ?)", (words, video_id))

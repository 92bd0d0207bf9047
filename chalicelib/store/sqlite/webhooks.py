"""SQLite adapter of `Webhooks`: the `webhooks` table (by workspace) and `deliveries` (by
webhook, and pending ones by due time)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping
from typing import Any

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Webhooks
from chalicelib.store.sqlite.database import SqliteDatabase


@dependency_errors("database", sqlite3.Error)
class SqliteWebhooks(SqliteDatabase, Webhooks):
    def put_webhook(self, hook: Item) -> None:
        self._insert_owned("webhooks", hook)

    def get_webhook(self, hook_id: str) -> Item | None:
        return self._doc("SELECT doc FROM webhooks WHERE id = ?", (hook_id,))

    def list_webhooks(self, workspace: str) -> list[Item]:
        return self._owned_by("webhooks", workspace)

    def update_webhook(self, hook_id: str, fields: Mapping[str, Any]) -> bool:
        return self._merge("webhooks", hook_id, fields)

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

    def due_deliveries(self, now: str, limit: int, exclude: Collection[str] = ()) -> list[Item]:
        return self._docs(
            "SELECT doc FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
            "AND webhook_id NOT IN (SELECT value FROM json_each(?)) "
            "ORDER BY next_attempt_at LIMIT ?",
            (now, json.dumps(sorted(exclude)), limit),
        )

    def update_delivery(
        self, delivery_id: str, fields: Mapping[str, Any], only_if_attempts: int | None = None
    ) -> bool:
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
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

    def list_deliveries(self, hook_id: str, limit: int) -> list[Item]:
        return self._docs(
            "SELECT doc FROM deliveries WHERE webhook_id = ? ORDER BY created_at DESC LIMIT ?",
            (hook_id, limit),
        )

"""SQLite adapter of `Tokens`: the `tokens` table, listed by workspace, and the
`login_failures` counters."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Tokens
from chalicelib.store.sqlite.database import SqliteDatabase


@dependency_errors("database", sqlite3.Error)
class SqliteTokens(SqliteDatabase, Tokens):
    def put_token(self, token: Item) -> None:
        self._insert_owned("tokens", token)

    def get_token(self, token_id: str) -> Item | None:
        return self._doc("SELECT doc FROM tokens WHERE id = ?", (token_id,))

    def list_tokens(self, workspace: str) -> list[Item]:
        return self._owned_by("tokens", workspace)

    def update_token(self, token_id: str, fields: Mapping[str, Any]) -> bool:
        return self._merge("tokens", token_id, fields)

    def count_login_failure(self, key: str, expires_at: float) -> int:
        with self._tx() as conn:
            conn.execute("DELETE FROM login_failures WHERE expires_at < ?", (time.time(),))
            row = conn.execute(
                "INSERT INTO login_failures (key, count, expires_at) VALUES (?, 1, ?) "
                "ON CONFLICT (key) DO UPDATE SET count = count + 1 RETURNING count",
                (key, expires_at),
            ).fetchone()
        return int(row[0])

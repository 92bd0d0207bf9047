"""SQLite adapter of `Outbox`: the `events` table (`pending = 1` until fanned out), and the
writer the videos adapter calls inside its own transaction."""

from __future__ import annotations

import json
import sqlite3

from chalicelib.domain import Item
from chalicelib.domain.events import SEQUENCE_FIELD, for_change
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Outbox
from chalicelib.store.sqlite.database import SqliteDatabase


def append_events(conn: sqlite3.Connection, item: Item) -> str:
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


@dependency_errors("database", sqlite3.Error)
class SqliteOutbox(SqliteDatabase, Outbox):
    def outbox(self, limit: int) -> list[Item]:
        return self._docs(
            "SELECT doc FROM events WHERE pending = 1 ORDER BY created_at, id LIMIT ?", (limit,)
        )

    def get_event(self, event_id: str) -> Item | None:
        return self._doc("SELECT doc FROM events WHERE id = ?", (event_id,))

    def mark_dispatched(self, event_id: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE events SET pending = 0 WHERE id = ?", (event_id,))

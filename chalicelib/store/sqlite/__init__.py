"""SQLite adapters, the embedded default: one module per aggregate over one shared database
file (`database`). `SqliteVideoStore` is all of them on one file, as the factory builds it."""

from __future__ import annotations

from chalicelib.store.base import VideoStore
from chalicelib.store.sqlite.leases import SqliteLeases
from chalicelib.store.sqlite.outbox import SqliteOutbox
from chalicelib.store.sqlite.tokens import SqliteTokens
from chalicelib.store.sqlite.videos import SqliteVideos
from chalicelib.store.sqlite.webhooks import SqliteWebhooks


class SqliteVideoStore(
    SqliteVideos, SqliteTokens, SqliteOutbox, SqliteWebhooks, SqliteLeases, VideoStore
):
    """Every aggregate on one database file (one connection per thread, shared by all)."""


__all__ = [
    "SqliteLeases",
    "SqliteOutbox",
    "SqliteTokens",
    "SqliteVideoStore",
    "SqliteVideos",
    "SqliteWebhooks",
]

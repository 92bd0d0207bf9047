"""The metadata store: one port per aggregate (`base`), an SQLite and a DynamoDB adapter
(`sqlite/`, `dynamodb/`, one module per aggregate in each)."""

from chalicelib.store.base import Leases, Outbox, Page, Tokens, Videos, VideoStore, Webhooks

__all__ = ["Leases", "Outbox", "Page", "Tokens", "VideoStore", "Videos", "Webhooks"]

"""DynamoDB adapters: one module per aggregate over one shared table (`table`, which also
describes the key design). `DynamoVideoStore` is all of them on one table, as the factory
builds it."""

from __future__ import annotations

from chalicelib.store.base import VideoStore
from chalicelib.store.dynamodb.leases import DynamoLeases
from chalicelib.store.dynamodb.outbox import DynamoOutbox
from chalicelib.store.dynamodb.tokens import DynamoTokens
from chalicelib.store.dynamodb.videos import DynamoVideos
from chalicelib.store.dynamodb.webhooks import DynamoWebhooks


class DynamoVideoStore(
    DynamoVideos, DynamoTokens, DynamoOutbox, DynamoWebhooks, DynamoLeases, VideoStore
):
    """Every aggregate on one table (one client, shared by all)."""


__all__ = [
    "DynamoLeases",
    "DynamoOutbox",
    "DynamoTokens",
    "DynamoVideoStore",
    "DynamoVideos",
    "DynamoWebhooks",
]

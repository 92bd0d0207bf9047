"""The video table's shape, once, for both deploy paths: the CDK stack builds it (data.py) and
`make chalice-files` writes the `aws dynamodb create-table` input of the Chalice path from it.
Pure Python (no CDK import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARTITION_KEY = "id"
TTL_ATTRIBUTE = "ttl"  # dispatched outbox events expire
STREAM_VIEW = "NEW_IMAGE"  # the outbox: a new event wakes the webhook dispatcher


@dataclass(frozen=True)
class Index:
    """A global secondary index: string keys, every attribute projected."""

    name: str
    partition_key: str
    sort_key: str = "createdAt"


INDEXES = (
    Index("StatusIndex", "status"),
    Index("CreatedIndex", "entity"),
    # One workspace's videos of one status (wsStatus = "<workspace>#<status>").
    Index("WorkspaceStatusIndex", "wsStatus"),
)


def create_table_input(table_name: str) -> dict[str, Any]:
    """`aws dynamodb create-table --cli-input-json` for the table (TTL is a second call)."""
    attributes = [PARTITION_KEY]
    for index in INDEXES:
        attributes += [a for a in (index.partition_key, index.sort_key) if a not in attributes]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
        "SSESpecification": {"Enabled": True},
    }

"""DynamoDB adapter of `Outbox`: event items (`event#<id>`); pending ones form the
`CreatedIndex` partition `outbox#pending`, dispatched ones move out and expire (TTL)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Outbox
from chalicelib.store.dynamodb.table import CREATED_INDEX, DynamoTable, key

OUTBOX_PENDING = "outbox#pending"  # CreatedIndex partition of events not yet fanned out
OUTBOX_DONE = "outbox#done"
EVENT_TTL_SECONDS = 7 * 24 * 3600  # dispatched events stay this long for their deliveries


def event_puts(table: DynamoTable, events: list[Item]) -> list[dict[str, Any]]:
    """The transaction's writes of new events, for the videos adapter's TransactWriteItems."""
    return [
        {
            "Put": {
                "TableName": table._table,
                "Item": {
                    **table._record_item("event", evt, "eventId"),
                    "entity": {"S": OUTBOX_PENDING},
                },
                "ConditionExpression": "attribute_not_exists(id)",
            }
        }
        for evt in events
    ]


@dependency_errors("database", BotoCoreError, ClientError)
class DynamoOutbox(DynamoTable, Outbox):
    def outbox(self, limit: int) -> list[Item]:
        resp = self._client.query(
            TableName=self._table,
            IndexName=CREATED_INDEX,
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": OUTBOX_PENDING}},
            ScanIndexForward=True,
            Limit=limit,
        )
        return [self._decode_record(raw, "eventId") for raw in resp.get("Items", [])]

    def get_event(self, event_id: str) -> Item | None:
        return self._get_record("event", event_id, "eventId")

    def mark_dispatched(self, event_id: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=key(f"event#{event_id}"),
            UpdateExpression="SET entity = :done, #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":done": {"S": OUTBOX_DONE},
                ":ttl": {"N": str(int(time.time()) + EVENT_TTL_SECONDS)},
            },
        )

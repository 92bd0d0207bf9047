"""DynamoDB adapter of `Webhooks`: items `webhook#<id>` (listed as entity `webhook#<ws>`) and
`delivery#<id>` (listed as entity `delivery#<webhookId>`; pending ones found through
`StatusIndex` under the status `delivery#pending`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Webhooks
from chalicelib.store.dynamodb.table import CREATED_INDEX, STATUS_INDEX, DynamoTable, key


@dependency_errors("database", BotoCoreError, ClientError)
class DynamoWebhooks(DynamoTable, Webhooks):
    def put_webhook(self, hook: Item) -> None:
        self._insert(
            {
                **self._record_item("webhook", hook, "hookId"),
                "entity": {"S": f"webhook#{hook['workspace']}"},
            }
        )

    def get_webhook(self, hook_id: str) -> Item | None:
        return self._get_record("webhook", hook_id, "hookId")

    def list_webhooks(self, workspace: str) -> list[Item]:
        return [
            self._decode_record(raw, "hookId")
            for raw in self._query_all(CREATED_INDEX, "entity", f"webhook#{workspace}")
        ]

    def update_webhook(self, hook_id: str, fields: Mapping[str, Any]) -> bool:
        return self._set_fields(f"webhook#{hook_id}", fields)

    def delete_webhook(self, hook_id: str) -> bool:
        resp = self._client.delete_item(
            TableName=self._table, Key=key(f"webhook#{hook_id}"), ReturnValues="ALL_OLD"
        )
        return bool(resp.get("Attributes"))

    # --- deliveries --------------------------------------------------------------------------
    def _delivery_item(self, delivery: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self._record_item("delivery", delivery, "deliveryId"),
            "entity": {"S": f"delivery#{delivery['webhookId']}"},
            # StatusIndex partition: pending deliveries are found without a scan; prefixed so
            # they never meet a video status
            "status": {"S": f"delivery#{delivery['status']}"},
        }

    def _decode_delivery(self, raw: Mapping[str, Any]) -> Item:
        out = self._decode_record(raw, "deliveryId")
        out["status"] = str(out["status"]).removeprefix("delivery#")
        return out

    def put_delivery(self, delivery: Item) -> bool:
        return self._put_new(self._delivery_item(delivery))

    def due_deliveries(self, now: str, limit: int, exclude: Collection[str] = ()) -> list[Item]:
        resp = self._client.query(
            TableName=self._table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#s = :p",
            FilterExpression="nextAttemptAt <= :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "delivery#pending"}, ":now": {"S": now}},
        )
        due = [
            delivery
            for delivery in map(self._decode_delivery, resp.get("Items", []))
            if delivery["webhookId"] not in exclude
        ]
        return sorted(due, key=lambda d: str(d["nextAttemptAt"]))[:limit]

    def update_delivery(
        self, delivery_id: str, fields: Mapping[str, Any], only_if_attempts: int | None = None
    ) -> bool:
        stored = dict(fields)
        if "status" in stored:
            stored["status"] = f"delivery#{stored['status']}"
        return self._set_fields(f"delivery#{delivery_id}", stored, only_if_attempts)

    def list_deliveries(self, hook_id: str, limit: int) -> list[Item]:
        resp = self._client.query(
            TableName=self._table,
            IndexName=CREATED_INDEX,
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": f"delivery#{hook_id}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [self._decode_delivery(raw) for raw in resp.get("Items", [])]

"""The one DynamoDB table every DynamoDB adapter shares: keyed on `id`; GSIs serve every list.

Key design: every video carries `entity = "video"` (`video#<workspace>` outside the default
workspace), the partition key of `CreatedIndex` (sort key `createdAt`), so an unfiltered
newest-first page is one Query, never a Scan. `StatusIndex` (`status` + `createdAt`) serves
`?status=` across workspaces, `WorkspaceStatusIndex` (`wsStatus`) within one. Other aggregates
live in the same table under prefixed ids (`token#`, `event#`, `webhook#`, `delivery#`,
`lease#`) and entities of their own, so they never appear among videos.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

STATUS_INDEX = "StatusIndex"  # status + createdAt: every workspace (operators, recovery)
CREATED_INDEX = "CreatedIndex"  # entity + createdAt: one workspace's videos, or its tokens
WORKSPACE_STATUS_INDEX = "WorkspaceStatusIndex"  # wsStatus + createdAt: one workspace, one status


def to_dynamo(value: Any) -> Any:
    # DynamoDB numbers must be Decimal; a JSON round trip converts nested floats too.
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def condition_failed(exc: ClientError) -> bool:
    """The write's condition did not hold (as opposed to the service failing)."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def key(item_id: str) -> dict[str, Any]:
    return {"id": {"S": item_id}}


@dependency_errors("database", BotoCoreError, ClientError)
class DynamoTable:
    """Base of the DynamoDB adapters: any of them alone, or all of them together
    (`DynamoVideoStore`), on one table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._client = client
        self._table = table_name
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    # --- (de)serialisation -------------------------------------------------------------------
    def _encode(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(to_dynamo(v)) for k, v in item.items()}

    def _decode_raw(self, raw: Mapping[str, Any]) -> Item:
        return {k: from_dynamo(self._de.deserialize(v)) for k, v in raw.items()}

    # --- records under a prefixed id (`<kind>#<id>`), their own id kept in `id_field` ---------
    def _record_item(self, kind: str, record: Mapping[str, Any], id_field: str) -> dict[str, Any]:
        """A record as stored: `id` prefixed with `kind#`, the record's id in `id_field`."""
        return {
            **self._encode({k: v for k, v in record.items() if k != "id"}),
            "id": {"S": f"{kind}#{record['id']}"},
            id_field: {"S": record["id"]},
        }

    def _decode_record(self, raw: Mapping[str, Any], id_field: str) -> Item:
        out = self._decode_raw(raw)
        out["id"] = out.pop(id_field)
        for name in ("entity", "ttl"):
            out.pop(name, None)
        return out

    def _get_record(self, kind: str, record_id: str, id_field: str) -> Item | None:
        raw = self._client.get_item(
            TableName=self._table, Key=key(f"{kind}#{record_id}"), ConsistentRead=True
        ).get("Item")
        return self._decode_record(raw, id_field) if raw else None

    def _insert(self, item: dict[str, Any]) -> None:
        """Put an item whose id must be new (an existing one fails the write)."""
        self._client.put_item(
            TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(id)"
        )

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Put an item whose id is new; False when it exists (nothing written)."""
        try:
            self._insert(item)
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return False
        return True

    def _query_all(self, index: str, name: str, value: str) -> list[dict[str, Any]]:
        """Every item of one index partition, newest first."""
        raws: list[dict[str, Any]] = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": name},
            ExpressionAttributeValues={":v": {"S": value}},
            ScanIndexForward=False,
        ):
            raws += page.get("Items", [])
        return raws

    def _set_fields(
        self, item_id: str, fields: Mapping[str, Any], only_if_attempts: int | None = None
    ) -> bool:
        """SET `fields` on an existing item; with `only_if_attempts`, only while its
        `attempts` still has that value. False when the condition did not hold."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {
            f":f{i}": self._ser.serialize(to_dynamo(v)) for i, v in enumerate(fields.values())
        }
        condition = "attribute_exists(id)"
        if only_if_attempts is not None:
            names["#att"] = "attempts"
            values[":att"] = {"N": str(only_if_attempts)}
            condition += " AND #att = :att"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(item_id),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return False
        return True

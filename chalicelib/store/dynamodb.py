"""DynamoDB adapter: table keyed on `id`; GSIs `StatusIndex` and `CreatedIndex` serve every list.

Key design: every video carries `entity = "video"`, the partition key of `CreatedIndex`
(sort key `createdAt`), so an unfiltered newest-first page is one Query, never a Scan.
`StatusIndex` (`status` + `createdAt`) serves `?status=`. Capacity leases live in the same
table as one item per pool (`id = "lease#<pool>"`) with a map of holder -> expiry; they have
neither `status` nor `entity`, so they never appear in either index.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import utc_now
from chalicelib.errors import TransitionRejected, dependency_errors
from chalicelib.store.base import Item, Page, VideoStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

STATUS_INDEX = "StatusIndex"
CREATED_INDEX = "CreatedIndex"
ENTITY = "video"


def _to_dynamo(value: Any) -> Any:
    # DynamoDB numbers must be Decimal; a JSON round trip converts nested floats too.
    return json.loads(json.dumps(value), parse_float=Decimal)


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


@dependency_errors("database", BotoCoreError, ClientError)
class DynamoVideoStore(VideoStore):
    backend_name = "dynamodb"

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._client = client
        self._table = table_name
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    # --- (de)serialisation -------------------------------------------------------------------
    def _encode(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(_to_dynamo(v)) for k, v in item.items()}

    def _decode(self, raw: Mapping[str, Any]) -> Item:
        item = {k: _from_dynamo(self._de.deserialize(v)) for k, v in raw.items()}
        item.pop("entity", None)
        return item

    # --- port ------------------------------------------------------------------------------------
    def ping(self) -> None:
        self._client.get_item(TableName=self._table, Key={"id": {"S": "lease#ping"}})

    def create(self, item: Item) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=self._encode({**item, "entity": ENTITY}),
            ConditionExpression="attribute_not_exists(id)",
        )

    def get(self, video_id: str) -> Item | None:
        resp = self._client.get_item(
            TableName=self._table, Key={"id": {"S": video_id}}, ConsistentRead=True
        )
        raw = resp.get("Item")
        return self._decode(raw) if raw else None

    def list(self, status: str | None, limit: int, cursor: Mapping[str, Any] | None) -> Page:
        if status is not None:
            index, pk_name, pk_value = STATUS_INDEX, "status", status
        else:
            index, pk_name, pk_value = CREATED_INDEX, "entity", ENTITY
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": {":pk": {"S": pk_value}},
            "ScanIndexForward": False,
            # One more than asked tells whether a next page exists without an empty last page.
            "Limit": limit + 1,
        }
        if cursor is not None:
            kwargs["ExclusiveStartKey"] = {
                "id": {"S": cursor["id"]},
                "createdAt": {"S": cursor["createdAt"]},
                pk_name: {"S": pk_value},
            }
        resp = self._client.query(**kwargs)
        items = [self._decode(raw) for raw in resp.get("Items", [])]
        page, more = items[:limit], len(items) > limit
        last = page[-1] if page else None
        next_cursor = {"createdAt": last["createdAt"], "id": last["id"]} if more and last else None
        return Page(page, next_cursor)

    def _update(
        self,
        video_id: str,
        allowed: Iterable[str],
        set_fields: Mapping[str, Any],
        remove_fields: Iterable[str],
        only_if: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for i, (name, value) in enumerate(set_fields.items()):
            names[f"#s{i}"] = name
            values[f":s{i}"] = self._ser.serialize(_to_dynamo(value))
            sets.append(f"#s{i} = :s{i}")
        removes = []
        for i, name in enumerate(n for n in remove_fields if n not in set_fields):
            names[f"#r{i}"] = name
            removes.append(f"#r{i}")
        conds = []
        for i, status in enumerate(sorted(set(allowed))):
            values[f":a{i}"] = {"S": status}
            conds.append(f":a{i}")
        extra = ""
        for i, (name, value) in enumerate((only_if or {}).items()):
            names[f"#c{i}"] = name
            values[f":c{i}"] = {"S": value}
            extra += f" AND #c{i} = :c{i}"
        expr = "SET " + ", ".join(sets)
        if removes:
            expr += " REMOVE " + ", ".join(removes)
        from botocore.exceptions import ClientError

        try:
            return self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": video_id}},
                UpdateExpression=expr,
                ConditionExpression=(
                    f"attribute_exists(id) AND #status IN ({', '.join(conds)}){extra}"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = self.get(video_id)
            raise TransitionRejected(video_id, current["status"] if current else None) from None

    def transition(
        self,
        video_id: str,
        allowed_from: Iterable[str],
        to_status: str,
        set_fields: Mapping[str, Any] | None = None,
        remove_fields: Iterable[str] = (),
        only_if: Mapping[str, str] | None = None,
    ) -> Item:
        fields = {**(set_fields or {}), "status": to_status, "updatedAt": utc_now()}
        return self._decode(self._update(video_id, allowed_from, fields, remove_fields, only_if))

    def update_fields(
        self, video_id: str, fields: Mapping[str, Any], only_if_status: Iterable[str]
    ) -> bool:
        try:
            self._update(video_id, only_if_status, {**fields, "updatedAt": utc_now()}, ())
        except TransitionRejected:
            return False
        return True

    # --- leases ----------------------------------------------------------------------------------
    def _lease_key(self, pool: str) -> dict[str, Any]:
        return {"id": {"S": f"lease#{pool}"}}

    @staticmethod
    def _live(holders: Mapping[str, Any], now: float) -> int:
        return sum(1 for exp in holders.values() if float(exp["N"]) > now)

    def acquire_lease(self, pool: str, holder: str, expires_at: float, now: float) -> int:
        from botocore.exceptions import ClientError

        try:  # The map must exist before a nested SET; creating it is idempotent.
            self._client.put_item(
                TableName=self._table,
                Item={**self._lease_key(pool), "holders": {"M": {}}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        attrs = self._client.update_item(
            TableName=self._table,
            Key=self._lease_key(pool),
            UpdateExpression="SET holders.#h = :exp",
            ExpressionAttributeNames={"#h": holder},
            ExpressionAttributeValues={":exp": {"N": repr(expires_at)}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return self._live(attrs.get("holders", {}).get("M", {}), now)

    def release_lease(self, pool: str, holder: str, now: float) -> int:
        from botocore.exceptions import ClientError

        try:
            attrs = self._client.update_item(
                TableName=self._table,
                Key=self._lease_key(pool),
                UpdateExpression="REMOVE holders.#h",
                ConditionExpression="attribute_exists(holders)",
                ExpressionAttributeNames={"#h": holder},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return 0
        holders = attrs.get("holders", {}).get("M", {})
        for name, exp in holders.items():
            if float(exp["N"]) <= now:  # prune a crashed execution's lease, only if still expired
                with contextlib.suppress(ClientError):
                    self._client.update_item(
                        TableName=self._table,
                        Key=self._lease_key(pool),
                        UpdateExpression="REMOVE holders.#h",
                        ConditionExpression="holders.#h <= :now",
                        ExpressionAttributeNames={"#h": name},
                        ExpressionAttributeValues={":now": {"N": repr(now)}},
                    )
        return self._live(holders, now)

    def live_leases(self, pool: str, now: float) -> int:
        resp = self._client.get_item(
            TableName=self._table, Key=self._lease_key(pool), ConsistentRead=True
        )
        return self._live(resp.get("Item", {}).get("holders", {}).get("M", {}), now)

    def reset_leases(self, pool: str) -> None:
        self._client.delete_item(TableName=self._table, Key=self._lease_key(pool))

"""DynamoDB adapter: table keyed on `id`; GSIs `StatusIndex` and `CreatedIndex` serve every list.

Key design: every video carries `entity = "video"`, the partition key of `CreatedIndex`
(sort key `createdAt`), so an unfiltered newest-first page is one Query, never a Scan.
`StatusIndex` (`status` + `createdAt`) serves `?status=`. Capacity leases live in the same
table as one item per pool (`id = "lease#<pool>"`) with a map of holder -> expiry; they have
neither `status` nor `entity`, so they never appear in either index.
"""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import utc_now
from chalicelib.errors import TransitionRejected, dependency_errors
from chalicelib.store.base import DEFAULT_WORKSPACE, Item, Page, VideoStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

STATUS_INDEX = "StatusIndex"  # status + createdAt: every workspace (operators, recovery)
CREATED_INDEX = "CreatedIndex"  # entity + createdAt: one workspace's videos, or its tokens
WORKSPACE_STATUS_INDEX = "WorkspaceStatusIndex"  # wsStatus + createdAt: one workspace, one status
ENTITY = "video"


def video_entity(workspace: str) -> str:
    """CreatedIndex partition of a workspace's videos. The default workspace keeps `video`,
    the value every item had before workspaces, so its items need no rewrite."""
    return ENTITY if workspace == DEFAULT_WORKSPACE else f"{ENTITY}#{workspace}"


def ws_status(workspace: str, status: str) -> str:
    return f"{workspace}#{status}"


def _token_key(token_id: str) -> dict[str, Any]:
    return {"id": {"S": f"token#{token_id}"}}


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
        item.pop("wsStatus", None)
        item.setdefault("workspace", DEFAULT_WORKSPACE)
        return item

    # --- port ------------------------------------------------------------------------------------
    def ping(self) -> None:
        self._client.get_item(TableName=self._table, Key={"id": {"S": "lease#ping"}})

    def create(self, item: Item) -> None:
        workspace = item.get("workspace", DEFAULT_WORKSPACE)
        keys = {
            "workspace": workspace,
            "entity": video_entity(workspace),
            "wsStatus": ws_status(workspace, item["status"]),
        }
        self._client.put_item(
            TableName=self._table,
            Item=self._encode({**item, **keys}),
            ConditionExpression="attribute_not_exists(id)",
        )

    def get(self, video_id: str) -> Item | None:
        resp = self._client.get_item(
            TableName=self._table, Key={"id": {"S": video_id}}, ConsistentRead=True
        )
        raw = resp.get("Item")
        return self._decode(raw) if raw else None

    def list(
        self,
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
        workspace: str | None = None,
    ) -> Page:
        if workspace is None:
            if status is None:
                raise ValueError("listing across workspaces needs a status")
            index, pk_name, pk_value = STATUS_INDEX, "status", status
        elif status is not None:
            index, pk_name, pk_value = WORKSPACE_STATUS_INDEX, "wsStatus", ws_status(
                workspace, status
            )
        else:
            index, pk_name, pk_value = CREATED_INDEX, "entity", video_entity(workspace)
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
        # wsStatus (the per-workspace status index key) moves with the status. A video's
        # workspace never changes, so reading it first is safe; the write stays conditional.
        current = self.get(video_id)
        if current is None:
            raise TransitionRejected(video_id, None)
        workspace = current["workspace"]
        fields = {
            **(set_fields or {}),
            "status": to_status,
            "wsStatus": ws_status(workspace, to_status),
            "updatedAt": utc_now(),
        }
        guard = {**(only_if or {}), "workspace": workspace}
        return self._decode(self._update(video_id, allowed_from, fields, remove_fields, guard))

    def count_active(self, workspace: str, statuses: Iterable[str], cap: int) -> int:
        total = 0
        for status in sorted(set(statuses)):
            resp = self._client.query(
                TableName=self._table,
                IndexName=WORKSPACE_STATUS_INDEX,
                KeyConditionExpression="wsStatus = :pk",
                ExpressionAttributeValues={":pk": {"S": ws_status(workspace, status)}},
                Select="COUNT",
                Limit=cap,
            )
            total += int(resp.get("Count", 0))
            if total >= cap:
                return cap
        return total

    def migrate(self) -> int:
        """Give pre-workspace video items `workspace` and `wsStatus` (one conditional update
        each, so a concurrent transition is never overwritten). A one-off Scan: run it once
        after deploying (`python -m chalicelib.admin migrate`)."""
        from botocore.exceptions import ClientError

        changed = 0
        paginator = self._client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="attribute_exists(#s) AND attribute_not_exists(wsStatus)",
            ExpressionAttributeNames={"#s": "status"},
        ):
            for raw in page.get("Items", []):
                status = raw["status"]["S"]
                with contextlib.suppress(ClientError):  # changed under us: it has the keys now
                    self._client.update_item(
                        TableName=self._table,
                        Key={"id": raw["id"]},
                        UpdateExpression="SET workspace = :ws, wsStatus = :wss",
                        ConditionExpression="#s = :st AND attribute_not_exists(wsStatus)",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={
                            ":ws": {"S": DEFAULT_WORKSPACE},
                            ":wss": {"S": ws_status(DEFAULT_WORKSPACE, status)},
                            ":st": {"S": status},
                        },
                    )
                    changed += 1
        return changed

    # --- tokens (items `token#{id}`, listed through CreatedIndex as entity `token#{ws}`) ---
    def put_token(self, token: Item) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **self._encode({k: v for k, v in token.items() if k != "id"}),
                **_token_key(token["id"]),
                "tokenId": {"S": token["id"]},
                "entity": {"S": f"token#{token['workspace']}"},
            },
            ConditionExpression="attribute_not_exists(id)",
        )

    def _decode_token(self, raw: Mapping[str, Any]) -> Item:
        token = {k: _from_dynamo(self._de.deserialize(v)) for k, v in raw.items()}
        token["id"] = token.pop("tokenId")
        token.pop("entity", None)
        return token

    def get_token(self, token_id: str) -> Item | None:
        raw = self._client.get_item(
            TableName=self._table, Key=_token_key(token_id), ConsistentRead=True
        ).get("Item")
        return self._decode_token(raw) if raw else None

    def list_tokens(self, workspace: str) -> builtins.list[Item]:
        tokens: builtins.list[Item] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=CREATED_INDEX,
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": f"token#{workspace}"}},
            ScanIndexForward=False,
        ):
            tokens += [self._decode_token(raw) for raw in page.get("Items", [])]
        return tokens

    def update_token(self, token_id: str, fields: Mapping[str, Any]) -> bool:
        from botocore.exceptions import ClientError

        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {
            f":f{i}": self._ser.serialize(_to_dynamo(v)) for i, v in enumerate(fields.values())
        }
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_token_key(token_id),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

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

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
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import DEFAULT_WORKSPACE, Item, utc_now
from chalicelib.domain.events import SEQUENCE_FIELD, for_change
from chalicelib.errors import TransitionRejected, dependency_errors
from chalicelib.store.base import Page, VideoStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_TRANSITION_ATTEMPTS = 5
OUTBOX_PENDING = "outbox#pending"  # CreatedIndex partition of events not yet fanned out
OUTBOX_DONE = "outbox#done"
EVENT_TTL_SECONDS = 7 * 24 * 3600  # dispatched events stay this long for their deliveries
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
        new = {**item, "workspace": workspace}
        events = for_change(new, 1)
        new[SEQUENCE_FIELD] = len(events)
        writes: builtins.list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._encode({**new, **keys}),
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
            *self._event_puts(events),
        ]
        self._client.transact_write_items(TransactItems=writes)

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
        request = self._update_request(video_id, allowed, set_fields, remove_fields, only_if)
        try:
            attrs: dict[str, Any] = self._client.update_item(**request, ReturnValues="ALL_NEW")[
                "Attributes"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = self.get(video_id)
            raise TransitionRejected(video_id, current["status"] if current else None) from None
        return attrs

    def _update_request(
        self,
        video_id: str,
        allowed: Iterable[str],
        set_fields: Mapping[str, Any],
        remove_fields: Iterable[str],
        only_if: Mapping[str, str] | None = None,
        sequence: int | None = None,
        guard_sequence: bool = False,
    ) -> dict[str, Any]:
        """A conditional UpdateItem: status in `allowed`, each `only_if` field equal, and with
        `guard_sequence` the event sequence still `sequence` (None: not yet set)."""
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
        if guard_sequence:
            names["#seq"] = SEQUENCE_FIELD
            if sequence is None:
                extra += " AND attribute_not_exists(#seq)"
            else:
                values[":seq"] = {"N": str(sequence)}
                extra += " AND #seq = :seq"
        expr = "SET " + ", ".join(sets)
        if removes:
            expr += " REMOVE " + ", ".join(removes)
        return {
            "TableName": self._table,
            "Key": {"id": {"S": video_id}},
            "UpdateExpression": expr,
            "ConditionExpression": (
                f"attribute_exists(id) AND #status IN ({', '.join(conds)}){extra}"
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def transition(
        self,
        video_id: str,
        allowed_from: Iterable[str],
        to_status: str,
        set_fields: Mapping[str, Any] | None = None,
        remove_fields: Iterable[str] = (),
        only_if: Mapping[str, str] | None = None,
    ) -> Item:
        """One TransactWriteItems: the conditional update of the video and its events.

        The item is read first: its workspace (wsStatus moves with the status) and its event
        sequence, which the write is conditioned on, so two racing transitions never both
        write; the loser reads again and is rejected, or retried on the new state."""
        allowed = set(allowed_from)
        removed = set(remove_fields)
        for _ in range(_TRANSITION_ATTEMPTS):
            current = self.get(video_id)
            if (
                current is None
                or current["status"] not in allowed
                or any(current.get(k) != v for k, v in (only_if or {}).items())
            ):
                raise TransitionRejected(video_id, current["status"] if current else None)
            new = {k: v for k, v in current.items() if k not in removed}
            new.update(set_fields or {})
            new.update(status=to_status, updatedAt=utc_now())
            had_sequence = SEQUENCE_FIELD in current
            sequence = int(current.get(SEQUENCE_FIELD, 0))
            events = for_change(new, sequence + 1)
            new[SEQUENCE_FIELD] = sequence + len(events)
            fields = {
                **(set_fields or {}),
                "status": to_status,
                "updatedAt": new["updatedAt"],
                "wsStatus": ws_status(current["workspace"], to_status),
                SEQUENCE_FIELD: new[SEQUENCE_FIELD],
            }
            update = self._update_request(
                video_id,
                allowed,
                fields,
                removed,
                {**(only_if or {}), "workspace": current["workspace"]},
                sequence=sequence if had_sequence else None,
                guard_sequence=True,
            )
            try:
                writes: builtins.list[Any] = [{"Update": update}, *self._event_puts(events)]
                self._client.transact_write_items(TransactItems=writes)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                continue  # changed under us: read again
            return new
        current = self.get(video_id)
        raise TransitionRejected(video_id, current["status"] if current else None)

    def _event_puts(self, events: builtins.list[Item]) -> builtins.list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **self._encode({k: v for k, v in evt.items() if k != "id"}),
                        "id": {"S": f"event#{evt['id']}"},
                        "eventId": {"S": evt["id"]},
                        "entity": {"S": OUTBOX_PENDING},
                    },
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            }
            for evt in events
        ]

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
        return [
            self._decode_token(raw)
            for raw in self._query_all(CREATED_INDEX, "entity", f"token#{workspace}")
        ]

    def update_token(self, token_id: str, fields: Mapping[str, Any]) -> bool:
        return self._set_fields(f"token#{token_id}", fields)

    def update_fields(
        self, video_id: str, fields: Mapping[str, Any], only_if_status: Iterable[str]
    ) -> bool:
        try:
            self._update(video_id, only_if_status, {**fields, "updatedAt": utc_now()}, ())
        except TransitionRejected:
            return False
        return True

    # --- events (items `event#{id}`; pending ones in CreatedIndex partition outbox#pending) ---
    def _decode_prefixed(self, raw: Mapping[str, Any], id_field: str) -> Item:
        out = {k: _from_dynamo(self._de.deserialize(v)) for k, v in raw.items()}
        out["id"] = out.pop(id_field)
        for key in ("entity", "ttl"):
            out.pop(key, None)
        return out

    def outbox(self, limit: int) -> builtins.list[Item]:
        resp = self._client.query(
            TableName=self._table,
            IndexName=CREATED_INDEX,
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": OUTBOX_PENDING}},
            ScanIndexForward=True,
            Limit=limit,
        )
        return [self._decode_prefixed(raw, "eventId") for raw in resp.get("Items", [])]

    def get_event(self, event_id: str) -> Item | None:
        raw = self._client.get_item(
            TableName=self._table, Key={"id": {"S": f"event#{event_id}"}}, ConsistentRead=True
        ).get("Item")
        return self._decode_prefixed(raw, "eventId") if raw else None

    def mark_dispatched(self, event_id: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"id": {"S": f"event#{event_id}"}},
            UpdateExpression="SET entity = :done, #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":done": {"S": OUTBOX_DONE},
                ":ttl": {"N": str(int(time.time()) + EVENT_TTL_SECONDS)},
            },
        )

    # --- webhooks (`webhook#{id}`, listed as entity webhook#{ws}) and deliveries ----------------
    def put_webhook(self, hook: Item) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **self._encode({k: v for k, v in hook.items() if k != "id"}),
                "id": {"S": f"webhook#{hook['id']}"},
                "hookId": {"S": hook["id"]},
                "entity": {"S": f"webhook#{hook['workspace']}"},
            },
            ConditionExpression="attribute_not_exists(id)",
        )

    def get_webhook(self, hook_id: str) -> Item | None:
        raw = self._client.get_item(
            TableName=self._table, Key={"id": {"S": f"webhook#{hook_id}"}}, ConsistentRead=True
        ).get("Item")
        return self._decode_prefixed(raw, "hookId") if raw else None

    def list_webhooks(self, workspace: str) -> builtins.list[Item]:
        return [
            self._decode_prefixed(raw, "hookId")
            for raw in self._query_all(CREATED_INDEX, "entity", f"webhook#{workspace}")
        ]

    def _query_all(self, index: str, key: str, value: str) -> builtins.list[dict[str, Any]]:
        raws: builtins.list[dict[str, Any]] = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": key},
            ExpressionAttributeValues={":v": {"S": value}},
            ScanIndexForward=False,
        ):
            raws += page.get("Items", [])
        return raws

    def _set_fields(
        self, key: str, fields: Mapping[str, Any], only_if_attempts: int | None = None
    ) -> bool:
        """SET `fields` on an existing item; with `only_if_attempts`, only while its
        `attempts` still has that value. False when the condition did not hold."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {
            f":f{i}": self._ser.serialize(_to_dynamo(v)) for i, v in enumerate(fields.values())
        }
        condition = "attribute_exists(id)"
        if only_if_attempts is not None:
            names["#att"] = "attempts"
            values[":att"] = {"N": str(only_if_attempts)}
            condition += " AND #att = :att"
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def update_webhook(self, hook_id: str, fields: Mapping[str, Any]) -> bool:
        return self._set_fields(f"webhook#{hook_id}", fields)

    def delete_webhook(self, hook_id: str) -> bool:
        resp = self._client.delete_item(
            TableName=self._table, Key={"id": {"S": f"webhook#{hook_id}"}}, ReturnValues="ALL_OLD"
        )
        return bool(resp.get("Attributes"))

    def _delivery_item(self, delivery: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self._encode({k: v for k, v in delivery.items() if k not in ("id", "status")}),
            "id": {"S": f"delivery#{delivery['id']}"},
            "deliveryId": {"S": delivery["id"]},
            "entity": {"S": f"delivery#{delivery['webhookId']}"},
            # StatusIndex partition: pending deliveries are found without a scan; prefixed so
            # they never meet a video status
            "status": {"S": f"delivery#{delivery['status']}"},
        }

    def _decode_delivery(self, raw: Mapping[str, Any]) -> Item:
        out = self._decode_prefixed(raw, "deliveryId")
        out["status"] = str(out["status"]).removeprefix("delivery#")
        return out

    def put_delivery(self, delivery: Item) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._delivery_item(delivery),
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def due_deliveries(self, now: str, limit: int) -> builtins.list[Item]:
        resp = self._client.query(
            TableName=self._table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#s = :p",
            FilterExpression="nextAttemptAt <= :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "delivery#pending"}, ":now": {"S": now}},
        )
        due = [self._decode_delivery(raw) for raw in resp.get("Items", [])]
        return sorted(due, key=lambda d: str(d["nextAttemptAt"]))[:limit]

    def update_delivery(
        self, delivery_id: str, fields: Mapping[str, Any], only_if_attempts: int | None = None
    ) -> bool:
        stored = dict(fields)
        if "status" in stored:
            stored["status"] = f"delivery#{stored['status']}"
        return self._set_fields(f"delivery#{delivery_id}", stored, only_if_attempts)

    def list_deliveries(self, hook_id: str, limit: int) -> builtins.list[Item]:
        resp = self._client.query(
            TableName=self._table,
            IndexName=CREATED_INDEX,
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": f"delivery#{hook_id}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [self._decode_delivery(raw) for raw in resp.get("Items", [])]

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

"""DynamoDB adapter of `Leases`: one item per pool (`lease#<pool>`) with a map of holder ->
expiry, and per holder a top-level `start#<holder>` attribute with its first acquire (top-level,
so items written before it existed need no migration). It has neither `status` nor `entity`,
so it never appears in an index."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import dependency_errors
from chalicelib.store.base import Leases
from chalicelib.store.dynamodb.table import DynamoTable, condition_failed, key


def _lease_key(pool: str) -> dict[str, Any]:
    return key(f"lease#{pool}")


def _start(holder: str) -> str:
    return f"start#{holder}"


def _live(holders: Mapping[str, Any], now: float) -> int:
    return sum(1 for exp in holders.values() if float(exp["N"]) > now)


@dependency_errors("database", BotoCoreError, ClientError)
class DynamoLeases(DynamoTable, Leases):
    def acquire_lease(self, pool: str, holder: str, expires_at: float, now: float) -> int:
        # The map must exist before a nested SET; creating it is idempotent.
        self._put_new({**_lease_key(pool), "holders": {"M": {}}})
        attrs = self._client.update_item(
            TableName=self._table,
            Key=_lease_key(pool),
            UpdateExpression="SET holders.#h = :exp, #s = if_not_exists(#s, :now)",
            ExpressionAttributeNames={"#h": holder, "#s": _start(holder)},
            ExpressionAttributeValues={":exp": {"N": repr(expires_at)}, ":now": {"N": repr(now)}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _live(attrs.get("holders", {}).get("M", {}), now)

    def release_lease(self, pool: str, holder: str, now: float) -> int:
        try:
            attrs = self._client.update_item(
                TableName=self._table,
                Key=_lease_key(pool),
                UpdateExpression="REMOVE holders.#h, #s",
                ConditionExpression="attribute_exists(holders)",
                ExpressionAttributeNames={"#h": holder, "#s": _start(holder)},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return 0
        holders = attrs.get("holders", {}).get("M", {})
        for name, exp in holders.items():
            if float(exp["N"]) <= now:  # prune a crashed execution's lease, only if still expired
                with contextlib.suppress(ClientError):
                    self._client.update_item(
                        TableName=self._table,
                        Key=_lease_key(pool),
                        UpdateExpression="REMOVE holders.#h, #s",
                        ConditionExpression="holders.#h <= :now",
                        ExpressionAttributeNames={"#h": name, "#s": _start(name)},
                        ExpressionAttributeValues={":now": {"N": repr(now)}},
                    )
        return _live(holders, now)

    def live_leases(self, pool: str, now: float) -> int:
        resp = self._client.get_item(
            TableName=self._table, Key=_lease_key(pool), ConsistentRead=True
        )
        return _live(resp.get("Item", {}).get("holders", {}).get("M", {}), now)

    def lease_acquired_at(self, pool: str, holder: str) -> float | None:
        item = self._client.get_item(
            TableName=self._table, Key=_lease_key(pool), ConsistentRead=True
        ).get("Item", {})
        if holder not in item.get("holders", {}).get("M", {}):
            return None
        start = item.get(_start(holder))
        return None if start is None else float(start["N"])

    def reset_leases(self, pool: str) -> None:
        self._client.delete_item(TableName=self._table, Key=_lease_key(pool))

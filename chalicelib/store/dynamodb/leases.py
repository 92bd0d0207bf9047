"""DynamoDB adapter of `Leases`: one item per pool (`lease#<pool>`) with a map of holder ->
expiry. It has neither `status` nor `entity`, so it never appears in an index."""

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
            UpdateExpression="SET holders.#h = :exp",
            ExpressionAttributeNames={"#h": holder},
            ExpressionAttributeValues={":exp": {"N": repr(expires_at)}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _live(attrs.get("holders", {}).get("M", {}), now)

    def release_lease(self, pool: str, holder: str, now: float) -> int:
        try:
            attrs = self._client.update_item(
                TableName=self._table,
                Key=_lease_key(pool),
                UpdateExpression="REMOVE holders.#h",
                ConditionExpression="attribute_exists(holders)",
                ExpressionAttributeNames={"#h": holder},
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
                        UpdateExpression="REMOVE holders.#h",
                        ConditionExpression="holders.#h <= :now",
                        ExpressionAttributeNames={"#h": name},
                        ExpressionAttributeValues={":now": {"N": repr(now)}},
                    )
        return _live(holders, now)

    def live_leases(self, pool: str, now: float) -> int:
        resp = self._client.get_item(
            TableName=self._table, Key=_lease_key(pool), ConsistentRead=True
        )
        return _live(resp.get("Item", {}).get("holders", {}).get("M", {}), now)

    def reset_leases(self, pool: str) -> None:
        self._client.delete_item(TableName=self._table, Key=_lease_key(pool))

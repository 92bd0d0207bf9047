"""DynamoDB adapter of `Tokens`: items `token#<id>`, listed through `CreatedIndex` as entity
`token#<workspace>`; failed-login counters are items `failure#<key>` that the table's TTL
removes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Tokens
from chalicelib.store.dynamodb.table import CREATED_INDEX, DynamoTable
from chalicelib.store.dynamodb.table import key as item_key


@dependency_errors("database", BotoCoreError, ClientError)
class DynamoTokens(DynamoTable, Tokens):
    def put_token(self, token: Item) -> None:
        self._insert(
            {
                **self._record_item("token", token, "tokenId"),
                "entity": {"S": f"token#{token['workspace']}"},
            }
        )

    def get_token(self, token_id: str) -> Item | None:
        return self._get_record("token", token_id, "tokenId")

    def list_tokens(self, workspace: str) -> list[Item]:
        return [
            self._decode_record(raw, "tokenId")
            for raw in self._query_all(CREATED_INDEX, "entity", f"token#{workspace}")
        ]

    def update_token(self, token_id: str, fields: Mapping[str, Any]) -> bool:
        return self._set_fields(f"token#{token_id}", fields)

    def count_login_failure(self, key: str, expires_at: float) -> int:
        # One UpdateItem (ADD is atomic across writers); no entity, so no index holds it.
        resp = self._client.update_item(
            TableName=self._table,
            Key=item_key(f"failure#{key}"),
            UpdateExpression="ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)",
            ExpressionAttributeNames={"#n": "failures", "#ttl": "ttl"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(int(expires_at))}},
            ReturnValues="UPDATED_NEW",
        )
        return int(resp["Attributes"]["failures"]["N"])

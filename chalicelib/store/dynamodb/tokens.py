"""DynamoDB adapter of `Tokens`: items `token#<id>`, listed through `CreatedIndex` as entity
`token#<workspace>`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import Item
from chalicelib.errors import dependency_errors
from chalicelib.store.base import Tokens
from chalicelib.store.dynamodb.table import CREATED_INDEX, DynamoTable


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

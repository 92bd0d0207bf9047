"""DynamoDB adapter of `Videos`: video items (keyed on the video id) and their indexes; each
change writes its events (outbox) in the same TransactWriteItems.

Title search: DynamoDB has no text search, so each video carries `titleSearch` (its title's
`search_words` as " w1 w2 ... ", written with the video) and a search reads the workspace's
partition of the list indexes newest first, keeping the items whose `titleSearch` contains
" <word>" for every word (a FilterExpression: word-prefix matches). Reads grow with the part of
the workspace a page has to pass over, not with the matches; one call reads at most
`SEARCH_READ_BUDGET` items and hands back a cursor to go on (see docs/api.md for the figures).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import DEFAULT_WORKSPACE, Item, utc_now
from chalicelib.domain.events import SEQUENCE_FIELD, for_change
from chalicelib.errors import TransitionRejected, dependency_errors
from chalicelib.store.base import Page, Videos, check_transition, search_words
from chalicelib.store.dynamodb.outbox import event_puts
from chalicelib.store.dynamodb.table import (
    CREATED_INDEX,
    STATUS_INDEX,
    WORKSPACE_STATUS_INDEX,
    DynamoTable,
    condition_failed,
    key,
    to_dynamo,
)

_TRANSITION_ATTEMPTS = 5
ENTITY = "video"
TITLE_SEARCH = "titleSearch"
SEARCH_READ_BUDGET = 500  # items one search call may read (each read costs, matching or not)
_SEARCH_CHUNK = 200  # most items per Query: calls start at a page's size and double up to it


def title_search(title: Any) -> str:
    """`titleSearch`: the title's words between spaces, so " <prefix>" finds a word start."""
    return f" {' '.join(search_words(str(title or '')))} "


def _page_of(items: list[Item], limit: int) -> Page:
    """The first `limit` items; a cursor after the last one when more were found."""
    page, more = items[:limit], len(items) > limit
    last = page[-1] if page else None
    cursor = {"createdAt": last["createdAt"], "id": last["id"]} if more and last else None
    return Page(page, cursor)


def _with_title_search(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields`, with `titleSearch` when they change the title (the index moves with it)."""
    if "title" not in fields:
        return dict(fields)
    return {**fields, TITLE_SEARCH: title_search(fields["title"])}


def video_entity(workspace: str) -> str:
    """CreatedIndex partition of a workspace's videos. The default workspace keeps `video`,
    the value every item had before workspaces, so its items need no rewrite."""
    return ENTITY if workspace == DEFAULT_WORKSPACE else f"{ENTITY}#{workspace}"


def ws_status(workspace: str, status: str) -> str:
    return f"{workspace}#{status}"


@dependency_errors("database", BotoCoreError, ClientError)
class DynamoVideos(DynamoTable, Videos):
    backend_name = "dynamodb"

    def _decode(self, raw: Mapping[str, Any]) -> Item:
        item = self._decode_raw(raw)
        item.pop("entity", None)
        item.pop("wsStatus", None)
        item.pop(TITLE_SEARCH, None)
        item.setdefault("workspace", DEFAULT_WORKSPACE)
        return item

    def ping(self) -> None:
        self._client.get_item(TableName=self._table, Key=key("lease#ping"))

    def create(self, item: Item) -> None:
        workspace = item.get("workspace", DEFAULT_WORKSPACE)
        keys = {
            "workspace": workspace,
            "entity": video_entity(workspace),
            "wsStatus": ws_status(workspace, item["status"]),
            TITLE_SEARCH: title_search(item.get("title")),
        }
        new = {**item, "workspace": workspace}
        events = for_change(new, 1)
        new[SEQUENCE_FIELD] = len(events)
        writes: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._encode({**new, **keys}),
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
            *event_puts(self, events),
        ]
        self._client.transact_write_items(TransactItems=writes)

    def get(self, video_id: str) -> Item | None:
        resp = self._client.get_item(TableName=self._table, Key=key(video_id), ConsistentRead=True)
        raw = resp.get("Item")
        return self._decode(raw) if raw else None

    def list(
        self,
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
        workspace: str | None = None,
    ) -> Page:
        kwargs = self._list_query(status, cursor, workspace)
        # One more than asked tells whether a next page exists without an empty last page.
        resp = self._client.query(**kwargs, Limit=limit + 1)
        items = [self._decode(raw) for raw in resp.get("Items", [])]
        return _page_of(items, limit)

    def search(
        self,
        workspace: str,
        words: Sequence[str],
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
    ) -> Page:
        kwargs = self._list_query(status, cursor, workspace)
        kwargs["ExpressionAttributeNames"]["#ts"] = TITLE_SEARCH
        for i, word in enumerate(words):
            kwargs["ExpressionAttributeValues"][f":w{i}"] = {"S": f" {word}"}
        kwargs["FilterExpression"] = " AND ".join(
            f"contains(#ts, :w{i})" for i in range(len(words))
        )
        found: list[Item] = []
        budget = SEARCH_READ_BUDGET
        chunk = limit + 1  # enough when every title matches; more while few do
        while True:
            resp = self._client.query(**kwargs, Limit=min(budget, chunk, _SEARCH_CHUNK))
            chunk *= 2
            budget -= int(resp.get("ScannedCount", 0))
            found += [self._decode(raw) for raw in resp.get("Items", [])]
            if len(found) > limit:
                return _page_of(found, limit)
            last = resp.get("LastEvaluatedKey")
            if last is None:
                return Page(found, None)
            if budget <= 0:  # read enough for one call: go on from the last item read
                return Page(found, {"createdAt": last["createdAt"]["S"], "id": last["id"]["S"]})
            kwargs["ExclusiveStartKey"] = last

    def _list_query(
        self, status: str | None, cursor: Mapping[str, Any] | None, workspace: str | None
    ) -> dict[str, Any]:
        """The Query (without its Limit) of one list: newest first, from `cursor` on."""
        if workspace is None:
            if status is None:
                raise ValueError("listing across workspaces needs a status")
            index, pk_name, pk_value = STATUS_INDEX, "status", status
        elif status is not None:
            index, pk_name, pk_value = (
                WORKSPACE_STATUS_INDEX,
                "wsStatus",
                ws_status(workspace, status),
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
        }
        if cursor is not None:
            kwargs["ExclusiveStartKey"] = {
                "id": {"S": cursor["id"]},
                "createdAt": {"S": cursor["createdAt"]},
                pk_name: {"S": pk_value},
            }
        return kwargs

    def _update_request(
        self,
        video_id: str,
        allowed: Iterable[str],
        set_fields: Mapping[str, Any],
        remove_fields: Iterable[str],
        only_if: Mapping[str, str | None] | None = None,
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
            values[f":s{i}"] = self._ser.serialize(to_dynamo(value))
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
            if value is None:  # the field must be absent
                extra += f" AND attribute_not_exists(#c{i})"
                continue
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
            "Key": key(video_id),
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
        only_if: Mapping[str, str | None] | None = None,
    ) -> Item:
        """One TransactWriteItems: the conditional update of the video and its events.

        The item is read first: its workspace (wsStatus moves with the status) and its event
        sequence, which the write is conditioned on, so two racing transitions never both
        write; the loser reads again and is rejected, or retried on the new state."""
        allowed = set(allowed_from)
        removed = set(remove_fields)
        for _ in range(_TRANSITION_ATTEMPTS):
            current = check_transition(video_id, self.get(video_id), allowed, only_if)
            new = {k: v for k, v in current.items() if k not in removed}
            new.update(set_fields or {})
            new.update(status=to_status, updatedAt=utc_now())
            had_sequence = SEQUENCE_FIELD in current
            sequence = int(current.get(SEQUENCE_FIELD, 0))
            events = for_change(new, sequence + 1)
            new[SEQUENCE_FIELD] = sequence + len(events)
            fields = {
                **_with_title_search(set_fields or {}),
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
                writes: list[Any] = [{"Update": update}, *event_puts(self, events)]
                self._client.transact_write_items(TransactItems=writes)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                continue  # changed under us: read again
            return new
        latest = self.get(video_id)
        raise TransitionRejected(video_id, latest["status"] if latest else None)

    def update_fields(
        self, video_id: str, fields: Mapping[str, Any], only_if_status: Iterable[str]
    ) -> bool:
        request = self._update_request(
            video_id, only_if_status, {**_with_title_search(fields), "updatedAt": utc_now()}, ()
        )
        try:
            self._client.update_item(**request)
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return False
        return True

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
        """Give video items written by older versions what this one reads: `workspace` and
        `wsStatus` (pre-workspace items), `titleSearch` (items from before title search). One
        conditional update each, so a concurrent transition is never overwritten. A one-off
        Scan: run it once after deploying (`python -m chalicelib.admin migrate`)."""
        changed = 0
        paginator = self._client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="attribute_exists(#s) AND "
            "(attribute_not_exists(wsStatus) OR attribute_not_exists(#ts))",
            ExpressionAttributeNames={"#s": "status", "#ts": TITLE_SEARCH},
        ):
            for raw in page.get("Items", []):
                updated = False
                if "wsStatus" not in raw:
                    updated |= self._migrate_workspace(raw)
                if TITLE_SEARCH not in raw:
                    updated |= self._migrate_title_search(raw)
                changed += updated
        return changed

    def _migrate_workspace(self, raw: Mapping[str, Any]) -> bool:
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
            return True
        return False

    def _migrate_title_search(self, raw: Mapping[str, Any]) -> bool:
        title = raw.get("title", {}).get("S", "")
        with contextlib.suppress(ClientError):  # the title changed under us: it has one now
            self._client.update_item(
                TableName=self._table,
                Key={"id": raw["id"]},
                UpdateExpression="SET #ts = :ts",
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(#ts)",
                ExpressionAttributeNames={"#ts": TITLE_SEARCH},
                ExpressionAttributeValues={":ts": {"S": title_search(title)}},
            )
            return True
        return False

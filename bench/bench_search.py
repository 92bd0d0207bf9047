"""What a title search costs on DynamoDB, against the size of the workspace.

The DynamoDB adapter filters the workspace's partition of the list index (`titleSearch`
contains " <word>"), so a search pays for every item it passes over, matching or not. This
creates workspaces of N videos (items of a processed video's size) on moto's server and runs
searches that match many, one (the oldest video) or no titles: Query calls, items read and read
capacity for the first page, and for walking every page to the end. Read capacity is computed
by DynamoDB's rule for a Query (the sizes of the items read in one call, rounded up to 4 KB,
0.5 RCU each: index reads are eventually consistent) from the items' sizes, because moto does
not account capacity that way. Baseline in the same run: the plain list
(`GET /videos`) of the same workspace. Run: `.venv/bin/python bench/bench_search.py`.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from chalicelib.domain import new_video_id  # noqa: E402
from chalicelib.store.base import search_words  # noqa: E402
from chalicelib.store.dynamodb import DynamoVideoStore  # noqa: E402
from tests.conftest import create_video_table, free_port, wait_for_port  # noqa: E402

SIZES = (100, 500)  # moto creates ~1 video per second here: larger sizes take long
LIMIT = 20
WORDS = ["demo", "talk", "review", "launch", "team", "weekly", "sync", "product", "intro"]


def video(n: int, title: str) -> dict[str, Any]:
    """A processed video's item (~2.3 KB): media facts, four renditions, cost."""
    stamp = f"2026-11-{1 + n // 100000:02d}T00:00:{n % 60:02d}.{n:06d}Z"
    renditions = [
        {"name": f"{h}p", "width": h * 16 // 9, "height": h, "bitrate": h * 5000,
         "key": f"videos/{n}/run/video_{h}p.mp4", "size": h * 100000, "vmaf": 93.5}
        for h in (240, 480, 720, 1080)
    ]  # fmt: skip
    return {
        "id": new_video_id(),
        "title": title,
        "description": "a recorded talk with slides " * 8,
        "sourceUrl": f"s3://media-bucket/uploads/acme/{uuid.uuid4().hex}/talk.mp4",
        "status": "completed",
        "workspace": "acme",
        "createdAt": stamp,
        "updatedAt": stamp,
        "media": {"duration": 1234.5, "width": 1920, "height": 1080, "fps": 29.97},
        "renditions": renditions,
        "cost": {"environmentSeconds": 812.4, "dollars": 0.0213},
    }


def item_bytes(value: Any) -> int:
    """DynamoDB's size of an attribute value (names counted by the caller)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.strip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + item_bytes(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + item_bytes(v) for v in inner)
    return 1


class Meter:
    """Query calls, items read and read capacity, from the client's responses."""

    def __init__(self, client: Any, item_size: int) -> None:
        self.calls = self.read = 0
        self.rcu = 0.0
        self.item_size = item_size
        client.meta.events.register("after-call.dynamodb.Query", self._count)

    def _count(self, parsed: dict[str, Any], **_: Any) -> None:
        scanned = int(parsed.get("ScannedCount", 0))
        self.calls += 1
        self.read += scanned
        self.rcu += 0.5 * max(1, -(-scanned * self.item_size // 4096))

    def take(self) -> tuple[int, int, float]:
        out = (self.calls, self.read, self.rcu)
        self.calls = self.read = 0
        self.rcu = 0.0
        return out


def run(store: DynamoVideoStore, meter: Meter, query: str | None) -> list[tuple[int, int, float]]:
    """(calls, items read, RCU) of the first page, then of every page to the end."""
    first: tuple[int, int, float] | None = None
    total = [0, 0, 0.0]
    cursor = None
    while True:
        if query is None:
            page = store.list(None, LIMIT, cursor, workspace="acme")
        else:
            page = store.search("acme", search_words(query), None, LIMIT, cursor)
        calls, read, rcu = meter.take()
        first = first or (calls, read, rcu)
        total = [total[0] + calls, total[1] + read, total[2] + rcu]
        if page.cursor is None:
            return [first, (int(total[0]), int(total[1]), float(total[2]))]
        cursor = page.cursor


def main() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "moto_server_serial.py"), "-H", "127.0.0.1",
         "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        client = boto3.client(
            "dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1"
        )
        meter = Meter(client, 0)
        print(f"page size {LIMIT}; first page / every page: Query calls, items read, RCU")
        print("(items of ~2.5 KB, as a processed video's; RCU by DynamoDB's rule, see above)")
        print(f"{'videos':>6}  {'search':<28} {'first page':>20} {'all pages':>22}")
        for size in SIZES:
            table = f"bench-{uuid.uuid4().hex[:8]}"
            create_video_table(client, table)
            store = DynamoVideoStore(client, table)
            for n in range(size):
                # "needle" only in the oldest title; "demo" in every other one
                words = ["needle"] if n == 0 else [WORDS[n % len(WORDS)], WORDS[(n * 7) % 9]]
                if n % 2 == 0:
                    words.append("demo")
                store.create(video(n, " ".join(words).title()))
            raw = client.get_item(
                TableName=table, Key={"id": {"S": store.list(None, 1, None, "acme").items[0]["id"]}}
            )["Item"]
            meter.item_size = sum(len(k) + item_bytes(v) for k, v in raw.items())
            meter.take()
            for label, query in (
                ("plain list (baseline)", None),
                ("'demo' (~half match)", "demo"),
                ("'needle' (oldest only)", "needle"),
                ("'zzz' (no match)", "zzz"),
            ):
                first, every = run(store, meter, query)
                print(
                    f"{size:>6}  {label:<28} {first[0]:>4} {first[1]:>6} {first[2]:>7.1f}"
                    f"   {every[0]:>5} {every[1]:>6} {every[2]:>8.1f}"
                )
            client.delete_table(TableName=table)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()

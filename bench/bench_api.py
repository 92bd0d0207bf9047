"""API benchmark: in-process request latency, and list-by-status cost as the table grows.

Prints (1) p50/p99 latency of create/get/list through chalice.test.Client on the embedded
SQLite store, and (2) `?status=` list latency with SMALL vs LARGE stored videos on both
adapters, the same number of matching videos in each (ratio near 1 = the index does its job;
a scan would grow with the table).

    .venv/bin/python bench/bench_api.py [--small 1000] [--large 100000] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from chalicelib.domain import new_video_id, utc_now  # noqa: E402
from chalicelib.store.base import VideoStore  # noqa: E402
from chalicelib.store.sqlite import SqliteVideoStore  # noqa: E402

MATCHING = 200  # videos with the listed status, in every table size


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def api_latency(requests: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    (data / "inbox").mkdir()
    src = data / "inbox" / "clip.mp4"
    src.write_bytes(b"x")
    os.environ.update(
        VIDEO_BACKEND="local",
        VIDEO_DATA_DIR=str(data),
        VIDEO_RATE_LIMIT_PER_SECOND="0",  # measure the request, not the limiter's refusals
    )
    os.environ.pop("VIDEO_SOURCE_ROOTS", None)
    from chalice.test import Client

    from app import app, routes
    from chalicelib.admin import OPERATOR
    from chalicelib.factory import container, reset_container

    reset_container()
    minted = container().tokens.create({"name": "bench", "scope": "admin"}, OPERATOR)
    auth = {"Authorization": f"Bearer {minted['secret']}"}
    payload = json.dumps({"title": "bench", "sourceUrl": f"file://{src}"})
    ids: list[str] = []
    with Client(app, stage_name="local") as client:
        headers = {"content-type": "application/json", **auth}

        def create() -> None:
            resp = client.http.post("/videos", headers=headers, body=payload)
            assert resp.status_code == 201
            ids.append(json.loads(resp.body)["id"])

        results = {"create": timed(create, requests)}
        one = f"/videos/{ids[len(ids) // 2]}"
        results["get"] = timed(lambda: client.http.get(one, headers=auth), requests)
        results["list"] = timed(lambda: client.http.get("/videos?limit=50", headers=auth), requests)
        results["health"] = timed(lambda: client.http.get("/health"), requests)
        # Baseline in the same run: the same GET with token verification replaced by a fixed
        # caller (what the route cost before access control), interleaved with the real one.
        real = routes._authenticate
        principal = real(auth["Authorization"], "")
        with_auth, without = [], []
        for _ in range(requests):
            with_auth += timed(lambda: client.http.get(one, headers=auth), 1)
            routes._authenticate = lambda header, client: principal
            without += timed(lambda: client.http.get(one, headers=auth), 1)
            routes._authenticate = real
    reset_container()
    print(f"\n== in-process API latency (chalice.test.Client, SQLite, {requests} requests each)")
    print(f"{'route':<8}{'p50 ms':>10}{'p99 ms':>10}")
    for name, samples in results.items():
        print(f"{name:<8}{pct(samples, 50):>10.3f}{pct(samples, 99):>10.3f}")
    delta = pct(with_auth, 50) - pct(without, 50)
    print(
        f"authenticated GET p50 {pct(with_auth, 50):.3f} ms vs unauthenticated "
        f"{pct(without, 50):.3f} ms: +{delta:.3f} ms (goal <= +0.3 ms)"
    )


def stored_items(total: int) -> Iterator[dict[str, Any]]:
    """`total` videos of which MATCHING are queued, spread evenly through time."""
    for i in range(total):
        now = utc_now()
        yield {
            "id": new_video_id(),
            "title": f"v{i}",
            "description": "",
            "status": "queued" if i % (total // MATCHING) == 0 else "completed",
            "sourceUrl": "s3://b/k",
            "createdAt": now,
            "updatedAt": now,
        }


def fill_sqlite(path: Path, total: int) -> SqliteVideoStore:
    from chalicelib.store.sqlite import SqliteVideoStore

    store = SqliteVideoStore(path)
    conn = store._conn()
    rows = [(i["id"], i["status"], i["createdAt"], json.dumps(i)) for i in stored_items(total)]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO videos (id, status, created_at, doc) VALUES (?,?,?,?)", rows)
    conn.execute("COMMIT")
    return store


def fill_dynamo(client: Any, total: int) -> VideoStore:
    from chalicelib.store.dynamodb import DynamoVideoStore
    from chalicelib.store.dynamodb.videos import ENTITY
    from tests.conftest import create_video_table

    table = f"bench-{uuid.uuid4().hex[:8]}"
    create_video_table(client, table)
    store = DynamoVideoStore(client, table)
    batch: list[dict[str, Any]] = []
    for item in stored_items(total):
        batch.append({"PutRequest": {"Item": store._encode({**item, "entity": ENTITY})}})
        if len(batch) == 25:
            client.batch_write_item(RequestItems={table: batch})
            batch = []
    if batch:
        client.batch_write_item(RequestItems={table: batch})
    return store


def list_latency(store: VideoStore, n: int) -> float:
    timed(lambda: store.list("queued", 50, None), 3)  # warm caches and connections
    return statistics.median(timed(lambda: store.list("queued", 50, None), n))


def scaling(small: int, large: int, n: int) -> None:
    print(f"\n== list ?status=queued&limit=50, {MATCHING} matching, median of {n}")
    print(f"{'adapter':<10}{small:>12,}{large:>12,}{'ratio':>8}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    small_db = fill_sqlite(tmp / "small.sqlite3", small)
    large_db = fill_sqlite(tmp / "large.sqlite3", large)
    a, b = list_latency(small_db, n), list_latency(large_db, n)
    print(f"{'sqlite':<10}{a:>10.3f}ms{b:>10.3f}ms{b / a:>8.2f}")
    # Baseline in the same run: the same query with the indexes switched off (a table scan).
    scan = "SELECT doc FROM videos NOT INDEXED WHERE status = ? ORDER BY created_at DESC LIMIT 50"
    a_scan = statistics.median(
        timed(lambda: small_db._conn().execute(scan, ("queued",)).fetchall(), n)
    )
    b_scan = statistics.median(
        timed(lambda: large_db._conn().execute(scan, ("queued",)).fetchall(), n)
    )
    print(
        f"{'  no index':<10}{a_scan:>10.3f}ms{b_scan:>10.3f}ms{b_scan / a_scan:>8.2f}"
        f"   (baseline: a scan; the index is {b_scan / b:.0f}x faster at {large:,})"
    )

    from tests.conftest import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        import boto3

        client = boto3.client(
            "dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1"
        )
        dn = max(3, n // 10)  # moto is slow at scale; fewer samples keep the run short
        a = list_latency(fill_dynamo(client, small), dn)
        t0 = time.perf_counter()
        big = fill_dynamo(client, large)
        fill_s = time.perf_counter() - t0
        b = list_latency(big, dn)
        print(
            f"{'dynamodb':<10}{a:>10.3f}ms{b:>10.3f}ms{b / a:>8.2f}   (moto server over HTTP; "
            f"loading {large:,} took {fill_s:.0f} s)"
        )
        print(
            "  note: moto answers a GSI Query by filtering its in-memory table, so its figure"
            " grows with the table; DynamoDB reads only the index partition. The adapter's"
            " use of Query (never Scan) is asserted in tests/store."
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a server still busy with a 100k-item table
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    api_latency(args.requests)
    scaling(args.small, args.large, args.repeat)


if __name__ == "__main__":
    main()

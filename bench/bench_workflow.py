"""Local orchestration overhead: trigger -> terminal state, minus the processor's own time.

Runs the committed state machine on the in-process engine with Wait states at 0 and a
processor that only does its store transitions (tests/e2e/workers.py, "busy:0"), so what is
left is the engine, the scaler, the capacity pool's start-up and IPC, and the finalizer.

    .venv/bin/python bench/bench_workflow.py [--sizes 1 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(sizes: list[int], repeat: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-wf-"))
    (data / "inbox").mkdir()
    os.environ.update(
        VIDEO_BACKEND="local",
        VIDEO_DATA_DIR=str(data),
        VIDEO_LOCAL_WAIT_SECONDS="0",
        VIDEO_WHISPER_MODEL="off",
    )
    os.environ.pop("VIDEO_SOURCE_ROOTS", None)
    from chalice.test import Client

    from app import app
    from chalicelib.capacity.local_pool import LocalCapacityPool
    from chalicelib.config import Settings
    from chalicelib.factory import Container, container, reset_container, use_container
    from tests.e2e.workers import busy_worker

    src = data / "inbox" / "x.mp4"
    src.write_bytes(b"x")
    body = json.dumps({"title": "busy:0", "sourceUrl": f"file://{src}"})
    print(
        f"\n== local orchestration overhead (waits at 0, processor = store transitions only; "
        f"median of {repeat})"
    )
    print(
        f"{'batch':>6}{'trigger->end s':>16}{'per video ms':>14}{'in processor s':>16}"
        f"{'throttles':>10}"
    )
    for size in sizes:
        walls, inside, throttles = [], [], []
        for _ in range(repeat):
            settings = Settings.from_env()
            pool = LocalCapacityPool(
                busy_worker, (settings,), concurrency=settings.local_env_concurrency
            )
            use_container(Container(settings, pool=pool))
            c = container()
            timings: list[float] = []
            real_invoke = pool.invoke

            def timed_invoke(event: dict[str, Any], _real=real_invoke, _t=timings) -> object:
                t0 = time.perf_counter()
                try:
                    return _real(event)
                finally:
                    _t.append(time.perf_counter() - t0)

            pool.invoke = timed_invoke  # type: ignore[method-assign]
            with Client(app, stage_name="local") as client:
                ids = [
                    json.loads(
                        client.http.post(
                            "/videos", headers={"content-type": "application/json"}, body=body
                        ).body
                    )["id"]
                    for _ in range(size)
                ]
                c.orchestrator()  # build the engine before the clock starts (first use ~2 s)
                t0 = time.perf_counter()
                resp = client.http.post(
                    "/videos/process",
                    headers={"content-type": "application/json"},
                    body=json.dumps({"videoIds": ids}),
                )
                name = json.loads(resp.body)["executionName"]
                while (
                    json.loads(client.http.get(f"/executions/{name}").body)["status"] == "RUNNING"
                ):
                    time.sleep(0.01)
                walls.append(time.perf_counter() - t0)
            # Invocations overlap up to the Map's concurrency: count the processor's share of
            # the wall clock as its total time spread over that many slots.
            slots = min(size, 5)
            inside.append(sum(timings) / slots)
            throttles.append(pool.throttles)
        wall, proc = statistics.median(walls), statistics.median(inside)
        print(
            f"{size:>6}{wall:>16.2f}{(wall - proc) / size * 1000:>14.1f}{proc:>16.2f}"
            f"{statistics.median(throttles):>10.0f}"
        )
    reset_container()
    print(
        "  overhead = trigger->end minus processor time; it includes spawning the pool's"
        " worker processes (the local stand-in for a capacity provider's scale-up)."
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run(args.sizes, args.repeat)


if __name__ == "__main__":
    main()

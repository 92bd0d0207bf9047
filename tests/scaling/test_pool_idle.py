"""The local pool keeps scaled-down environments warm for its idle period, and records every
environment's real lifetime for the capacity cost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chalicelib.capacity.local_pool import LocalCapacityPool


def pid_worker(event: dict[str, Any]) -> int:
    return os.getpid()


def wait_settled(pool: LocalCapacityPool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while pool.get_scaling().applied_min is None:
        assert time.monotonic() < deadline, "pool never settled"
        time.sleep(0.05)


def test_a_scaled_down_environment_is_taken_back_warm_then_stops() -> None:
    pool = LocalCapacityPool(pid_worker, idle_seconds=1.5)
    try:
        t0 = time.time()
        pool.set_scaling(1, 1)
        wait_settled(pool)
        first = pool.invoke({})
        pool.set_scaling(0, 0)
        assert pool.get_scaling().settled  # the scale-down is applied: the env is parked
        assert (pool.snapshot()["environments"], pool.snapshot()["idle"]) == (0, 1)
        pool.set_scaling(1, 1)  # the next batch: no cold start
        assert pool.get_scaling().settled
        assert pool.invoke({}) == first
        pool.set_scaling(0, 0)
        time.sleep(2.0)  # the idle period ends: the environment stops
        assert (pool.snapshot()["environments"], pool.snapshot()["idle"]) == (0, 0)
        t1 = time.time()
        up = pool.environment_seconds(t0, t1)
        assert 1.5 < up < t1 - t0  # one environment, up from its start to its stop
        assert pool.environment_seconds(t1, t1 + 5) == 0.0  # nothing up afterwards
    finally:
        pool.close()


def test_without_an_idle_period_scaling_down_stops_at_once() -> None:
    pool = LocalCapacityPool(pid_worker, idle_seconds=0)
    try:
        pool.set_scaling(2, 2)
        wait_settled(pool)
        t = time.time()
        assert 0 < pool.environment_seconds(t - 60, t) <= 2 * 60
        pool.set_scaling(0, 0)
        assert pool.snapshot()["idle"] == 0
        assert pool.snapshot()["environments"] == 0
        later = time.time() + 10
        assert pool.environment_seconds(later - 1, later) == 0.0  # both stopped
    finally:
        pool.close()


SERVER = """
import sys, time
from chalicelib.capacity.local_pool import LocalCapacityPool
from tests.scaling.test_pool_idle import pid_worker, wait_settled
pool = LocalCapacityPool(pid_worker, idle_seconds=300)
pool.set_scaling(1, 1)
wait_settled(pool)
print(pool.invoke({}), flush=True)
pool.set_scaling(0, 0)  # parked warm for 300 s
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_parked_environment_ends_when_its_server_is_killed() -> None:
    """A server killed outright (no atexit, no close) leaves no warm environment behind."""
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        env_pid = int(server.stdout.readline())
        assert _alive(env_pid)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    deadline = time.monotonic() + 15
    while _alive(env_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(env_pid)

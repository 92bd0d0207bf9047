"""The scaler: the Lambda scaling-config API (botocore Stubber) and lease-safe scale-to-zero."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.capacity.base import CapacityController, ScalingState
from chalicelib.capacity.lambda_api import QUALIFIER, LambdaCapacity
from chalicelib.config import Settings
from chalicelib.errors import DependencyError, ValidationError
from chalicelib.store.sqlite import SqliteVideoStore
from chalicelib.tasks.scaler import POOL, Scaler


class RecordingCapacity(CapacityController):
    """Test double: applies every request at once and records the history."""

    def __init__(self) -> None:
        self.history: list[tuple[int, int]] = []
        self.current = (0, 0)
        self.lock = threading.Lock()

    def set_scaling(self, min_envs: int, max_envs: int) -> None:
        with self.lock:
            self.current = (min_envs, max_envs)
            self.history.append(self.current)

    def get_scaling(self) -> ScalingState:
        lo, hi = self.current
        return ScalingState(lo, hi, lo, hi)


@pytest.fixture
def store(tmp_path: Path) -> SqliteVideoStore:
    return SqliteVideoStore(tmp_path / "v.sqlite3")


def make_scaler(store: Any, capacity: CapacityController, **settings: Any) -> Scaler:
    return Scaler(store, capacity, Settings(**settings), clock=lambda: 1000.0)


# --- Lambda adapter, against the real API shapes ------------------------------------------
def test_lambda_adapter_puts_and_reads_scaling_config() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    capacity = LambdaCapacity(client, "video-processor")
    with Stubber(client) as stub:
        stub.add_response(
            "put_function_scaling_config",
            {"FunctionState": "Active"},
            {
                "FunctionName": "video-processor",
                "Qualifier": QUALIFIER,
                "FunctionScalingConfig": {
                    "MinExecutionEnvironments": 2,
                    "MaxExecutionEnvironments": 5,
                },
            },
        )
        stub.add_response(
            "get_function_scaling_config",
            {
                "FunctionArn": "arn:aws:lambda:us-east-1:1:function:video-processor",
                "RequestedFunctionScalingConfig": {
                    "MinExecutionEnvironments": 2,
                    "MaxExecutionEnvironments": 5,
                },
            },
            {"FunctionName": "video-processor", "Qualifier": QUALIFIER},
        )
        stub.add_response(
            "get_function_scaling_config",
            {
                "FunctionArn": "arn:aws:lambda:us-east-1:1:function:video-processor",
                "RequestedFunctionScalingConfig": {
                    "MinExecutionEnvironments": 2,
                    "MaxExecutionEnvironments": 5,
                },
                "AppliedFunctionScalingConfig": {
                    "MinExecutionEnvironments": 2,
                    "MaxExecutionEnvironments": 5,
                },
            },
            {"FunctionName": "video-processor", "Qualifier": QUALIFIER},
        )
        capacity.set_scaling(2, 5)
        pending = capacity.get_scaling()
        applied = capacity.get_scaling()
        stub.assert_no_pending_responses()
    assert not pending.settled
    assert applied.settled
    assert (applied.applied_min, applied.applied_max) == (2, 5)


def test_scaler_status_polls_until_applied(store: SqliteVideoStore) -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    scaler = make_scaler(store, LambdaCapacity(client, "proc"), capacity_max_polls=2)
    requested = {"MinExecutionEnvironments": 2, "MaxExecutionEnvironments": 5}
    with Stubber(client) as stub:
        stub.add_response("put_function_scaling_config", {"FunctionState": "Pending"})
        for _ in range(2):
            stub.add_response(
                "get_function_scaling_config", {"RequestedFunctionScalingConfig": requested}
            )
        stub.add_response(
            "get_function_scaling_config",
            {
                "RequestedFunctionScalingConfig": requested,
                "AppliedFunctionScalingConfig": requested,
            },
        )
        assert scaler.handle({"action": "acquire", "executionId": "e1"})["leases"] == 1
        first = scaler.handle({"action": "status", "executionId": "e1", "attempt": 0})
        assert (first["ready"], first["attempt"], first["exhausted"]) == (False, 1, False)
        second = scaler.handle({"action": "status", "executionId": "e1", "attempt": 1})
        assert (second["ready"], second["exhausted"]) == (False, True)  # bounded polling
        third = scaler.handle({"action": "status", "executionId": "e1", "attempt": 0})
        assert third["ready"] is True


def test_scaler_surfaces_api_errors(store: SqliteVideoStore) -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    scaler = make_scaler(store, LambdaCapacity(client, "proc"))
    with Stubber(client) as stub:
        stub.add_client_error("put_function_scaling_config", "TooManyRequestsException")
        with pytest.raises(DependencyError, match="TooManyRequestsException") as raised:
            scaler.handle({"action": "acquire", "executionId": "e1"})
    assert isinstance(raised.value.__cause__, client.exceptions.TooManyRequestsException)


# --- leases -----------------------------------------------------------------------------
def test_last_release_scales_to_zero(store: SqliteVideoStore) -> None:
    cap = RecordingCapacity()
    scaler = make_scaler(store, cap)
    scaler.acquire("a")
    scaler.acquire("b")
    assert scaler.release("a") == {"leases": 1, "scaledToZero": False}
    assert cap.current == (2, 5)  # b still needs it
    assert scaler.release("b") == {"leases": 0, "scaledToZero": True}
    assert cap.current == (0, 0)


def test_release_reconciles_when_work_arrives_during_scale_down(store: SqliteVideoStore) -> None:
    class RacingCapacity(RecordingCapacity):
        """An acquire lands right after the releaser decided to scale to zero."""

        raced = False

        def set_scaling(self, min_envs: int, max_envs: int) -> None:
            super().set_scaling(min_envs, max_envs)
            if (min_envs, max_envs) == (0, 0) and not self.raced:
                self.raced = True
                store.acquire_lease(POOL, "late", 1e12, 0)

    cap = RacingCapacity()
    scaler = make_scaler(store, cap)
    scaler.acquire("a")
    out = scaler.release("a")
    assert out == {"leases": 1, "scaledToZero": False}
    assert cap.current == (2, 5)
    assert cap.history[-2:] == [(0, 0), (2, 5)]


def test_status_heals_a_scale_down_under_live_leases(store: SqliteVideoStore) -> None:
    cap = RecordingCapacity()
    scaler = make_scaler(store, cap)
    scaler.acquire("a")
    cap.set_scaling(0, 0)  # somebody else scaled to zero
    out = scaler.status(0)
    assert out["ready"] is False
    assert cap.current == (2, 5)


def test_expired_lease_does_not_pin_capacity(store: SqliteVideoStore) -> None:
    cap = RecordingCapacity()
    crashed = Scaler(store, cap, Settings(lease_ttl_seconds=60), clock=lambda: 0.0)
    crashed.acquire("crashed-execution")  # never releases
    later = Scaler(store, cap, Settings(lease_ttl_seconds=60), clock=lambda: 1000.0)
    later.acquire("b")
    assert later.release("b") == {"leases": 0, "scaledToZero": True}
    assert cap.current == (0, 0)


def test_many_overlapping_executions_end_at_zero(store: SqliteVideoStore) -> None:
    cap = RecordingCapacity()
    scaler = make_scaler(store, cap)
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(scaler.acquire, [f"e{i}" for i in range(20)]))
        results = list(pool.map(scaler.release, [f"e{i}" for i in range(20)]))
    assert sum(r["scaledToZero"] for r in results) >= 1
    assert store.live_leases(POOL, 1000.0) == 0
    assert cap.current == (0, 0)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"action": "explode", "executionId": "e"},
        {"action": "acquire"},
        {"action": "status", "attempt": -1},
        {"action": "status", "attempt": "x"},
    ],
)
def test_bad_events_are_rejected(store: SqliteVideoStore, event: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_scaler(store, RecordingCapacity()).handle(event)

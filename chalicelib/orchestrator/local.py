"""Local adapter: runs the committed state machine in-process (moto's ASL interpreter).

Its Lambda tasks are bound to this app's own functions: the scaler and the finalizer run
in-process, the processor runs in the local capacity pool's worker processes, and is
throttled exactly as Lambda would be when the pool has no free environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chalicelib.capacity.local_pool import EnvironmentFailed, LocalCapacityPool, Throttled
from chalicelib.orchestrator.base import Orchestrator, execution_view
from chalicelib.orchestrator.definition import DEFINITION_PATH


class LocalOrchestrator(Orchestrator):
    def __init__(
        self,
        pool: LocalCapacityPool,
        scaler: Callable[[Mapping[str, Any]], Any],
        finalizer: Callable[[Mapping[str, Any]], Any],
        wait_seconds: float,
        retry_scale: float = 0.05,
        definition_path: Path = DEFINITION_PATH,
    ) -> None:
        from chalicelib.orchestrator.engine import FunctionError, LocalWorkflowEngine

        def processor(event: dict[str, Any]) -> Any:
            try:
                return pool.invoke(event)
            except Throttled as exc:
                raise FunctionError(Throttled.error_type, str(exc)) from None
            except EnvironmentFailed as exc:
                raise FunctionError("Runtime.ExitError", str(exc)) from None

        self._engine = LocalWorkflowEngine(
            definition_path.read_text(),
            {"scaler": scaler, "processor": processor, "finalizer": finalizer},
            wait_seconds=wait_seconds,
            retry_scale=retry_scale,
        )
        self._arns: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, name: str, video_ids: list[str]) -> str:
        arn = self._engine.start({"videoIds": video_ids}, name=name)
        with self._lock:
            self._arns[name] = arn
        return arn

    def describe(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            arn = self._arns.get(name)
        return None if arn is None else execution_view(self._engine.describe(arn))

    def wait(self, name: str, timeout: float) -> dict[str, Any]:
        with self._lock:
            arn = self._arns[name]
        return execution_view(self._engine.wait(arn, timeout))

    def close(self) -> None:
        self._engine.close()

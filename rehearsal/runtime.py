"""A function's execution environments: spawned processes that import `app.py` with only that
function's environment (its synthesized variables and its own principal's keys) and run its
handler on each event, as the Lambda runtime would. Every SDK call the handler makes is
recorded (rehearsal.calls) and sent back with the result.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import sys
import threading
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rehearsal.calls import Call

REPO_ROOT = Path(__file__).resolve().parents[1]


class FunctionError(Exception):
    """The handler raised (Lambda's unhandled function error)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class LambdaContext:
    """The few context attributes handlers read."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _serve(conn: Connection, env: dict[str, str], handler: str, name: str, log: str) -> None:
    """The environment's main loop (in the spawned process)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.clear()
    os.environ.update(env)
    sys.path[:0] = env.get("PYTHONPATH", str(REPO_ROOT)).split(os.pathsep)
    import boto3
    import botocore

    print(f"{name}: botocore {botocore.__version__} from {botocore.__file__}", flush=True)

    from rehearsal.calls import CallRecorder

    boto3.setup_default_session()
    recorder = CallRecorder()
    recorder.attach(boto3.DEFAULT_SESSION.events)  # type: ignore[union-attr]
    import app

    function = getattr(app, handler)
    while True:
        event = conn.recv()
        if event is None:
            return
        context = LambdaContext(name, uuid.uuid4().hex)
        try:
            result: Any = ("ok", function(event, context))
        except Exception as exc:
            traceback.print_exc()
            result = ("error", (type(exc).__name__, str(exc)))
        conn.send((*result, [call.to_wire() for call in recorder.drain()]))


class Environment:
    """One execution environment (a process) of a function; one invocation at a time."""

    def __init__(self, name: str, handler: str, env: Mapping[str, str], log: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve, args=(child, dict(env), handler, name, str(log)), daemon=True
        )
        self._process.start()
        child.close()

    def invoke(self, event: Any) -> tuple[Any, list[Call]]:
        """Run the handler once; raise FunctionError if it raised. Returns its calls too."""
        self._conn.send(event)
        try:
            kind, value, wire = self._conn.recv()
        except EOFError:
            raise FunctionError("Runtime.ExitError", "the environment died") from None
        calls = [Call.from_wire(c) for c in wire]
        if kind == "error":
            raise FunctionErrorWithCalls(value[0], value[1], calls)
        return value, calls

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)


class FunctionErrorWithCalls(FunctionError):
    def __init__(self, error_type: str, message: str, calls: list[Call]) -> None:
        super().__init__(error_type, message)
        self.calls = calls


class Function:
    """A function with `environments` execution environments: an invocation waits for a free
    one (Lambda MI with per-environment concurrency 1 queues the same way, or throttles)."""

    def __init__(
        self, name: str, handler: str, env: Mapping[str, str], logs: Path, environments: int = 1
    ) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        self._idle: queue.Queue[Environment] = queue.Queue()
        self._all = [Environment(name, handler, env, self.log) for _ in range(environments)]
        for environment in self._all:
            self._idle.put(environment)
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.invocations = 0

    def invoke(self, event: Any) -> Any:
        environment = self._idle.get()
        try:
            result, calls = environment.invoke(event)
        except FunctionErrorWithCalls as exc:
            self._record(exc.calls)
            raise
        finally:
            self._idle.put(environment)
        self._record(calls)
        return result

    def _record(self, calls: list[Call]) -> None:
        with self._lock:
            self.calls.extend(calls)
            self.invocations += 1

    def close(self) -> None:
        for environment in self._all:
            environment.close()

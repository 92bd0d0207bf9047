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

    def invoke(self, event: Any) -> tuple[str, Any, list[Call]]:
        """Run the handler once: ("ok", its result, its calls) or ("error", (type, message),
        its calls)."""
        self._conn.send(event)
        try:
            kind, value, wire = self._conn.recv()
        except EOFError:
            return "error", ("Runtime.ExitError", "the environment died"), []
        return kind, value, [Call.from_wire(c) for c in wire]

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)


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
        """The handler's result; its error raised as the workflow engine's FunctionError (the
        error name is the exception's type, as Lambda reports it to Step Functions)."""
        environment = self._idle.get()
        try:
            kind, value, calls = environment.invoke(event)
        finally:
            self._idle.put(environment)
        self._record(calls)
        if kind == "error":
            from chalicelib.orchestrator.engine import FunctionError

            raise FunctionError(*value)
        return value

    def _record(self, calls: list[Call]) -> None:
        with self._lock:
            self.calls.extend(calls)
            self.invocations += 1

    def close(self) -> None:
        for environment in self._all:
            environment.close()

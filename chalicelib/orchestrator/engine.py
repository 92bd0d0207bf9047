"""Run the committed state-machine definition in-process on moto's ASL interpreter (local mode).

Local-only: import it lazily, never on a Lambda path (it pulls moto). The interpreter is moto's
port of LocalStack's, entered through `mock_aws` with `execute_state_machine`. Three moto internals
are patched, process-wide and once, while at least one engine is open (pinned to moto 5.2.5; the
canary test `tests/workflow/test_workflow_moto_canary.py` fails loudly if an upgrade moves them):

* `LambdaSimpleBackend.invoke`: routes the engine's fake function ARNs to Python callables;
* `WaitFunction._wait_interval`: a Wait state sleeps the engine's `wait_seconds` instead of its own;
* `RetrierDecl._eval_body` (and its module's `time.sleep`): Retry intervals scaled by `retry_scale`.

Patches route by ARN (functions) and by state-machine ARN (timings), so several engines can be
open at once; ARNs of anything else fall through to moto's own behaviour.

Global side effects while an engine is open (mock_aws patches botocore for the whole process):
boto3 clients *without* an `endpoint_url` that talk to AWS service hostnames are answered by moto.
Clients with an explicit `endpoint_url` on 127.0.0.1/localhost (e.g. DynamoDB on a moto *server*)
are passed through untouched. Do not set the global `AWS_ENDPOINT_URL` variable while an engine
runs: moto's own internal Lambda client would follow it (`AWS_ENDPOINT_URL_DYNAMODB` is fine).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.common.retry import (
    retrier_decl as _retrier_module,
)
from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.utils import TMP_THREADS

from chalicelib.orchestrator.definition import (
    FUNCTION_PLACEHOLDERS,
    function_substitutions,
    substitute,
)

LOG = logging.getLogger(__name__)

MOTO_VERSION = "5.2.5"  # the internals patched here were read from this exact version
ACCOUNT_ID = "123456789012"  # moto's default account
# The reference wait of the definition: retry sleeps scale with wait_seconds relative to it.
_REFERENCE_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.01
_LOCAL_URLS = [r"https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/.*)?$"]


class FunctionError(Exception):
    """Raised by an invoker to make the Task fail with `error_type` (matched by Retry/Catch)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class _Timing:
    wait_seconds: float
    retry_scale: float


class _MotoRuntime:
    """Process-wide: one `mock_aws` and the patches, shared by all open engines (refcounted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._mock: Any = None
        self._saved: dict[str, Any] = {}
        self.functions: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.timings: dict[str, _Timing] = {}
        self.local = threading.local()

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                self._start()
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._stop()

    def _start(self) -> None:
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
                "core": {
                    # Leave AWS_* env vars and boto3.DEFAULT_SESSION alone: other code in this
                    # process (e.g. a DynamoDB client for a moto server) keeps its own settings.
                    "mock_credentials": False,
                    "reset_boto3_session": False,
                    "passthrough": {"urls": list(_LOCAL_URLS), "services": []},
                    "service_whitelist": None,
                },
            }
        )
        # reset=False: do not wipe the in-process backends another mock_aws user may hold.
        self._mock.start(reset=False)
        self._saved = {
            "invoke": LambdaSimpleBackend.invoke,
            "wait": WaitFunction._wait_interval,
            "retry": RetrierDecl._eval_body,
            "time": _retrier_module.time,
        }
        LambdaSimpleBackend.invoke = _patched_invoke  # type: ignore[method-assign]
        WaitFunction._wait_interval = _patched_wait_interval  # type: ignore[method-assign]
        RetrierDecl._eval_body = _patched_retrier_eval  # type: ignore[method-assign]
        _retrier_module.time = _ScaledTime(_retrier_module.time)  # type: ignore[assignment]

    def _stop(self) -> None:
        LambdaSimpleBackend.invoke = self._saved["invoke"]  # type: ignore[method-assign]
        WaitFunction._wait_interval = self._saved["wait"]  # type: ignore[method-assign]
        RetrierDecl._eval_body = self._saved["retry"]  # type: ignore[method-assign]
        _retrier_module.time = self._saved["time"]
        self._mock.stop(remove_data=False)
        self._mock = None

    def original(self, name: str) -> Any:
        return self._saved[name]

    def timing_for(self, env: Any) -> _Timing | None:
        try:
            machine_arn = env.states.context_object.context_object_data["StateMachine"]["Id"]
        except (AttributeError, KeyError, TypeError):
            return None
        return self.timings.get(machine_arn)


_RUNTIME = _MotoRuntime()


def _error_payload(error_type: str, message: str, response_headers: Any) -> bytes:
    # What Lambda returns for an unhandled function error; moto reads errorType as the error name.
    response_headers["x-amz-function-error"] = "Unhandled"
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _patched_invoke(
    self: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> str | bytes | None:
    invoker = _RUNTIME.functions.get(function_name)
    if invoker is None:
        return _RUNTIME.original("invoke")(
            self, function_name, qualifier, body, headers, response_headers
        )
    try:
        event = json.loads(body) if body else {}
        result = invoker(event)
    except FunctionError as exc:
        return _error_payload(exc.error_type, exc.message, response_headers)
    except Exception as exc:  # any invoker error is a function error, as in Lambda
        LOG.warning("local function %s raised", function_name, exc_info=True)
        return _error_payload(type(exc).__name__, str(exc), response_headers)
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        return _error_payload("Runtime.MarshalError", str(exc), response_headers)


def _patched_wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    timing = _RUNTIME.timing_for(env)
    if timing is None:
        _RUNTIME.original("wait")(self, env, wait_seconds)
        return
    # Own loop-free wait: moto's rounds elapsed time to whole seconds and would spin on fractions.
    # The event is set when the execution stops, which ends the wait early as in moto.
    if timing.wait_seconds > 0:
        env.program_state_event.wait(timing.wait_seconds)


def _patched_retrier_eval(self: Any, env: Any) -> None:
    # The retrier sleeps with time.sleep() in this thread: remember whose execution it is.
    _RUNTIME.local.env = env
    try:
        _RUNTIME.original("retry")(self, env)
    finally:
        _RUNTIME.local.env = None


class _ScaledTime:
    """Stands in for the `time` module inside moto's retrier module; scales `sleep` per engine."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def sleep(self, seconds: float) -> None:
        env = getattr(_RUNTIME.local, "env", None)
        timing = _RUNTIME.timing_for(env) if env is not None else None
        scaled = seconds * timing.retry_scale if timing is not None else seconds
        if scaled > 0:
            self._real.sleep(scaled)


class LocalWorkflowEngine:
    """One state machine (the committed definition) on moto, with Python callables as Lambdas.

    `invokers` are keyed by "scaler", "processor", "finalizer". They run on moto's worker threads,
    several at once inside the Map state, so they must be thread-safe. A callable's return value is
    JSON-serialised; `FunctionError(name, msg)` fails the Task with error `name` (so
    `FunctionError("Lambda.TooManyRequestsException", ...)` is retried like a Lambda throttle); any
    other exception fails it with the exception's class name as the error.
    """

    def __init__(
        self,
        definition: str,
        invokers: Mapping[str, Callable[[dict[str, Any]], Any]],
        wait_seconds: float = 0.0,
        region: str = "us-east-1",
        retry_scale: float | None = None,
    ) -> None:
        unknown = set(invokers) - FUNCTION_PLACEHOLDERS.keys()
        if unknown:
            raise ValueError(
                f"unknown invoker(s): {sorted(unknown)}; expected {sorted(FUNCTION_PLACEHOLDERS)}"
            )
        if wait_seconds < 0:
            raise ValueError("wait_seconds must be >= 0")
        if retry_scale is None:
            # Short Wait states mean a test or demo: shorten Retry backoff in proportion.
            retry_scale = min(1.0, wait_seconds / _REFERENCE_WAIT_SECONDS)
        self._id = uuid.uuid4().hex[:12]
        self._region = region
        self._closed = False
        self._arns = {
            key: f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:local-{self._id}-{key}"
            for key in FUNCTION_PLACEHOLDERS
        }
        filled = substitute(definition, function_substitutions(self._arns))
        _RUNTIME.acquire()
        try:
            self._client = boto3.client(
                "stepfunctions",
                region_name=region,
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - moto needs some key
            )
            for key, invoker in invokers.items():
                _RUNTIME.functions[self._arns[key]] = invoker
            machine = self._client.create_state_machine(
                name=f"local-workflow-{self._id}",
                definition=filled,
                roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/local-workflow",
            )
            self._machine_arn: str = machine["stateMachineArn"]
            _RUNTIME.timings[self._machine_arn] = _Timing(float(wait_seconds), float(retry_scale))
        except BaseException:
            self._unregister()
            _RUNTIME.release()
            raise

    @classmethod
    def from_file(
        cls,
        path: Path,
        invokers: Mapping[str, Callable[[dict[str, Any]], Any]],
        **kwargs: Any,
    ) -> LocalWorkflowEngine:
        """An engine for the definition stored at `path` (placeholders still in it)."""
        return cls(path.read_text(encoding="utf-8"), invokers, **kwargs)

    @property
    def state_machine_arn(self) -> str:
        """ARN of the engine's state machine (inside moto)."""
        return self._machine_arn

    def start(self, input: dict[str, Any], name: str | None = None) -> str:
        """Start an execution (always named: moto needs it) and return its ARN."""
        self._check_open()
        # moto keeps every worker thread it starts in a module list; a long-lived local server would
        # grow it forever. Dropping finished ones is safe: moto only uses the list to join at exit.
        TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]
        response = self._client.start_execution(
            stateMachineArn=self._machine_arn,
            name=name or uuid.uuid4().hex,
            input=json.dumps(input),
        )
        arn: str = response["executionArn"]
        return arn

    def describe(self, execution_arn: str) -> dict[str, Any]:
        """Status of an execution, shaped like boto3's describe_execution (+ `currentState`).

        Dates are timezone-aware datetimes and `output` is a JSON string, as boto3 returns them.
        """
        result = self._describe(execution_arn)
        if result["status"] == "RUNNING":
            current = self._current_state(execution_arn)
            if current is not None:
                result["currentState"] = current
        return result

    def _describe(self, execution_arn: str) -> dict[str, Any]:
        self._check_open()
        raw = self._client.describe_execution(executionArn=execution_arn)
        result: dict[str, Any] = {
            key: raw[key]
            for key in (
                "executionArn",
                "status",
                "startDate",
                "stopDate",
                "input",
                "output",
                "error",
                "cause",
            )
            if key in raw
        }
        return result

    def wait(self, execution_arn: str, timeout: float) -> dict[str, Any]:
        """Block until the execution ends or `timeout` seconds pass; return its last description.

        On timeout the description says RUNNING: the caller decides what that means.
        """
        deadline = time.monotonic() + timeout
        # Poll the cheap status; the history walk of currentState only for the final answer.
        while self._describe(execution_arn)["status"] == "RUNNING":
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
        return self.describe(execution_arn)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's history events (moto's rendering of GetExecutionHistory)."""
        self._check_open()
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self._client.get_execution_history(**kwargs)
            events.extend(dict(event) for event in page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def close(self) -> None:
        """Stop running executions, delete the state machine and drop the patches if last."""
        if self._closed:
            return
        self._closed = True
        try:
            listing = self._client.list_executions(
                stateMachineArn=self._machine_arn, statusFilter="RUNNING"
            )
            for execution in listing.get("executions", []):
                self._client.stop_execution(
                    executionArn=execution["executionArn"],
                    error="Engine.Closed",
                    cause="The local workflow engine was closed.",
                )
            self._client.delete_state_machine(stateMachineArn=self._machine_arn)
        except Exception:  # closing must not fail the caller's shutdown
            LOG.warning("local workflow engine: cleanup failed", exc_info=True)
        finally:
            self._unregister()
            _RUNTIME.release()

    def __enter__(self) -> LocalWorkflowEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the local workflow engine is closed")

    def _unregister(self) -> None:
        for arn in self._arns.values():
            _RUNTIME.functions.pop(arn, None)
        machine_arn = getattr(self, "_machine_arn", None)
        if machine_arn is not None:
            _RUNTIME.timings.pop(machine_arn, None)

    def _current_state(self, execution_arn: str) -> str | None:
        # Best effort: the most recently entered state that has not exited yet (inside a Map that
        # is an item's state, e.g. ProcessVideo).
        try:
            events = self.history(execution_arn)
        except Exception:  # currentState is informative only
            return None
        open_states: list[str] = []
        for event in events:
            entered = event.get("stateEnteredEventDetails")
            exited = event.get("stateExitedEventDetails")
            if entered:
                open_states.append(entered["name"])
            elif exited and exited["name"] in open_states:
                # Remove the latest entry of that name (Map items repeat state names).
                index = len(open_states) - 1 - open_states[::-1].index(exited["name"])
                del open_states[index]
        return open_states[-1] if open_states else None

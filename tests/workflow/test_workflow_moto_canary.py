"""Canary: the moto internals the local engine patches are where and what they were in 5.2.5.

If one of these fails after a moto upgrade, re-read the patched functions in the new version and
adapt `chalicelib/orchestrator/engine.py` before changing the pin.
"""

from __future__ import annotations

import inspect
import json
import time
from importlib.metadata import version
from pathlib import Path

from chalicelib.orchestrator import engine as local_engine
from chalicelib.orchestrator.engine import LocalWorkflowEngine

WAIT_ONLY = json.dumps(
    {
        "StartAt": "Nap",
        "States": {
            "Nap": {"Type": "Wait", "Seconds": 30, "Next": "Call"},
            "Call": {
                "Type": "Task",
                "Resource": "${ScalerFunctionArn}",
                "Retry": [
                    {
                        "ErrorEquals": ["Flaky"],
                        "IntervalSeconds": 30,
                        "MaxAttempts": 2,
                        "BackoffRate": 2.0,
                    }
                ],
                "End": True,
            },
        },
    }
)


def test_moto_is_the_pinned_version() -> None:
    """The installed moto, every requirements pin and the version the engine's patches were
    read from must agree: an upgrade in one place fails here first."""
    import re

    root = Path(__file__).resolve().parents[2]
    pins = {
        path.name: match.group(1)
        for path in root.glob("requirements*.txt")
        if (match := re.search(r"^moto\[[^\]]*\]==([\d.]+)$", path.read_text(), re.M))
    }
    assert set(pins) == {"requirements-run.txt", "requirements-workflow.txt"}
    assert set(pins.values()) == {version("moto")} == {local_engine.MOTO_VERSION}


def test_patched_functions_keep_their_signatures() -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )

    invoke = inspect.signature(LambdaSimpleBackend.invoke).parameters
    assert list(invoke) == [
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ]
    assert list(inspect.signature(WaitFunction._wait_interval).parameters) == [
        "self",
        "env",
        "wait_seconds",
    ]
    assert list(inspect.signature(retrier_decl.RetrierDecl._eval_body).parameters) == [
        "self",
        "env",
    ]
    # The retrier sleeps through its module's `time.sleep`; the engine scales that call.
    assert "time.sleep(" in inspect.getsource(retrier_decl.RetrierDecl._eval_body)
    assert "env.program_state_event.wait(" in inspect.getsource(WaitFunction._wait_interval)
    # The engine prunes finished threads from this list.
    from moto.stepfunctions.parser.utils import TMP_THREADS

    assert isinstance(TMP_THREADS, list)


def test_function_errors_reach_retry_and_the_waits_are_overridden() -> None:
    calls: list[float] = []

    def flaky(event: dict[str, object]) -> dict[str, object]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise local_engine.FunctionError("Flaky", "first call fails")
        return {"ok": True}

    started = time.monotonic()
    with LocalWorkflowEngine(WAIT_ONLY, {"scaler": flaky}, wait_seconds=0.0) as engine:
        result = engine.wait(engine.start({}), 20)
    # A 30 s Wait and a 30 s retry interval took well under a second: both overrides are live,
    # and the named function error was matched by the Retry on that name.
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"ok": True}
    assert len(calls) == 2
    assert time.monotonic() - started < 10


def test_the_patches_are_undone_when_the_last_engine_closes() -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.models import botocore_stubber

    before = LambdaSimpleBackend.invoke
    engine = LocalWorkflowEngine(WAIT_ONLY, {"scaler": lambda event: {}})
    assert LambdaSimpleBackend.invoke is not before
    assert botocore_stubber.enabled
    engine.close()
    assert LambdaSimpleBackend.invoke is before
    assert not botocore_stubber.enabled

"""The rehearsal's rig: emulator, stack, principals, gateway, receiver, function environments
and the workflow engine, built from one synthesized template and torn down whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from rehearsal.calls import DENIED_CODES, Call
from rehearsal.emulator import MotoServer, create_principal
from rehearsal.gateway import Gateway, Principal, ScalingConfigs
from rehearsal.http_api import HttpApi
from rehearsal.policy import Policy, PolicyError, Request
from rehearsal.receiver import Receiver
from rehearsal.runtime import REPO_ROOT, Function
from rehearsal.stack import Stack, create
from rehearsal.template import FUNCTIONS, REGION, RehearsalFailure, Template, resolve

DOCKERFILE = REPO_ROOT / "infra" / "processor.Dockerfile"


@dataclass(frozen=True)
class Options:
    """What a rehearsal run varies: the segment length, the processor's environments."""

    segment_seconds: int | None = None  # None: the deployed default
    processor_environments: int = 2
    wait_seconds: float = 0.2  # the state machine's Wait states, shortened


def dockerfile_env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The `ENV` settings of the processor's image (`ENV A=1 \\ B=2` lines)."""
    text = path.read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


@dataclass
class Deviation:
    """A variable the rehearsal sets differently from the deployed function, and why."""

    function: str
    name: str
    value: str
    reason: str


@dataclass
class Findings:
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)


class Rig:
    """Everything one rehearsal runs on. Use as a context manager: it always cleans up."""

    def __init__(self, template_path: Path, options: Options) -> None:
        self.template = Template.load(template_path)
        self.options = options
        self.deviations: list[Deviation] = []
        self.findings = Findings()
        self._exit = ExitStack()
        self.workdir = Path(tempfile.mkdtemp(prefix="rehearsal-"))
        self._exit.callback(shutil.rmtree, self.workdir, ignore_errors=True)

    def __enter__(self) -> Rig:
        try:
            self._build()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit.close()

    # --- build ------------------------------------------------------------------------------
    def _build(self) -> None:
        # moto's in-process mock (the workflow engine) must be imported before any boto3
        # session exists: it hooks sessions as they are created.
        import chalicelib.orchestrator.engine  # noqa: F401

        logs = self.workdir / "logs"
        logs.mkdir()
        self.logs = logs
        self.moto = MotoServer(logs / "moto.log")
        self._exit.callback(self.moto.stop)
        self.admin = self.moto.administrator()
        self.stack: Stack = create(self.template, self.admin)
        self.principals: dict[str, Principal] = {}
        self.specs = {key: self.template.function(key) for key in FUNCTIONS}
        for key, spec in self.specs.items():
            documents = resolve(self.template.role_policies(spec.role_logical_id), self.stack.names)
            try:
                self.principals[key] = create_principal(self.admin, key, documents)
            except PolicyError as exc:
                raise RehearsalFailure(f"{key}: its policy cannot be evaluated: {exc}") from None
        by_key = {p.access_key: p for p in self.principals.values()}
        self.scaling = ScalingConfigs()
        self.gateway = Gateway(self.moto.url, by_key.get, self.scaling, self._invoke_by_name)
        self.gateway.server.start()
        self._exit.callback(self.gateway.server.stop)
        self.receiver = Receiver(self.workdir)
        self.receiver.server.start()
        self._exit.callback(self.receiver.server.stop)
        self.functions: dict[str, Function] = {}
        for key in FUNCTIONS:
            environments = self.options.processor_environments if key == "processor" else 1
            function = Function(
                key, self.specs[key].handler, self._environment(key), logs, environments
            )
            self._exit.callback(function.close)
            self.functions[key] = function
        self.api = HttpApi(
            self.template.routes(), self.functions["api"].invoke, self.stack.admin_token
        )
        self.engine = self._engine()

    def _deviate(self, env: dict[str, str], function: str, name: str, value: str, why: str) -> None:
        env[name] = value
        self.deviations.append(Deviation(function, name, value, why))

    def _environment(self, key: str) -> dict[str, str]:
        spec = self.specs[key]
        variables = resolve(
            spec.properties.get("Environment", {}).get("Variables", {}), self.stack.names
        )
        home = self.workdir / "env" / key
        (home / "tmp").mkdir(parents=True)
        principal = self.principals[key]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            # Layers first (Lambda puts /opt/python before the runtime's packages), then the code.
            "PYTHONPATH": os.pathsep.join(
                [*(str(d / "python") for d in self.template.layer_dirs(spec)), str(REPO_ROOT)]
            ),
            "AWS_ACCESS_KEY_ID": principal.access_key,
            "AWS_SECRET_ACCESS_KEY": principal.secret_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ENDPOINT_URL_S3": self.gateway.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.gateway.url,
            "AWS_LAMBDA_FUNCTION_NAME": self.stack.function_names[key],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.properties.get("MemorySize", 128)),
        }
        if key in ("processor", "renderer"):  # the same image
            env.update(dockerfile_env())
        env.update(variables)
        if "VIDEO_DATA_DIR" in env:
            self._deviate(
                env,
                key,
                "VIDEO_DATA_DIR",
                str(home / "data"),
                "the rehearsal's temp dir instead of /tmp/video-data",
            )
        if key == "processor":
            self._deviate(
                env,
                key,
                "VIDEO_WHISPER_MODEL",
                "off",
                "the image bakes the model; subtitles have their own media tests",
            )
            if self.options.segment_seconds is not None:
                self._deviate(
                    env,
                    key,
                    "VIDEO_SEGMENT_SECONDS",
                    str(self.options.segment_seconds),
                    "short segments: a quick run",
                )
        if key in ("api", "dispatcher"):
            self._deviate(
                env,
                key,
                "VIDEO_WEBHOOK_ALLOW_PRIVATE",
                "true",
                "the webhook receiver listens on loopback",
            )
        if key == "dispatcher":
            self._deviate(
                env,
                key,
                "SSL_CERT_FILE",
                str(self.receiver.cert),
                "trust the receiver's throw-away certificate",
            )
        return env

    def _engine(self) -> Any:
        from chalicelib.orchestrator.engine import LocalWorkflowEngine
        from workflow.substitute import FUNCTION_PLACEHOLDERS

        for key, placeholder in FUNCTION_PLACEHOLDERS.items():
            value = self.stack.substitutions.get(placeholder)
            if self.stack.function_arns.get(value or "") != key:
                raise RehearsalFailure(
                    f"the state machine's {placeholder} is {value!r}, not the {key} function"
                )

        engine = LocalWorkflowEngine(
            self.stack.definition,
            {key: self.functions[key].invoke for key in FUNCTION_PLACEHOLDERS},
            wait_seconds=self.options.wait_seconds,
        )
        self._exit.callback(engine.close)
        return engine

    # --- running ----------------------------------------------------------------------------
    def run_execution(self, execution_arn: str, timeout: float = 1800) -> dict[str, Any]:
        """Run an execution the API started (on the emulator) through the synthesized
        definition in the local engine, under the same name and input; its end state."""
        sfn = self.admin.client("stepfunctions")
        started = sfn.describe_execution(executionArn=execution_arn)
        name = execution_arn.rsplit(":", 1)[1]
        arn = self.engine.start(json.loads(started["input"]), name=name)
        result: dict[str, Any] = self.engine.wait(arn, timeout)
        return result

    def _invoke_by_name(self, name: str, event: Any) -> tuple[bool, Any]:
        """A function invoked through the gateway (Lambda Invoke): (ok, result or error)."""
        from chalicelib.orchestrator.engine import FunctionError

        keys = {v: k for k, v in self.stack.function_names.items()}
        if name not in keys:
            return False, ("ResourceNotFoundException", f"no function {name}")
        try:
            return True, self.functions[keys[name]].invoke(event)
        except FunctionError as exc:
            return False, (type(exc).__name__, str(exc))

    def invoke(self, key: str, event: Mapping[str, Any]) -> Any:
        return self.functions[key].invoke(dict(event))

    def deliver_to_rule(self, rule_prefix: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """What EventBridge does with `event` for the template's rule: match its pattern,
        shape each target's input (InputTransformer), invoke the target functions."""
        _, rule = self.template.one("AWS::Events::Rule", rule_prefix)
        props = resolve(rule["Properties"], self.stack.names)
        if not _matches(props.get("EventPattern", {}), event):
            raise RehearsalFailure(f"rule {rule_prefix} does not match the event it exists for")
        results = {}
        for target in props["Targets"]:
            key = self.stack.function_arns.get(target["Arn"])
            if key is None:
                raise RehearsalFailure(f"rule {rule_prefix} targets {target['Arn']}, no function")
            results[key] = self.invoke(key, _target_input(target, event))
        return results

    def scratch_keys(self, video_id: str | None = None) -> list[str]:
        prefix = f"work/{video_id}/" if video_id else "work/"
        s3 = self.admin.client("s3")
        listing = s3.list_objects_v2(Bucket=self.stack.bucket, Prefix=prefix)
        return [o["Key"] for o in listing.get("Contents", [])]

    # --- judging ----------------------------------------------------------------------------
    def judge(self) -> dict[str, list[Request]]:
        """Every recorded call checked (moto's verdict and the policy's); the allowed IAM
        requests of each function."""
        used: dict[str, list[Request]] = {}
        for key, function in self.functions.items():
            failures, used[key] = judge_calls(key, function.calls, self.principals[key].policy)
            self.findings.failures += failures
        for replay in self.gateway.presigned:
            if replay.status in (401, 403):
                self.findings.fail(f"{replay.function}: AccessDenied (presigned) {replay.request}")
        return used


def judge_calls(
    function: str, calls: list[Call], policy: Policy
) -> tuple[list[str], list[Request]]:
    """(failures naming function, action and resource; the allowed requests) of one
    function's recorded calls: the emulator's refusals and the policy's verdict on each IAM
    request, conditions included."""
    failures: list[str] = []
    used: list[Request] = []
    for call in calls:
        how = f"{'presigned ' if call.presigned else ''}{call.service}.{call.operation}"
        if call.error in DENIED_CODES:
            failures.append(
                f"{function}: {call.error} from the emulator on {how}: "
                + "; ".join(map(str, call.requests))
            )
        for request in call.requests:
            try:
                allowed = policy.allows(request)
            except PolicyError as exc:
                failures.append(f"{function}: {request}: {exc}")
                continue
            if allowed:
                used.append(request)
            else:
                failures.append(f"{function}: AccessDenied {request} ({how})")
    return failures, used


def _matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge's pattern match for the exact-value lists and nested fields rules use."""
    for key, wanted in pattern.items():
        value = event.get(key)
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not _matches(wanted, value):
                return False
        elif value not in wanted:
            return False
    return True


def _target_input(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    if "Input" in target:
        return json.loads(target["Input"])
    transformer = target.get("InputTransformer")
    if transformer is None:
        return dict(event)
    text = transformer["InputTemplate"]
    for name, path in transformer.get("InputPathsMap", {}).items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        text = text.replace(f"<{name}>", json.dumps(value))
    return json.loads(text)


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RehearsalFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)

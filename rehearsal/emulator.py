"""moto's server with IAM enforcement, an administrator for the rehearsal's own calls, and one
IAM user per function carrying that function's policy.

Enforcement starts after `FREE_CALLS` requests (`INITIAL_NO_AUTH_ACTION_COUNT`): exactly the
three that create the administrator. From then on every request is signed by a known user and
judged by its policy.

moto judges S3 requests on their real resource ARNs, but every other service's request on the
resource "*" (moto 5.2.5 passes no resource for them). A function's user therefore carries its
S3 statements as synthesized and, for other services, the same actions on "*" (plus the names
moto gives operations IAM authorizes per item, e.g. dynamodb:TransactWriteItems); the
rehearsal's own evaluator checks those calls' resources and conditions instead. moto also
authorizes a DeleteObjects request as s3:DeleteObject on the *bucket* (real S3: on each key), so
a prefix-scoped s3:DeleteObject grant is also given on the bucket ARN in moto's form; each key
of a DeleteObjects is still judged on its own by the evaluator.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import boto3

from rehearsal.gateway import Principal
from rehearsal.policy import Policy
from rehearsal.template import REGION, RehearsalFailure

FREE_CALLS = 3
# Operations moto authorizes under their own name where IAM authorizes each item's action.
_MOTO_NAMES = {
    "dynamodb:TransactWriteItems": (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ),
    "dynamodb:TransactGetItems": ("dynamodb:GetItem",),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """`moto_server` on loopback, IAM enforced after the administrator exists."""

    def __init__(self, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        if exe is None:
            raise RehearsalFailure("moto_server is not installed next to this Python")
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(FREE_CALLS)}
        self._log = log.open("ab")
        self._process = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RehearsalFailure("moto_server exited at start")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RehearsalFailure(f"moto_server did not listen within {timeout} s")

    def administrator(self) -> boto3.Session:
        """Create the administrator with the free calls; its session for everything else."""
        iam = boto3.Session().client(
            "iam",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",  # noqa: S106 - the emulator's free calls
        )
        iam.create_user(UserName="rehearsal-admin")
        iam.put_user_policy(
            UserName="rehearsal-admin",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="rehearsal-admin")["AccessKey"]
        return self.session(key["AccessKeyId"], key["SecretAccessKey"])

    def session(self, access_key: str, secret_key: str) -> boto3.Session:
        return _EndpointSession(self.url, access_key, secret_key)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._log.close()


class _EndpointSession(boto3.Session):
    """A session whose clients all talk to the emulator."""

    def __init__(self, url: str, access_key: str, secret_key: str) -> None:
        super().__init__(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=REGION
        )
        self._url = url

    def client(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", self._url)
        return super().client(*args, **kwargs)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def moto_form(documents: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The policy moto can enforce for these documents (see the module's docstring)."""
    statements: list[dict[str, Any]] = []
    for document in documents:
        for statement in _as_list(document["Statement"]):
            if statement["Effect"] != "Allow":
                raise RehearsalFailure("Deny statements are not rehearsed")
            actions = _as_list(statement["Action"])
            s3 = [a for a in actions if a.startswith("s3:")]
            other = [a for a in actions if not a.startswith("s3:")]
            if s3:
                statements.append({**statement, "Action": s3})
                if "s3:DeleteObject" in s3:
                    buckets = sorted({r.split("/", 1)[0] for r in _as_list(statement["Resource"])})
                    statements.append(
                        {"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": buckets}
                    )
            if other:
                other += [
                    alias for alias, parts in _MOTO_NAMES.items() if any(p in other for p in parts)
                ]
                statements.append({"Effect": "Allow", "Action": other, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def create_principal(
    admin: boto3.Session, function: str, documents: list[Mapping[str, Any]]
) -> Principal:
    """An IAM user for `function` with its policy (moto's form attached, the real one kept)."""
    iam = admin.client("iam")
    user = f"rehearsal-{function}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user, PolicyName="role-policy", PolicyDocument=json.dumps(moto_form(documents))
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return Principal(
        function, key["AccessKeyId"], key["SecretAccessKey"], Policy.from_documents(documents)
    )

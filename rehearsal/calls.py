"""What IAM authorizes for each SDK call a function makes, and the recorder that sees them.

`iam_requests` turns one botocore operation and its parameters into the IAM requests AWS
evaluates for it (per the service authorization reference): a HeadObject is s3:GetObject, a
ListObjectsV2 is s3:ListBucket with the s3:prefix context key, a TransactWriteItems is one
PutItem/UpdateItem/... per item on that item's table, a CopyObject reads its source too.
`CallRecorder` hooks a boto3 session and records every call and presign with its outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote

from rehearsal.policy import Request
from rehearsal.template import ACCOUNT, REGION

_S3_OBJECT_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
}


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _table_arn(name: str, index: str | None = None) -> str:
    base = name if name.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{base}/index/{index}" if index else base


def _copy_source(source: Any) -> str:
    if isinstance(source, dict):
        return _object_arn(source["Bucket"], source["Key"])
    bucket, _, key = unquote(str(source)).lstrip("/").partition("/")
    return _object_arn(bucket, key.split("?versionId=")[0])


def _s3(operation: str, params: dict[str, Any]) -> list[Request]:
    bucket = params.get("Bucket", "")
    if operation in ("CopyObject", "UploadPartCopy"):
        return [
            Request("s3:GetObject", _copy_source(params["CopySource"])),
            Request("s3:PutObject", _object_arn(bucket, params["Key"])),
        ]
    if operation == "DeleteObjects":
        return [
            Request("s3:DeleteObject", _object_arn(bucket, o["Key"]))
            for o in params["Delete"]["Objects"]
        ]
    if operation in _S3_OBJECT_ACTIONS:
        action = _S3_OBJECT_ACTIONS[operation]
        if params.get("VersionId") and action in ("s3:GetObject", "s3:DeleteObject"):
            action += "Version"  # a call naming a version needs the *Version action (IAM)
        return [Request(action, _object_arn(bucket, params["Key"]))]
    action = _S3_BUCKET_ACTIONS.get(operation, f"s3:{operation}")
    context = {"s3:prefix": params["Prefix"]} if "Prefix" in params else {}
    return [Request(action, f"arn:aws:s3:::{bucket}", context)]


def _dynamodb(operation: str, params: dict[str, Any]) -> list[Request]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            Request(_TRANSACT_ACTIONS[kind], _table_arn(body["TableName"]))
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [
            Request(f"dynamodb:{operation}", _table_arn(table)) for table in params["RequestItems"]
        ]
    return [
        Request(f"dynamodb:{operation}", _table_arn(params["TableName"], params.get("IndexName")))
    ]


def _lambda(operation: str, params: dict[str, Any]) -> list[Request]:
    name = params["FunctionName"]
    arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    if params.get("Qualifier"):
        arn = f"{arn}:{params['Qualifier']}"
    action = "InvokeFunction" if operation == "Invoke" else operation  # the API vs IAM names
    return [Request(f"lambda:{action}", arn)]


def _events(operation: str, params: dict[str, Any]) -> list[Request]:
    buses = {entry.get("EventBusName") or "default" for entry in params.get("Entries", [])}
    return [
        Request(
            f"events:{operation}",
            bus if bus.startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}",
        )
        for bus in sorted(buses)
    ]


def _states(operation: str, params: dict[str, Any]) -> list[Request]:
    arn = params.get("executionArn") or params.get("stateMachineArn") or "*"
    return [Request(f"states:{operation}", arn)]


def _secrets(operation: str, params: dict[str, Any]) -> list[Request]:
    return [Request(f"secretsmanager:{operation}", params["SecretId"])]


_SERVICES: dict[str, Callable[[str, dict[str, Any]], list[Request]]] = {
    "s3": _s3,
    "dynamodb": _dynamodb,
    "lambda": _lambda,
    "events": _events,
    "sfn": _states,
    "secretsmanager": _secrets,
}


def iam_requests(service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    """The IAM requests one SDK call is authorized by (`service` is botocore's endpoint prefix
    or service name: s3, dynamodb, lambda, events, sfn/states, secretsmanager)."""
    translate = _SERVICES.get(service) or _SERVICES.get({"states": "sfn"}.get(service, ""))
    if translate is None:
        # An unknown service: the action is its name; the resource cannot be known: "*".
        return [Request(f"{service}:{operation}", "*")]
    return translate(operation, params)


@dataclass
class Call:
    """One SDK call (or presign) a function made, with its IAM requests and outcome."""

    service: str
    operation: str
    requests: list[Request]
    presigned: bool = False
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        data = asdict(self)
        data["requests"] = [
            {"action": r.action, "resource": r.resource, "context": dict(r.context)}
            for r in self.requests
        ]
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Call:
        requests = [Request(r["action"], r["resource"], r["context"]) for r in data["requests"]]
        return cls(data["service"], data["operation"], requests, data["presigned"], data["error"])


class CallRecorder:
    """Records every call made through one botocore session's clients (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def attach(self, events: Any) -> None:
        """Register on a session's event system (before any client is created)."""
        events.register("before-parameter-build", self._before)
        events.register("after-call", self._after)

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        service = model.service_model.endpoint_prefix
        if service == "states":
            service = "sfn"
        call = Call(
            service,
            model.name,
            iam_requests(service, model.name, params),
            presigned=bool(context.get("is_presign_request")),
        )
        with self._lock:
            self._calls.append(call)
        context["rehearsal_call"] = call

    def _after(self, http_response: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
        call = context.get("rehearsal_call")
        if call is not None and http_response.status_code >= 400:
            call.error = str(
                (parsed or {}).get("Error", {}).get("Code") or http_response.status_code
            )

    def drain(self) -> list[Call]:
        with self._lock:
            calls, self._calls = self._calls, []
        return calls

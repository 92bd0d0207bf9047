"""What each function may do, once, for both deploy paths.

The CDK stack (stack.py) and the Chalice policy files (chalice_files.py) render their IAM
statements from `ACCESS`; `make rehearse` checks the result in both directions (every call a
function makes is granted, every grant is used or explained in rehearsal/allowlist.py).

To give a function a new S3 action, add it to that function's `objects` below (one
`ObjectAccess` per key prefix), then run `make chalice-files` and `make rehearse`.
Pure Python on purpose: no CDK import, so the generator and the tests load it cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UPLOADS_PREFIX = "uploads/"  # sources: presigned PUTs land here, the processor reads them
OUTPUTS_PREFIX = "videos/"  # results: the processor writes them, the API presigns reads
SCRATCH_PREFIX = "work/"  # segmented runs' scratch: work/{videoId}/{runId}/ (processor only)
SCRATCH_EXPIRY_DAYS = 2  # the lifecycle rule's safety net for scratch a crash left behind

# The service's secrets (Secrets Manager), and the variable that hands a function a secret's ARN
# (never its value: chalicelib/secret_store.py reads it once per process). A function gets the
# variable and `secretsmanager:GetSecretValue` for exactly the secrets its `secrets` names.
ADMIN_TOKEN = "admin-token"  # noqa: S105 - a secret's name
CURSOR_KEY = "cursor-key"
SIGNING_KEY = "signing-key"
SECRET_ARN_VARIABLES = {
    ADMIN_TOKEN: "VIDEO_ADMIN_TOKEN_SECRET_ARN",
    CURSOR_KEY: "VIDEO_CURSOR_SECRET_ARN",
    SIGNING_KEY: "VIDEO_SIGNING_SECRET_ARN",
}


@dataclass(frozen=True)
class ObjectAccess:
    """S3 object actions under one key prefix of the media bucket."""

    sid: str
    prefix: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class FunctionAccess:
    """One function's grants, by kind of resource (each kind becomes one statement)."""

    table_items: tuple[str, ...] = ()  # DynamoDB item actions on the table itself
    index_queries: tuple[str, ...] = ()  # indexes it Queries (never the table)
    objects: tuple[ObjectAccess, ...] = ()
    list_prefixes: tuple[str, ...] = ()  # s3:ListBucket, only under these prefixes
    # s3:ListBucketMultipartUploads on the bucket (IAM has no prefix condition for it)
    list_multipart_uploads: bool = False
    start_executions: bool = False
    describe_executions: bool = False
    processor_scaling: tuple[str, ...] = ()  # lambda:*FunctionScalingConfig on the processor
    secrets: tuple[str, ...] = ()  # secrets it reads (SECRET_ARN_VARIABLES' keys)
    put_events: bool = False  # events:PutEvents on the service's bus
    invoke_renderer: bool = False  # lambda:InvokeFunction on the renderer (images on demand)


ITEM_WRITES = ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem")
GET, PUT, DELETE = "s3:GetObject", "s3:PutObject", "s3:DeleteObject"
ABORT = "s3:AbortMultipartUpload"
PRESIGN_OUTPUTS = ObjectAccess("PresignOutputs", OUTPUTS_PREFIX, (GET,))
# Images rendered on demand are files of a run named img-<hash>.<ext> (chalicelib/tasks/render.py).
RENDERS = f"{OUTPUTS_PREFIX}*/img-"

ACCESS: dict[str, FunctionAccess] = {
    # The API: items and the indexes (create, list, transition with its events in one
    # TransactWriteItems, tokens, webhooks), presigned reads of outputs, presigned PUTs and
    # multipart uploads under uploads/ and a HeadObject there (a missing source is a 400).
    "api": FunctionAccess(
        table_items=(*ITEM_WRITES, "dynamodb:DeleteItem"),
        # Lists are per workspace: CreatedIndex (all of a workspace's videos, tokens,
        # deliveries), WorkspaceStatusIndex (?status=). StatusIndex spans workspaces: only
        # the dispatcher (pending deliveries) and local start-up use it.
        index_queries=("CreatedIndex", "WorkspaceStatusIndex"),
        objects=(
            PRESIGN_OUTPUTS,
            # s3:PutObject also covers CreateMultipartUpload, UploadPart (presigned) and
            # CompleteMultipartUpload; resumable uploads also list and abort parts.
            ObjectAccess(
                "PresignUploads",
                UPLOADS_PREFIX,
                (PUT, GET, "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"),
            ),
        ),
        # HeadObject of a missing key: 404, not 403 (a source; a render not cached yet)
        list_prefixes=(UPLOADS_PREFIX, OUTPUTS_PREFIX),
        # bytes in flight per workspace: its open multipart uploads (listed under its
        # uploads/ prefix, then their parts: ListMultipartUploadParts above)
        list_multipart_uploads=True,
        start_executions=True,
        describe_executions=True,
        processor_scaling=("lambda:GetFunctionScalingConfig",),  # GET /capacity, read-only
        secrets=(ADMIN_TOKEN, CURSOR_KEY, SIGNING_KEY),
        invoke_renderer=True,  # GET /videos/{id}/thumbnail.*, animated.*: a render not cached
    ),
    # The renderer: reads a run's top rendition (through a URL it presigns: ranged GETs, one
    # GOP) and writes the render beside it; nothing else of the bucket, no table.
    "renderer": FunctionAccess(
        objects=(
            ObjectAccess("ReadRenditions", OUTPUTS_PREFIX, (GET,)),
            ObjectAccess("WriteRenders", RENDERS, (PUT,)),
        ),
    ),
    # The processor: sources under uploads/, outputs under videos/ (written, old runs
    # deleted), and its segmented runs' scratch under work/.
    "processor": FunctionAccess(
        table_items=ITEM_WRITES,
        objects=(
            # GetObjectVersion: the download is pinned to the version it checked (HeadObject),
            # so an overwrite between the size check and the read cannot swap the object.
            ObjectAccess("ReadSources", UPLOADS_PREFIX, (GET, "s3:GetObjectVersion")),
            # Outputs: written (PutObject, CopyObject from work/, the MP4s streamed in a
            # multipart upload, aborted when ffmpeg fails), read back (the streamed MP4s are
            # measured and the poster/vision read from the top rendition), old runs deleted.
            ObjectAccess("WriteOutputs", OUTPUTS_PREFIX, (GET, PUT, DELETE, ABORT)),
            # Scratch: results, the remuxed source (a streamed multipart upload) and segments.
            ObjectAccess("Scratch", SCRATCH_PREFIX, (GET, PUT, DELETE, ABORT)),
        ),
        list_prefixes=(OUTPUTS_PREFIX, SCRATCH_PREFIX),
    ),
    # The scaler: its lease item, and the processor's $LATEST.PUBLISHED scaling.
    "scaler": FunctionAccess(
        table_items=ITEM_WRITES,
        processor_scaling=(
            "lambda:PutFunctionScalingConfig",
            "lambda:GetFunctionScalingConfig",
        ),
    ),
    # The finalizer: marks a batch's unfinished videos failed (a transition and its events).
    "finalizer": FunctionAccess(table_items=ITEM_WRITES),
    # The webhook dispatcher: the outbox and deliveries, presigned output URLs in event
    # bodies, the stream URLs' signing key (never the admin token: it calls arbitrary URLs),
    # and the event bus.
    "dispatcher": FunctionAccess(
        table_items=ITEM_WRITES,
        index_queries=("StatusIndex", "CreatedIndex"),
        objects=(PRESIGN_OUTPUTS,),
        secrets=(SIGNING_KEY,),
        put_events=True,
    ),
}


@dataclass(frozen=True)
class Resources:
    """The ARNs statements name: CDK tokens in the stack, fixed names for Chalice."""

    table: str
    bucket: str
    state_machine: str
    executions: str  # the state machine's executions (an ARN pattern)
    processor_scaling: str  # the processor's qualified ARN whose scaling config is set
    secrets: Mapping[str, str]  # secret name (SECRET_ARN_VARIABLES' keys) -> its ARN
    event_bus: str
    renderer: str = ""  # the renderer function's ARN


def statements(access: FunctionAccess, arns: Resources) -> list[dict[str, Any]]:
    """IAM policy statements (JSON) granting `access` on `arns`, one per kind of resource."""
    out: list[dict[str, Any]] = []

    def allow(sid: str, actions: tuple[str, ...], resource: Any, **extra: Any) -> None:
        if actions:
            out.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": list(actions),
                    "Resource": resource,
                    **extra,
                }
            )

    allow("VideoTable", access.table_items, arns.table)
    allow(
        "QueryIndexes",
        ("dynamodb:Query",) * bool(access.index_queries),
        [f"{arns.table}/index/{name}" for name in access.index_queries],
    )
    for grant in access.objects:
        allow(grant.sid, grant.actions, f"{arns.bucket}/{grant.prefix}*")
    allow(
        "ListPrefixes",
        ("s3:ListBucket",) * bool(access.list_prefixes),
        arns.bucket,
        Condition={"StringLike": {"s3:prefix": [f"{p}*" for p in access.list_prefixes]}},
    )
    allow(
        "ListOpenUploads",
        ("s3:ListBucketMultipartUploads",) * access.list_multipart_uploads,
        arns.bucket,
    )
    allow(
        "StartProcessing", ("states:StartExecution",) * access.start_executions, arns.state_machine
    )
    allow(
        "ReadExecutions",
        ("states:DescribeExecution",) * access.describe_executions,
        arns.executions,
    )
    allow("ProcessorScaling", access.processor_scaling, arns.processor_scaling)
    allow(
        "ReadSecrets",
        ("secretsmanager:GetSecretValue",) * bool(access.secrets),
        [arns.secrets[name] for name in access.secrets],
    )
    allow("EventBus", ("events:PutEvents",) * access.put_events, arns.event_bus)
    allow("InvokeRenderer", ("lambda:InvokeFunction",) * access.invoke_renderer, arns.renderer)
    return out

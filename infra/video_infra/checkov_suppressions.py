"""checkov findings accepted on purpose, each written into the template beside the resource it
concerns (`Metadata.checkov.skip`, with a one-line reason), so that checkov on the synthesized
template reports no unexplained failure (tests/infra/test_checkov.py keeps it so).

What checkov flagged and was fixed instead: the NoEcho cursor parameter in the API's environment
(every secret is now in Secrets Manager, functions hold ARNs), the media bucket's missing
versioning (versioned, noncurrent versions expire), the dead-letter queue's SSE-SQS (now KMS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import IConstruct

if TYPE_CHECKING:
    from video_infra.stack import VideoServiceStack

_ENV_HOLDS_ARNS_ONLY = (
    "No secret in the environment: secrets live in Secrets Manager and the variables hold only "
    "their ARNs and resource names (tests/infra/test_stack.py checks); Lambda encrypts them at "
    "rest with its AWS managed key."
)
_SYNC_ONLY = (
    "Invoked synchronously only ({by}): a failure goes back to the caller; a function DLQ "
    "applies to asynchronous invocations."
)
_ON_MI_VPC = (
    "Runs on a Lambda Managed Instances capacity provider whose instances sit in the VPC's "
    "private subnets (the provider's VpcConfig); a function-level VpcConfig does not apply to MI."
)
_ON_MI_CONCURRENCY = (
    "Concurrency is bounded by its capacity provider (per-environment concurrency x maximum "
    "environments); reserved concurrency does not apply to Lambda MI functions."
)
_AWS_APIS_ONLY = (
    "Calls only AWS APIs (DynamoDB, Lambda) over TLS with its role; no resource inside the "
    "VPC to reach, and a VPC would add NAT or endpoints for nothing."
)
_BOUNDED_BY_CALLER = (
    "At most a few invocations at once ({by}); reserved concurrency would take from the "
    "account's unreserved pool, which new accounts keep at 10."
)


def _skip(construct: IConstruct, check: str, reason: str) -> None:
    """Add one `checkov.skip` entry to the CloudFormation resource behind `construct`."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    assert isinstance(resource, cdk.CfnResource), construct.node.path
    metadata: dict[str, Any] = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"].append({"id": check, "comment": reason})
    resource.add_metadata("checkov", metadata)


def skip_with_reasons(stack: VideoServiceStack) -> None:
    """Write the accepted checkov findings into the stack's template."""
    for group in stack.node.find_all():
        if isinstance(group, logs.CfnLogGroup):
            _skip(
                group,
                "CKV_AWS_158",
                "CloudWatch Logs encrypts every log group at rest; no secret is ever logged, and "
                "a customer managed key would add a key policy and cost but no reader to keep out.",
            )
    _skip(
        stack.data.table,
        "CKV_AWS_119",
        "Encrypted with the AWS managed key (aws/dynamodb, use logged in CloudTrail); a "
        "customer managed key serves cross-account access or custom key policies, neither used.",
    )
    for secret in stack.secrets.by_name.values():
        _skip(
            secret,
            "CKV_AWS_149",
            "Encrypted with the aws/secretsmanager key; only this account's function roles read "
            "it (GetSecretValue on this ARN); a customer managed key is for sharing across "
            "accounts.",
        )
    _skip(
        stack.data.access_log_bucket,
        "CKV_AWS_18",
        "This is the access-log bucket itself: the media bucket logs into it, and logging its "
        "own access would only log the logging.",
    )
    for function in stack.functions.values():
        _skip(function, "CKV_AWS_173", _ENV_HOLDS_ARNS_ONLY)
    for function in (stack.api.function, stack.workers.processor):
        _skip(function, "CKV_AWS_117", _ON_MI_VPC)
        _skip(function, "CKV_AWS_115", _ON_MI_CONCURRENCY)
    _skip(stack.api.function, "CKV_AWS_116", _SYNC_ONLY.format(by="the HTTP API"))
    for function in (stack.workers.processor, stack.workers.scaler):
        _skip(function, "CKV_AWS_116", _SYNC_ONLY.format(by="the state machine, which retries"))
    _skip(
        stack.workers.finalizer,
        "CKV_AWS_116",
        "Invoked by the state machine (synchronously) and by the execution-ended rule, whose "
        "event Lambda retries twice; the finalizer is idempotent and the event holds only the "
        "execution's id, which its history keeps anyway.",
    )
    _skip(
        stack.events.function,
        "CKV_AWS_116",
        "Its stream mapping has its own on-failure SQS queue and the one-minute schedule's next "
        "tick retries; an undelivered event stays in the outbox, so a failed invocation loses "
        "nothing.",
    )
    for function in (stack.workers.scaler, stack.workers.finalizer):
        _skip(function, "CKV_AWS_117", _AWS_APIS_ONLY)
    _skip(
        stack.renderer.function,
        "CKV_AWS_116",
        _SYNC_ONLY.format(by="the API, which answers its failure as a 503 or 429"),
    )
    _skip(
        stack.renderer.function,
        "CKV_AWS_117",
        "Reads and writes only the media bucket (presigned/ranged S3 requests over TLS with its "
        "role); nothing inside the VPC to reach.",
    )
    _skip(
        stack.events.function,
        "CKV_AWS_117",
        "Calls customers' webhook URLs on the internet (SSRF-guarded in code) and AWS APIs; a "
        "VPC would add a NAT path but isolate it from nothing it reaches.",
    )
    _skip(
        stack.workers.scaler,
        "CKV_AWS_115",
        _BOUNDED_BY_CALLER.format(by="one per state-machine scaling step"),
    )
    _skip(
        stack.workers.finalizer,
        "CKV_AWS_115",
        _BOUNDED_BY_CALLER.format(by="one per ended execution"),
    )
    _skip(
        stack.events.function,
        "CKV_AWS_115",
        _BOUNDED_BY_CALLER.format(by="one per stream shard batch and one per minute"),
    )

"""cdk-nag (AwsSolutions) findings accepted on purpose, each with its written reason.

cdk-nag 3 uses CDK's own `Validations.of(construct).acknowledge(...)`: every finding is
acknowledged one by one, on the construct that owns it, so a new wildcard elsewhere still fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

from video_infra.access import (
    ACCESS,
    CURSOR_KEY,
    OUTPUTS_PREFIX,
    RENDERS,
    SCRATCH_PREFIX,
    SIGNING_KEY,
    UPLOADS_PREFIX,
)

if TYPE_CHECKING:
    from video_infra.stack import VideoServiceStack

PACK = "AwsSolutions::"
# Why a function's S3 grants end in a wildcard under each prefix of the media bucket.
_PREFIX_REASONS = {
    UPLOADS_PREFIX: "Sources live under uploads/<workspace>/<random id>/: POST /uploads presigns "
    "one-time PUTs there, POST /videos checks a source exists (HeadObject), the processor "
    "reads it; keys are generated per request, the prefix is the boundary (and a lifecycle "
    "rule expires it).",
    OUTPUTS_PREFIX: "Outputs live under videos/<id>/<run>/...: the processor writes/deletes "
    "there, the API and the dispatcher presign reads there; keys are dynamic, the prefix is "
    "the boundary.",
    RENDERS: "Images rendered on demand are files of a run, videos/<id>/<run>/img-<hash>.<ext> "
    "(the renderer writes only those); keys are per request, the pattern is the boundary.",
    SCRATCH_PREFIX: "Segmented runs keep their scratch under work/<id>/<run>/ (processor only); "
    "keys are per run, the prefix is the boundary (and a lifecycle rule expires it).",
}


def _ack(construct: IConstruct, finding: str, reason: str) -> None:
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=PACK + finding, reason=reason))


def _ref(stack: cdk.Stack, construct: IConstruct) -> str:
    """How cdk-nag names a resource's logical id inside a finding."""
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return stack.get_logical_id(child)


def _role(function: lambda_.Function) -> iam.IRole:
    """A function's execution role (each function here is given one)."""
    assert function.role is not None
    return function.role


def _env(stack: cdk.Stack) -> str:
    """`region:account` as cdk-nag prints them: pseudo parameters when environment-agnostic."""
    region = "<AWS::Region>" if cdk.Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if cdk.Token.is_unresolved(stack.account) else stack.account
    return f"{region}:{account}"


def suppress_with_reasons(stack: VideoServiceStack) -> None:
    """Acknowledge the stack's accepted findings; anything new still fails the check."""
    bucket = _ref(stack, stack.data.bucket)
    _ack(
        stack.secrets.admin_token,
        "AwsSolutions-SMG4",
        "The operator's admin token is rotated by the operator (put a new value; API "
        "environments read it at their next cold start). A scheduled rotation would need a "
        "function that hands the new token to the operator, which nothing here could do safely.",
    )
    for name in (CURSOR_KEY, SIGNING_KEY):
        _ack(
            stack.secrets.by_name[name],
            "AwsSolutions-SMG4",
            "An HMAC key only this service uses, rotated by hand (put a new value; "
            "environments read it at their next cold start); what it signed (cursors: 24 h, "
            "URLs: 1 h) then fails once, so a schedule would break clients mid-page.",
        )
    _ack(
        stack.capacity.operator_role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
        "AWSLambdaManagedEC2ResourceOperator]",
        "Lambda Managed Instances require this AWS managed policy on the capacity provider's "
        "operator role; AWS maintains the EC2 actions it needs.",
    )
    for key, function in stack.functions.items():
        for prefix in sorted({grant.prefix for grant in ACCESS[key].objects}):
            _ack(
                _role(function),
                f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{prefix}*]",
                _PREFIX_REASONS[prefix],
            )
    _ack(
        _role(stack.api.function),
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{_env(stack)}:"
        f"execution:<{_ref(stack, stack.workflow.state_machine)}.Name>:*]",
        "DescribeExecution on this state machine's executions only; execution names are "
        "generated per request.",
    )
    _ack(
        stack.workflow.role,
        "AwsSolutions-IAM5[Resource::*]",
        "Step Functions log delivery (logs:*LogDelivery, DescribeLogGroups, ...) and X-Ray "
        "PutTraceSegments support no resource-level permissions.",
    )
    _ack(
        _role(stack.events.function),
        "AwsSolutions-IAM5[Resource::*]",
        "dynamodb:ListStreams, which the stream's event source mapping needs, supports no "
        "resource-level permission; the stream itself is named.",
    )
    _ack(
        stack.events.dead_letters,
        "AwsSolutions-SQS3",
        "This queue is the dead-letter queue (of the dispatcher's stream mapping); its records "
        "are kept 14 days, and their events stay in the outbox until delivered anyway.",
    )
    for function in (
        stack.api.function,
        stack.workers.scaler,
        stack.workers.finalizer,
        stack.events.function,
    ):
        _ack(
            function,
            "AwsSolutions-L1",
            "Python 3.13 is pinned on purpose: the oldest runtime Lambda MI accepts and the "
            "processor image's; move all functions to a newer runtime deliberately, together.",
        )
    _ack(
        stack.http_api.api,
        "AwsSolutions-APIG4",
        "The product's API is public by design (no user model yet); throttling is on. Put a "
        "JWT/IAM authorizer in front before exposing real data: this is a known gap.",
    )

"""The service's data: the DynamoDB table and the media bucket (with its access-log bucket).

The grants on them live here too, one method per kind of access, so a role gets exactly the
table and bucket actions its function's code path needs.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from video_infra.settings import InfraSettings

UPLOADS_PREFIX = "uploads/"  # sources: presigned PUTs land here, the processor reads them
OUTPUTS_PREFIX = "videos/"  # results: the processor writes them, the API presigns reads
INDEX_NAMES = ("StatusIndex", "CreatedIndex", "WorkspaceStatusIndex")


class Data:
    """The video table (on-demand, PITR, two GSIs) and the private, TLS-only media bucket.

    Built in `scope` (the stack) itself, so logical IDs are those of the single-stack layout:
    renaming these would replace the table and the buckets.
    """

    def __init__(self, scope: Construct, *, settings: InfraSettings) -> None:
        self.table = _table(scope, settings)
        self.access_log_bucket = _access_log_bucket(scope)
        self.bucket = _media_bucket(scope, settings, self.access_log_bucket)

    def grant_api(self, function: lambda_.Function) -> None:
        """The API: items and the indexes (create, list, transition with its events in one
        TransactWriteItems, tokens, webhooks), presigned reads of outputs, presigned PUTs and
        multipart uploads under uploads/ (POST /uploads) and a HeadObject there (a missing
        source is a 400)."""
        self._grant_table_and_indexes(function, ["DeleteItem"])
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{OUTPUTS_PREFIX}*")],
            )
        )
        # Only under uploads/, the one prefix the processor reads sources from. s3:PutObject
        # also covers CreateMultipartUpload, UploadPart (presigned) and CompleteMultipartUpload;
        # multipart uploads (resumable, POST /uploads {multipart}) also list and abort parts.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:AbortMultipartUpload",
                ],
                resources=[self.bucket.arn_for_objects(f"{UPLOADS_PREFIX}*")],
            )
        )
        # With ListBucket a missing key is a 404 to HeadObject (without it, a 403).
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{UPLOADS_PREFIX}*"]}},
            )
        )

    def grant_item_updates(self, function: lambda_.Function) -> None:
        """Read and conditionally update items by key: a video's status (with the events it
        causes, put in the same TransactWriteItems) and the lease item (created with a Put):
        the processor, the scaler and the finalizer. No Query, no index."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"],
                resources=[self.table.table_arn],
            )
        )

    def grant_dispatch(self, function: lambda_.Function) -> None:
        """The webhook dispatcher: the outbox and deliveries (CreatedIndex, StatusIndex),
        their updates, and presigned reads of outputs for the URLs in event bodies."""
        self._grant_table_and_indexes(function, [])
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{OUTPUTS_PREFIX}*")],
            )
        )

    def _grant_table_and_indexes(self, function: lambda_.Function, extra: list[str]) -> None:
        """Get/Update/Put items and Query the indexes (plus `extra` DynamoDB actions)."""
        actions = ["GetItem", "UpdateItem", "PutItem", *extra, "Query"]
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[f"dynamodb:{action}" for action in actions],
                resources=[
                    self.table.table_arn,
                    *(f"{self.table.table_arn}/index/{name}" for name in INDEX_NAMES),
                ],
            )
        )

    def grant_processing(self, function: lambda_.Function) -> None:
        """The processor: read sources under uploads/, write, replace and list outputs under
        videos/."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{UPLOADS_PREFIX}*")],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[self.bucket.arn_for_objects(f"{OUTPUTS_PREFIX}*")],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{OUTPUTS_PREFIX}*"]}},
            )
        )


def _table(scope: Construct, settings: InfraSettings) -> dynamodb.Table:
    table = dynamodb.Table(
        scope,
        "VideoTable",
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=settings.deletion_protection,
        # The outbox: a new event wakes the webhook dispatcher; dispatched events expire.
        stream=dynamodb.StreamViewType.NEW_IMAGE,
        time_to_live_attribute="ttl",
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        removal_policy=(
            cdk.RemovalPolicy.RETAIN if settings.deletion_protection else cdk.RemovalPolicy.DESTROY
        ),
    )
    table.add_global_secondary_index(
        index_name="StatusIndex",
        partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="createdAt", type=dynamodb.AttributeType.STRING),
        projection_type=dynamodb.ProjectionType.ALL,
    )
    table.add_global_secondary_index(
        index_name="CreatedIndex",
        partition_key=dynamodb.Attribute(name="entity", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="createdAt", type=dynamodb.AttributeType.STRING),
        projection_type=dynamodb.ProjectionType.ALL,
    )
    # One workspace's videos of one status (wsStatus = "<workspace>#<status>"). Added alone in
    # its own deploy: CloudFormation creates at most one GSI per table update.
    table.add_global_secondary_index(
        index_name="WorkspaceStatusIndex",
        partition_key=dynamodb.Attribute(name="wsStatus", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="createdAt", type=dynamodb.AttributeType.STRING),
        projection_type=dynamodb.ProjectionType.ALL,
    )
    return table


def _access_log_bucket(scope: Construct) -> s3.Bucket:
    return s3.Bucket(
        scope,
        "AccessLogBucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[
            s3.LifecycleRule(id="expire-access-logs", expiration=cdk.Duration.days(90))
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def _media_bucket(scope: Construct, settings: InfraSettings, access_logs: s3.Bucket) -> s3.Bucket:
    return s3.Bucket(
        scope,
        "MediaBucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix="media/",
        # Browsers (the web console, hls.js on any page) fetch presigned outputs and PUT
        # presigned uploads cross-origin; the signature, not the origin, is the credential.
        cors=[
            s3.CorsRule(
                allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.HEAD, s3.HttpMethods.PUT],
                allowed_origins=["*"],
                allowed_headers=["*"],
                exposed_headers=["ETag", "Content-Length", "Content-Range", "Accept-Ranges"],
                max_age=3600,
            )
        ],
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-uploads",
                prefix=UPLOADS_PREFIX,
                expiration=cdk.Duration.days(settings.upload_expiry_days),
            ),
            s3.LifecycleRule(
                id="abort-incomplete-multipart-uploads",
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            ),
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )

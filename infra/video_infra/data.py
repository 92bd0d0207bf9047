"""The service's data: the DynamoDB table and the media bucket (with its access-log bucket).

The table's shape is table_schema.py's, the bucket's prefixes are access.py's (where the grants
on both are defined for every function, for the CDK stack and the Chalice path alike).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from video_infra import table_schema
from video_infra.access import SCRATCH_EXPIRY_DAYS, SCRATCH_PREFIX, UPLOADS_PREFIX
from video_infra.settings import InfraSettings

# Uploads and scratch are transient: their overwritten or deleted versions go after a day.
TRANSIENT_NONCURRENT_DAYS = 1


class Data:
    """The video table (on-demand, PITR, the GSIs of table_schema.py) and the private, TLS-only,
    versioned media bucket.

    Built in `scope` (the stack) itself, so logical IDs are those of the single-stack layout:
    renaming these would replace the table and the buckets.
    """

    def __init__(self, scope: Construct, *, settings: InfraSettings) -> None:
        self.table = _table(scope, settings)
        self.access_log_bucket = _access_log_bucket(scope)
        self.bucket = _media_bucket(scope, settings, self.access_log_bucket)


def _table(scope: Construct, settings: InfraSettings) -> dynamodb.Table:
    def string(name: str) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)

    table = dynamodb.Table(
        scope,
        "VideoTable",
        partition_key=string(table_schema.PARTITION_KEY),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=settings.deletion_protection,
        # The outbox: a new event wakes the webhook dispatcher; dispatched events expire.
        stream=dynamodb.StreamViewType(table_schema.STREAM_VIEW),
        time_to_live_attribute=table_schema.TTL_ATTRIBUTE,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        removal_policy=(
            cdk.RemovalPolicy.RETAIN if settings.deletion_protection else cdk.RemovalPolicy.DESTROY
        ),
    )
    # A new index goes in alone, in its own deploy: CloudFormation creates at most one GSI
    # per table update.
    for index in table_schema.INDEXES:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=string(index.partition_key),
            sort_key=string(index.sort_key),
            projection_type=dynamodb.ProjectionType.ALL,
        )
    return table


def _noncurrent_versions(days: int) -> s3.LifecycleRule:
    """Versioning's cleanup: a deleted or overwritten object stays recoverable for `days`, then
    goes; delete markers left with no versions behind them go too."""
    return s3.LifecycleRule(
        id="expire-noncurrent-versions",
        noncurrent_version_expiration=cdk.Duration.days(days),
        expired_object_delete_marker=True,
    )


def _access_log_bucket(scope: Construct) -> s3.Bucket:
    # Versioned: a deleted log stays recoverable as long as logs are kept at all.
    return s3.Bucket(
        scope,
        "AccessLogBucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[
            s3.LifecycleRule(id="expire-access-logs", expiration=cdk.Duration.days(90)),
            _noncurrent_versions(90),
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
        # An accidental delete (or overwrite) of a finished video is recoverable for
        # noncurrentVersionDays; the processor's own deletes of old runs' outputs age out too.
        versioned=True,
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
                noncurrent_version_expiration=cdk.Duration.days(TRANSIENT_NONCURRENT_DAYS),
            ),
            # Segmented runs delete their scratch when they end; this catches what a crash or
            # a timeout left behind (no run lasts a day: 15 min per invocation).
            s3.LifecycleRule(
                id="expire-scratch",
                prefix=SCRATCH_PREFIX,
                expiration=cdk.Duration.days(SCRATCH_EXPIRY_DAYS),
                noncurrent_version_expiration=cdk.Duration.days(TRANSIENT_NONCURRENT_DAYS),
            ),
            s3.LifecycleRule(
                id="abort-incomplete-multipart-uploads",
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            ),
            _noncurrent_versions(settings.noncurrent_version_days),
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )

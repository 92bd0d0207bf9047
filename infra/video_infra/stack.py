"""The video service on AWS: API lambdalith and processor on Lambda Managed Instances.

One stack: VPC (new or looked up), security group, capacity-provider operator role, two ARM64
capacity providers (API: automatic scaling; processor: manual, 0 environments at rest), the
DynamoDB table, the media bucket, the state machine from the committed ASL definition, the HTTP
API in front of the lambdalith, and a log group with retention for everything that logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from video_infra.chalice_bundle import REPO_ROOT, ChaliceApp
from video_infra.settings import InfraSettings
from workflow.substitute import function_substitutions

RUNTIME = lambda_.Runtime.PYTHON_3_13  # Lambda MI needs Python >= 3.13
ARCH = lambda_.Architecture.ARM_64
LEASE_PREFIX = "lease#"
UPLOADS_PREFIX = "uploads/"
OUTPUTS_PREFIX = "videos/"
LATEST_PUBLISHED = "$LATEST.PUBLISHED"
INDEX_NAMES = ("StatusIndex", "CreatedIndex")


@dataclass(frozen=True)
class ManagedSizing:
    """How one function sits on its capacity provider."""

    memory_mib: int
    memory_gib_per_vcpu: float
    per_environment_concurrency: int
    min_environments: int
    max_environments: int

    @property
    def vcpus(self) -> float:
        return self.memory_mib / 1024 / self.memory_gib_per_vcpu


# API: I/O-bound (DynamoDB, Step Functions, presigning). 64 concurrent requests per environment
# = 16 per vCPU, the Python runtime's own default; Python runs one process per request, so 8 GiB
# leaves ~128 MiB per worker process for Chalice + boto3 (~50-60 MiB RSS each).
API_SIZING = ManagedSizing(
    memory_mib=8192,
    memory_gib_per_vcpu=2.0,
    per_environment_concurrency=64,
    min_environments=1,
    max_environments=10,
)
# Processor: CPU-bound. One ffmpeg ladder run (split+scale, libx264 threads) saturates 2 vCPUs by
# itself; a second concurrent video in the same environment would only halve the speed of both and
# double the peak memory (~0.5 GiB ffmpeg + Whisper + OCR models per worker process). So: one video
# per environment, 2 vCPUs each, and capacity grows by environments (the scaler sets 2..5).
PROCESSOR_SIZING = ManagedSizing(
    memory_mib=8192,
    memory_gib_per_vcpu=4.0,
    per_environment_concurrency=1,
    min_environments=0,
    max_environments=0,
)


class VideoServiceStack(cdk.Stack):
    """Everything the video service runs on, in one deployable unit."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfraSettings,
        chalice_app: ChaliceApp,
        api_bundle_dir: Path,
        definition_path: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.settings = settings
        retention = _retention(settings.log_retention_days)

        # --- network -------------------------------------------------------------------------
        self.vpc = self._vpc(settings)
        private = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.security_group = ec2.SecurityGroup(
            self,
            "CapacitySecurityGroup",
            vpc=self.vpc,
            description="Lambda MI instances: no inbound; HTTPS out to AWS APIs only",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS service endpoints"
        )
        self.operator_role = iam.Role(
            self,
            "CapacityOperatorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Lets Lambda launch and manage the capacity providers' EC2 instances",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "AWSLambdaManagedEC2ResourceOperator"
                )
            ],
        )
        self.api_capacity = lambda_.CapacityProvider(
            self,
            "ApiCapacityProvider",
            subnets=private.subnets,
            security_groups=[self.security_group],
            operator_role=self.operator_role,
            architectures=[ARCH],
            scaling_options=lambda_.ScalingOptions.auto(),
            max_v_cpu_count=_vcpu_ceiling(API_SIZING.vcpus, API_SIZING.max_environments),
        )
        self.processor_capacity = lambda_.CapacityProvider(
            self,
            "ProcessorCapacityProvider",
            subnets=private.subnets,
            security_groups=[self.security_group],
            operator_role=self.operator_role,
            architectures=[ARCH],
            # Manual: instances follow the environments the scaler asks for (0 at rest),
            # tracked on CPU because the processor is CPU-bound.
            scaling_options=lambda_.ScalingOptions.manual(
                [lambda_.TargetTrackingScalingPolicy.cpu_utilization(70)]
            ),
            max_v_cpu_count=_vcpu_ceiling(PROCESSOR_SIZING.vcpus, settings.scale_max),
        )

        # --- data ----------------------------------------------------------------------------
        self.table = self._table(settings)
        self.bucket = self._bucket(settings)

        # --- functions -----------------------------------------------------------------------
        api_code = lambda_.Code.from_asset(str(api_bundle_dir))
        common_env = {"VIDEO_BACKEND": "aws", "VIDEO_TABLE": self.table.table_name}

        self.processor = self._function(
            "Processor",
            retention,
            lambda role, log_group: lambda_.DockerImageFunction(
                self,
                "ProcessorFunction",
                description="Processes videos with ffmpeg (ladder, HLS, analysis, subtitles)",
                code=lambda_.DockerImageCode.from_image_asset(
                    str(REPO_ROOT),
                    file="infra/processor.Dockerfile",
                    platform=ecr_assets.Platform.LINUX_ARM64,
                    cmd=[chalice_app.handler_for("processor")],
                ),
                architecture=ARCH,
                memory_size=PROCESSOR_SIZING.memory_mib,
                timeout=cdk.Duration.seconds(settings.processor_timeout_seconds),
                role=role,
                log_group=log_group,
                environment={
                    **common_env,
                    "VIDEO_BUCKET": self.bucket.bucket_name,
                    "VIDEO_MAX_DURATION_SECONDS": str(settings.max_duration_seconds),
                    "VIDEO_DATA_DIR": "/tmp/video-data",  # noqa: S108 - Lambda's only writable dir
                },
            ),
        )
        self._attach(self.processor_capacity, self.processor, PROCESSOR_SIZING)

        self.scaler = self._control_function(
            "Scaler",
            "Scales the processor's environments (Put/GetFunctionScalingConfig)",
            chalice_app.handler_for("scaler"),
            api_code,
            retention,
            {
                **common_env,
                "VIDEO_PROCESSOR_FUNCTION": self.processor.function_name,
                "VIDEO_SCALE_MIN": str(settings.scale_min),
                "VIDEO_SCALE_MAX": str(settings.scale_max),
            },
        )
        self.finalizer = self._control_function(
            "Finalizer",
            "Marks a batch's unfinished videos failed at the end of an execution",
            chalice_app.handler_for("finalizer"),
            api_code,
            retention,
            dict(common_env),
        )

        # --- workflow ------------------------------------------------------------------------
        self.state_machine = self._state_machine(definition_path, retention)

        # --- API -----------------------------------------------------------------------------
        # The cursor key must not change between synths (that would invalidate every page
        # cursor on each deploy) and must not live in git: a NoEcho parameter, given once at the
        # first deploy; later `cdk deploy` runs keep the previous value.
        cursor_secret = cdk.CfnParameter(
            self,
            "CursorSecret",
            type="String",
            no_echo=True,
            min_length=32,
            description="HMAC key for pagination cursors (e.g. `openssl rand -hex 32`)",
        )
        self.api_function = self._function(
            "Api",
            retention,
            lambda role, log_group: lambda_.Function(
                self,
                "ApiFunction",
                description="The video API (Chalice lambdalith)",
                runtime=RUNTIME,
                architecture=ARCH,
                handler="app.app",
                code=api_code,
                memory_size=API_SIZING.memory_mib,
                timeout=cdk.Duration.seconds(29),  # HTTP API integrations end at 30 s
                role=role,
                log_group=log_group,
                environment={
                    **common_env,
                    "VIDEO_BUCKET": self.bucket.bucket_name,
                    "VIDEO_STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                    "VIDEO_CURSOR_SECRET": cursor_secret.value_as_string,
                    "VIDEO_PROCESSOR_FUNCTION": self.processor.function_name,
                },
            ),
        )
        self._attach(self.api_capacity, self.api_function, API_SIZING)
        self.http_api = self._http_api(chalice_app, settings, retention)

        self._grant_least_privilege()
        self._execution_end_safety_net()

        cdk.CfnOutput(self, "ApiEndpoint", value=self.http_api.api_endpoint)
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
        cdk.CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "ProcessorFunctionName", value=self.processor.function_name)

    # --- building blocks ----------------------------------------------------------------------
    def _control_function(
        self,
        name: str,
        description: str,
        handler: str,
        code: lambda_.Code,
        retention: logs.RetentionDays,
        environment: dict[str, str],
    ) -> lambda_.Function:
        """A small ordinary Lambda of the workflow's control plane (not on a capacity
        provider): the scaler and the finalizer."""
        return self._function(
            name,
            retention,
            lambda role, log_group: lambda_.Function(
                self,
                f"{name}Function",
                description=description,
                runtime=RUNTIME,
                architecture=ARCH,
                handler=handler,
                code=code,
                memory_size=256,
                timeout=cdk.Duration.seconds(60),
                role=role,
                log_group=log_group,
                environment=environment,
            ),
        )

    def _execution_end_safety_net(self) -> None:
        """A state-machine timeout or a manual stop skips every Catch: EventBridge's status
        change then sweeps the batch (finalizer) and releases the lease (scaler)."""
        rule = events.Rule(
            self,
            "ExecutionEndedRule",
            description="Sweep and release capacity for executions that ended outside a Catch",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                    "status": ["TIMED_OUT", "ABORTED", "FAILED"],
                },
            ),
        )
        rule.add_target(targets.LambdaFunction(self.finalizer, retry_attempts=8))
        rule.add_target(
            targets.LambdaFunction(
                self.scaler,
                retry_attempts=8,
                event=events.RuleTargetInput.from_object(
                    {
                        "action": "release",
                        "executionId": events.EventField.from_path("$.detail.executionArn"),
                    }
                ),
            )
        )

    def _vpc(self, settings: InfraSettings) -> ec2.IVpc:
        if settings.vpc_id:
            # A real deploy looks the VPC up (and caches it in cdk.context.json); offline
            # synthesis needs that context entry already present.
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=3,
            nat_gateways=settings.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            # Media and metadata traffic bypasses the NAT gateway (free gateway endpoints).
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
            },
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(
                    self,
                    "VpcFlowLogGroup",
                    retention=_retention(settings.log_retention_days),
                    removal_policy=cdk.RemovalPolicy.DESTROY,
                )
            ),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        return vpc

    def _table(self, settings: InfraSettings) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "VideoTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=settings.deletion_protection,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=(
                cdk.RemovalPolicy.RETAIN
                if settings.deletion_protection
                else cdk.RemovalPolicy.DESTROY
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
        return table

    def _bucket(self, settings: InfraSettings) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
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
        return s3.Bucket(
            self,
            "MediaBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="media/",
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

    def _function(
        self,
        name: str,
        retention: logs.RetentionDays,
        build: Callable[[iam.Role, logs.LogGroup], F],
    ) -> F:
        """A function with its own role and log group; the role may write only to that group."""
        log_group = logs.LogGroup(
            self,
            f"{name}LogGroup",
            retention=retention,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {name.lower()} function",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        return build(role, log_group)

    def _attach(
        self,
        provider: lambda_.CapacityProvider,
        function: lambda_.Function,
        sizing: ManagedSizing,
    ) -> None:
        provider.add_function(
            function,
            execution_environment_memory_gib_per_v_cpu=sizing.memory_gib_per_vcpu,
            per_execution_environment_max_concurrency=sizing.per_environment_concurrency,
            publish_to_latest_published=True,
            latest_published_scaling_config=lambda_.LatestPublishedScalingConfig(
                min_execution_environments=sizing.min_environments,
                max_execution_environments=sizing.max_environments,
            ),
        )

    def _state_machine(
        self, definition_path: Path, retention: logs.RetentionDays
    ) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self,
            "StateMachineLogGroup",
            # The /aws/vendedlogs/ prefix keeps CloudWatch's resource policy small.
            log_group_name=f"/aws/vendedlogs/states/{self.stack_name}-video-processing",
            retention=retention,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="May invoke exactly the scaler, the processor and the finalizer",
        )
        machine = sfn.StateMachine(
            self,
            "VideoProcessing",
            definition_body=sfn.DefinitionBody.from_string(definition_path.read_text()),
            definition_substitutions=function_substitutions(
                {
                    "scaler": self.scaler.function_arn,
                    "processor": self.processor.function_arn,
                    "finalizer": self.finalizer.function_arn,
                }
            ),
            role=role,
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )
        # The definition invokes unqualified ARNs; for a Lambda MI function that runs
        # $LATEST.PUBLISHED, so exactly these ARNs and no `:*` wildcard.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[
                    arn
                    for function in (self.scaler, self.processor, self.finalizer)
                    for arn in (
                        function.function_arn,
                        f"{function.function_arn}:{LATEST_PUBLISHED}",
                    )
                ],
            )
        )
        return machine

    def _http_api(
        self, chalice_app: ChaliceApp, settings: InfraSettings, retention: logs.RetentionDays
    ) -> apigwv2.HttpApi:
        http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=f"{self.stack_name}-{chalice_app.app_name}",
            description="HTTP API in front of the Chalice lambdalith (payload format 1.0)",
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(
            self, "ApiAccessLogGroup", retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.api_throttle_rate, burst_limit=settings.api_throttle_burst
            ),
            access_log_settings=_AccessLogs(access_logs),
        )
        # Chalice understands only REST-shaped events: payload format 1.0 (2.0 gives a 500).
        integration = integrations.HttpLambdaIntegration(
            "ApiIntegration",
            self.api_function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_1_0,
        )
        for route in chalice_app.routes:
            http_api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod(route.method)],
                integration=integration,
            )
        return http_api

    def _grant_least_privilege(self) -> None:
        table_arns = [
            self.table.table_arn,
            *(f"{self.table.table_arn}/index/{name}" for name in INDEX_NAMES),
        ]
        read_write_item = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[*read_write_item, "dynamodb:PutItem", "dynamodb:Query"],
                resources=table_arns,
            )
        )
        for function in (self.processor, self.scaler, self.finalizer):
            function.add_to_role_policy(
                iam.PolicyStatement(actions=read_write_item, resources=[self.table.table_arn])
            )

        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{OUTPUTS_PREFIX}*")],
            )
        )
        # POST /uploads presigns PUTs: only under uploads/, which the processor reads.
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{UPLOADS_PREFIX}*")],
            )
        )
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[self.state_machine.state_machine_arn],
            )
        )
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[
                    self.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{self.state_machine.state_machine_name}:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )

        self.processor.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{UPLOADS_PREFIX}*")],
            )
        )
        self.processor.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[self.bucket.arn_for_objects(f"{OUTPUTS_PREFIX}*")],
            )
        )
        self.processor.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{OUTPUTS_PREFIX}*"]}},
            )
        )

        # GET /capacity reads (never writes) the processor's scaling config.
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:GetFunctionScalingConfig"],
                resources=[f"{self.processor.function_arn}:{LATEST_PUBLISHED}"],
            )
        )
        # Only the processor's $LATEST.PUBLISHED qualifier: the one the scaler resizes.
        self.scaler.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:PutFunctionScalingConfig", "lambda:GetFunctionScalingConfig"],
                resources=[f"{self.processor.function_arn}:{LATEST_PUBLISHED}"],
            )
        )


F = TypeVar("F", bound=lambda_.Function)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """Stage access logs as JSON lines in a CloudWatch log group."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.json_with_standard_fields(
            caller=False,
            http_method=True,
            ip=True,
            protocol=True,
            request_time=True,
            resource_path=True,
            response_length=True,
            status=True,
            user=False,
        )


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"logRetentionDays must be one of {sorted(_RETENTION)}, not {days}")
    return _RETENTION[days]


def _vcpu_ceiling(vcpus_per_environment: float, environments: int) -> int:
    """Headroom over environments x vCPUs: instances come in whole sizes (and 3 AZs)."""
    return max(16, int(vcpus_per_environment * environments * 2))

"""The Lambda side: the capacity providers and the four functions, each with its own role and
log group.

- `CapacityProviders`: the operator role and two ARM64 capacity providers, the API's (automatic
  scaling) and the processor's (manual, 0 environments at rest).
- `WorkflowFunctions`: what the state machine invokes: the processor (a container image on its
  capacity provider), the scaler and the finalizer (small ordinary functions).
- `ApiFunction`: the Chalice lambdalith on the API capacity provider. It comes after the
  workflow, because its environment names the state machine, whose definition names the
  workflow functions.

Each function's role may write its own log group; everything else it may do is granted by the
stack from access.py (shared with the Chalice path). Everything is built in `scope` (the stack)
itself, so logical IDs are those of the single-stack layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from video_infra.chalice_bundle import REPO_ROOT, ChaliceApp
from video_infra.data import Data
from video_infra.log_groups import log_group
from video_infra.network import Network
from video_infra.settings import InfraSettings

if TYPE_CHECKING:
    from video_infra.workflow import Workflow

RUNTIME = lambda_.Runtime.PYTHON_3_13  # Lambda MI needs Python >= 3.13
ARCH = lambda_.Architecture.ARM_64
LATEST_PUBLISHED = "$LATEST.PUBLISHED"


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


class CapacityProviders:
    """The operator role Lambda uses to run the instances, and the two capacity providers."""

    def __init__(self, scope: Construct, *, network: Network, settings: InfraSettings) -> None:
        self.operator_role = iam.Role(
            scope,
            "CapacityOperatorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Lets Lambda launch and manage the capacity providers' EC2 instances",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "AWSLambdaManagedEC2ResourceOperator"
                )
            ],
        )
        self.api = lambda_.CapacityProvider(
            scope,
            "ApiCapacityProvider",
            subnets=network.private_subnets.subnets,
            security_groups=[network.security_group],
            operator_role=self.operator_role,
            architectures=[ARCH],
            scaling_options=lambda_.ScalingOptions.auto(),
            max_v_cpu_count=_vcpu_ceiling(API_SIZING.vcpus, API_SIZING.max_environments),
        )
        self.processor = lambda_.CapacityProvider(
            scope,
            "ProcessorCapacityProvider",
            subnets=network.private_subnets.subnets,
            security_groups=[network.security_group],
            operator_role=self.operator_role,
            architectures=[ARCH],
            # Manual: instances follow the environments the scaler asks for (0 at rest),
            # tracked on CPU because the processor is CPU-bound.
            scaling_options=lambda_.ScalingOptions.manual(
                [lambda_.TargetTrackingScalingPolicy.cpu_utilization(70)]
            ),
            max_v_cpu_count=_vcpu_ceiling(PROCESSOR_SIZING.vcpus, settings.scale_max),
        )


class WorkflowFunctions:
    """The functions the state machine invokes: processor, scaler, finalizer."""

    def __init__(
        self,
        scope: Construct,
        *,
        settings: InfraSettings,
        chalice_app: ChaliceApp,
        api_code: lambda_.Code,
        capacity: CapacityProviders,
        data: Data,
        retention: logs.RetentionDays,
    ) -> None:
        common_env = {"VIDEO_BACKEND": "aws", "VIDEO_TABLE": data.table.table_name}
        self.processor = _function(
            scope,
            "Processor",
            retention,
            lambda role, log_group: lambda_.DockerImageFunction(
                scope,
                "ProcessorFunction",
                description="Processes videos with ffmpeg (ladder, HLS, analysis, subtitles)",
                code=_processor_image(chalice_app, "processor"),
                architecture=ARCH,
                memory_size=PROCESSOR_SIZING.memory_mib,
                # /tmp holds a segment's encode, or a short video's whole run (source, ladder,
                # analysis): sized from `make bench-disk` (settings.PROCESSOR_EPHEMERAL_STORAGE_MIB;
                # context processorEphemeralStorageMiB overrides it).
                ephemeral_storage_size=cdk.Size.mebibytes(settings.processor_ephemeral_storage_mib),
                timeout=cdk.Duration.seconds(settings.processor_timeout_seconds),
                role=role,
                log_group=log_group,
                environment={
                    **common_env,
                    "VIDEO_BUCKET": data.bucket.bucket_name,
                    "VIDEO_MAX_DURATION_SECONDS": str(settings.max_duration_seconds),
                    # a segmented video's jobs at once (the Map's MaxConcurrencyPath)
                    "VIDEO_SCALE_MAX": str(settings.scale_max),
                    "VIDEO_DATA_DIR": "/tmp/video-data",  # noqa: S108 - Lambda's only writable dir
                },
            ),
        )
        _attach(capacity.processor, self.processor, PROCESSOR_SIZING)

        self.scaler = control_function(
            scope,
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

        self.finalizer = control_function(
            scope,
            "Finalizer",
            "Marks a batch's unfinished videos failed at the end of an execution",
            chalice_app.handler_for("finalizer"),
            api_code,
            retention,
            # the environments Lambda MI keeps for a batch: its capacity cost (tasks/finalizer.py)
            {**common_env, "VIDEO_SCALE_MIN": str(settings.scale_min)},
        )

    @property
    def processor_scaling_arn(self) -> str:
        """The qualified ARN whose scaling config the scaler sets (Lambda MI scales versions):
        only the processor's $LATEST.PUBLISHED, never a `:*` wildcard."""
        return f"{self.processor.function_arn}:{LATEST_PUBLISHED}"


# Renderer: images on demand (a frame, an animated preview) from a completed run's top rendition.
# The processor's image (ffmpeg is in it) with its own handler, as an ordinary Lambda rather than
# on the processor's capacity provider: that one is scaled to 0 between batches, and an <img>
# cannot wait minutes for an instance. 3008 MiB gives ~1.7 vCPUs (one GOP's 1080p decode);
# reserved concurrency bounds what renders may cost (a throttled invoke is a 429 at the API).
RENDERER_MEMORY_MIB = 3008
RENDERER_TIMEOUT_SECONDS = 60
RENDERER_CONCURRENCY = 10


class RendererFunction:
    """The `renderer` function: the processor's image with the renderer's handler."""

    def __init__(
        self,
        scope: Construct,
        *,
        chalice_app: ChaliceApp,
        data: Data,
        retention: logs.RetentionDays,
    ) -> None:
        self.function = _function(
            scope,
            "Renderer",
            retention,
            lambda role, log_group: lambda_.DockerImageFunction(
                scope,
                "RendererFunction",
                description="Renders thumbnails and animated previews on demand (ffmpeg)",
                code=_processor_image(chalice_app, "renderer"),
                architecture=ARCH,
                memory_size=RENDERER_MEMORY_MIB,
                timeout=cdk.Duration.seconds(RENDERER_TIMEOUT_SECONDS),
                reserved_concurrent_executions=RENDERER_CONCURRENCY,
                role=role,
                log_group=log_group,
                environment={
                    "VIDEO_BACKEND": "aws",
                    "VIDEO_TABLE": data.table.table_name,  # as on the Chalice path (stage-wide)
                    "VIDEO_BUCKET": data.bucket.bucket_name,
                    "VIDEO_DATA_DIR": "/tmp/video-data",  # noqa: S108 - Lambda's only writable dir
                },
            ),
        )


class ApiFunction:
    """The Chalice lambdalith on the API capacity provider (its secrets' ARNs and the grants to
    read them come from access.py, added by the stack)."""

    def __init__(
        self,
        scope: Construct,
        *,
        api_code: lambda_.Code,
        capacity: CapacityProviders,
        data: Data,
        workflow: Workflow,
        workers: WorkflowFunctions,
        renderer: RendererFunction,
        retention: logs.RetentionDays,
    ) -> None:
        self.function = _function(
            scope,
            "Api",
            retention,
            lambda role, log_group: lambda_.Function(
                scope,
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
                    "VIDEO_BACKEND": "aws",
                    "VIDEO_TABLE": data.table.table_name,
                    "VIDEO_BUCKET": data.bucket.bucket_name,
                    "VIDEO_STATE_MACHINE_ARN": workflow.state_machine.state_machine_arn,
                    "VIDEO_PROCESSOR_FUNCTION": workers.processor.function_name,  # GET /capacity
                    "VIDEO_RENDERER_FUNCTION": renderer.function.function_name,  # images
                },
            ),
        )
        _attach(capacity.api, self.function, API_SIZING)


F = TypeVar("F", bound=lambda_.Function)


def _processor_image(chalice_app: ChaliceApp, handler: str) -> lambda_.DockerImageCode:
    """The processor's image (ffmpeg, the Whisper model) running one of the app's handlers: the
    processor and the renderer share it (one asset, one build)."""
    return lambda_.DockerImageCode.from_image_asset(
        str(REPO_ROOT),
        file="infra/processor.Dockerfile",
        platform=ecr_assets.Platform.LINUX_ARM64,
        cmd=[chalice_app.handler_for(handler)],
    )


def _function(
    scope: Construct,
    name: str,
    retention: logs.RetentionDays,
    build: Callable[[iam.Role, logs.LogGroup], F],
) -> F:
    """A function with its own role and log group; the role may write only to that group."""
    group = log_group(scope, f"{name}LogGroup", retention)
    role = iam.Role(
        scope,
        f"{name}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Execution role of the {name.lower()} function",
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[group.log_group_arn],
        )
    )
    return build(role, group)


def control_function(
    scope: Construct,
    name: str,
    description: str,
    handler: str,
    code: lambda_.Code,
    retention: logs.RetentionDays,
    environment: dict[str, str],
    timeout_seconds: int = 60,
) -> lambda_.Function:
    """A small ordinary Lambda of the control plane (not on a capacity provider): the
    scaler, the finalizer and the webhook dispatcher."""
    return _function(
        scope,
        name,
        retention,
        lambda role, log_group: lambda_.Function(
            scope,
            f"{name}Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCH,
            handler=handler,
            code=code,
            memory_size=256,
            timeout=cdk.Duration.seconds(timeout_seconds),
            role=role,
            log_group=log_group,
            environment=environment,
        ),
    )


def _attach(
    provider: lambda_.CapacityProvider, function: lambda_.Function, sizing: ManagedSizing
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


def _vcpu_ceiling(vcpus_per_environment: float, environments: int) -> int:
    """Headroom over environments x vCPUs: instances come in whole sizes (and 3 AZs)."""
    return max(16, int(vcpus_per_environment * environments * 2))

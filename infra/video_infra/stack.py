"""The video service on AWS: API lambdalith and processor on Lambda Managed Instances.

One stack, composed of one part per concern (each in its own module); what each function may
do is granted last, from access.py, the definitions the Chalice path's policies come from too:

- `Network` (network.py): VPC, new or looked up, and the capacity providers' security group;
- `Data` (data.py): the DynamoDB table (its shape: table_schema.py), the media bucket and its
  access-log bucket;
- `ServiceSecrets` (service_secrets.py): the admin token, cursor key and URL-signing key;
- `CapacityProviders`, `WorkflowFunctions`, `ApiFunction` (functions.py): the operator role,
  the two ARM64 capacity providers, the processor/scaler/finalizer and the API lambdalith,
  each with its own role and log group;
- `Workflow` (workflow.py): the state machine from the committed ASL definition and the
  EventBridge safety net;
- `ChaliceHttpApi` (http_api.py): the HTTP API mirroring the Chalice route table.

The parts build their resources in this stack's own scope rather than as nested constructs:
a logical ID hashes the construct path, so nesting would rename (and so replace) the table,
the buckets and the log groups.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from video_infra import access
from video_infra.chalice_bundle import ChaliceApp
from video_infra.data import Data
from video_infra.events import EventDelivery
from video_infra.functions import (
    ARCH,
    RUNTIME,
    ApiFunction,
    CapacityProviders,
    RendererFunction,
    WorkflowFunctions,
)
from video_infra.http_api import ChaliceHttpApi
from video_infra.log_groups import retention
from video_infra.network import Network
from video_infra.service_secrets import ServiceSecrets
from video_infra.settings import InfraSettings
from video_infra.workflow import Workflow


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
        sdk_layer_dir: Path,
        definition_path: Path,
        env: cdk.Environment | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=description)
        self.settings = settings
        logs_retention = retention(settings.log_retention_days)
        # The API, scaler and finalizer run the same bundle (app.py, chalicelib/, chalice/).
        api_code = lambda_.Code.from_asset(str(api_bundle_dir))

        self.network = Network(self, settings=settings, retention=logs_retention)
        self.capacity = CapacityProviders(self, network=self.network, settings=settings)
        self.data = Data(self, settings=settings)
        self.secrets = ServiceSecrets(self)
        self.workers = WorkflowFunctions(
            self,
            settings=settings,
            chalice_app=chalice_app,
            api_code=api_code,
            capacity=self.capacity,
            data=self.data,
            retention=logs_retention,
        )
        self.workflow = Workflow(
            self,
            definition_path=definition_path,
            functions=self.workers,
            retention=logs_retention,
        )
        self.renderer = RendererFunction(
            self, chalice_app=chalice_app, data=self.data, retention=logs_retention
        )
        self.api = ApiFunction(
            self,
            api_code=api_code,
            capacity=self.capacity,
            data=self.data,
            workflow=self.workflow,
            workers=self.workers,
            renderer=self.renderer,
            retention=logs_retention,
        )
        self.http_api = ChaliceHttpApi(
            self,
            function=self.api.function,
            chalice_app=chalice_app,
            settings=settings,
            retention=logs_retention,
        )

        self.events = EventDelivery(
            self,
            chalice_app=chalice_app,
            api_code=api_code,
            data=self.data,
            api_endpoint=self.http_api.api.api_endpoint,
            retention=logs_retention,
        )

        self.functions: dict[str, lambda_.Function] = {
            "api": self.api.function,
            "processor": self.workers.processor,
            "scaler": self.workers.scaler,
            "finalizer": self.workers.finalizer,
            "dispatcher": self.events.function,
            "renderer": self.renderer.function,
        }
        self._grant_access()
        # The functions of the API bundle import the pinned SDK (sdk_layer.py), not the
        # runtime's: the API and the scaler call Lambda MI's scaling API.
        sdk = lambda_.LayerVersion(
            self,
            "PinnedSdkLayer",
            code=lambda_.Code.from_asset(str(sdk_layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCH],
            description="boto3/botocore pinned in requirements-run.txt",
        )
        for key, function in self.functions.items():
            if key not in ("processor", "renderer"):  # the image installs its own packages
                function.add_layers(sdk)

        cdk.CfnOutput(self, "ApiEndpoint", value=self.http_api.api.api_endpoint)
        cdk.CfnOutput(self, "EventBusName", value=self.events.bus.event_bus_name)
        cdk.CfnOutput(self, "TableName", value=self.data.table.table_name)
        cdk.CfnOutput(self, "BucketName", value=self.data.bucket.bucket_name)
        cdk.CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "ProcessorFunctionName", value=self.workers.processor.function_name)
        cdk.CfnOutput(self, "AdminTokenSecretArn", value=self.secrets.admin_token.secret_arn)

    def _grant_access(self) -> None:
        """Each function's grants, as access.py defines them for both deploy paths, and the
        ARNs (never the values) of exactly the secrets it may read."""
        arns = access.Resources(
            table=self.data.table.table_arn,
            bucket=self.data.bucket.bucket_arn,
            state_machine=self.workflow.state_machine.state_machine_arn,
            executions=self.workflow.executions_arn,
            processor_scaling=self.workers.processor_scaling_arn,
            secrets=self.secrets.arns(),
            event_bus=self.events.bus.event_bus_arn,
            renderer=self.renderer.function.function_arn,
        )
        for key, function in self.functions.items():
            for statement in access.statements(access.ACCESS[key], arns):
                function.add_to_role_policy(iam.PolicyStatement.from_json(statement))
            for name in access.ACCESS[key].secrets:
                function.add_environment(access.SECRET_ARN_VARIABLES[name], arns.secrets[name])

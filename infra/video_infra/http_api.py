"""The HTTP API in front of the lambdalith: one route per Chalice route, payload format 1.0,
a throttled `$default` stage with JSON access logs."""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from video_infra.chalice_bundle import ChaliceApp
from video_infra.log_groups import log_group
from video_infra.settings import InfraSettings


class ChaliceHttpApi:
    """An HTTP API whose routes are exactly the Chalice app's route table.

    Built in `scope` (the stack) itself, so logical IDs are those of the single-stack layout.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        function: lambda_.Function,
        chalice_app: ChaliceApp,
        settings: InfraSettings,
        retention: logs.RetentionDays,
    ) -> None:
        self.api = apigwv2.HttpApi(
            scope,
            "HttpApi",
            api_name=f"{cdk.Stack.of(scope).stack_name}-{chalice_app.app_name}",
            description="HTTP API in front of the Chalice lambdalith (payload format 1.0)",
            create_default_stage=False,
        )
        access_logs = log_group(scope, "ApiAccessLogGroup", retention)
        self.stage = apigwv2.HttpStage(
            scope,
            "DefaultStage",
            http_api=self.api,
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
            function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_1_0,
        )
        for route in chalice_app.routes:
            self.api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod(route.method)],
                integration=integration,
            )


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

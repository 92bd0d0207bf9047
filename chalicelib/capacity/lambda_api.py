"""Lambda Managed Instances adapter: the processor's published scaling config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.capacity.base import CapacityController, ScalingState
from chalicelib.errors import dependency_errors

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient

# Lambda MI scales published versions; this qualifier follows the latest one.
QUALIFIER = "$LATEST.PUBLISHED"


@dependency_errors("capacity API", BotoCoreError, ClientError)
class LambdaCapacity(CapacityController):
    def __init__(self, client: LambdaClient, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def set_scaling(self, min_envs: int, max_envs: int) -> None:
        self._client.put_function_scaling_config(
            FunctionName=self._function,
            Qualifier=QUALIFIER,
            FunctionScalingConfig={
                "MinExecutionEnvironments": min_envs,
                "MaxExecutionEnvironments": max_envs,
            },
        )

    def get_scaling(self) -> ScalingState:
        resp: Any = self._client.get_function_scaling_config(
            FunctionName=self._function, Qualifier=QUALIFIER
        )
        requested = resp.get("RequestedFunctionScalingConfig") or {}
        applied = resp.get("AppliedFunctionScalingConfig")
        return ScalingState(
            requested_min=int(requested.get("MinExecutionEnvironments", 0)),
            requested_max=int(requested.get("MaxExecutionEnvironments", 0)),
            applied_min=None
            if applied is None
            else int(applied.get("MinExecutionEnvironments", 0)),
            applied_max=None
            if applied is None
            else int(applied.get("MaxExecutionEnvironments", 0)),
        )

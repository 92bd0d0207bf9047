"""AWS Step Functions adapter."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import dependency_errors
from chalicelib.orchestrator.base import Orchestrator, execution_view

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.client import SFNClient


@dependency_errors("orchestrator", BotoCoreError, ClientError)
class StepFunctionsOrchestrator(Orchestrator):
    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def _execution_arn(self, name: str) -> str:
        # ...:stateMachine:Machine -> ...:execution:Machine:name
        prefix, machine = self._arn.split(":stateMachine:", 1)
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, video_ids: list[str]) -> str:
        resp = self._client.start_execution(
            stateMachineArn=self._arn, name=name, input=json.dumps({"videoIds": video_ids})
        )
        return resp["executionArn"]

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            resp = self._client.describe_execution(executionArn=self._execution_arn(name))
        except self._client.exceptions.ExecutionDoesNotExist:
            return None
        return execution_view(resp)

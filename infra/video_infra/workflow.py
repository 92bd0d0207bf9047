"""The processing workflow: the state machine from the committed ASL definition, its log group
and role, and the EventBridge safety net for executions that end outside every Catch."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from video_infra.functions import LATEST_PUBLISHED, WorkflowFunctions
from video_infra.log_groups import log_group
from workflow.substitute import function_substitutions


class Workflow:
    """The state machine (standard, X-Ray, full logging) whose role may invoke exactly the
    scaler, the processor and the finalizer, and the rule that sweeps and releases capacity
    after a timeout, abort or uncaught failure.

    Built in `scope` (the stack) itself, so logical IDs are those of the single-stack layout.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        definition_path: Path,
        functions: WorkflowFunctions,
        retention: logs.RetentionDays,
    ) -> None:
        self._stack = cdk.Stack.of(scope)
        group = log_group(
            scope,
            "StateMachineLogGroup",
            retention,
            # The /aws/vendedlogs/ prefix keeps CloudWatch's resource policy small.
            log_group_name=f"/aws/vendedlogs/states/{self._stack.stack_name}-video-processing",
        )
        self.role = iam.Role(
            scope,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="May invoke exactly the scaler, the processor and the finalizer",
        )
        self.state_machine = sfn.StateMachine(
            scope,
            "VideoProcessing",
            definition_body=sfn.DefinitionBody.from_string(definition_path.read_text()),
            definition_substitutions=function_substitutions(
                {
                    "scaler": functions.scaler.function_arn,
                    "processor": functions.processor.function_arn,
                    "finalizer": functions.finalizer.function_arn,
                }
            ),
            role=self.role,
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=group, level=sfn.LogLevel.ALL),
        )
        invoked = (functions.scaler, functions.processor, functions.finalizer)
        # The definition invokes unqualified ARNs; for a Lambda MI function that runs
        # $LATEST.PUBLISHED, so exactly these ARNs and no `:*` wildcard.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[
                    arn
                    for function in invoked
                    for arn in (
                        function.function_arn,
                        f"{function.function_arn}:{LATEST_PUBLISHED}",
                    )
                ],
            )
        )
        self.safety_net = _execution_end_safety_net(scope, self.state_machine, functions)

    @property
    def executions_arn(self) -> str:
        """This state machine's executions (GET /executions/{name} describes them)."""
        return self._stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )


def _execution_end_safety_net(
    scope: Construct, state_machine: sfn.StateMachine, functions: WorkflowFunctions
) -> events.Rule:
    """A state-machine timeout or a manual stop skips every Catch: EventBridge's status change
    then sweeps the batch (finalizer) and releases the lease (scaler)."""
    rule = events.Rule(
        scope,
        "ExecutionEndedRule",
        description="Sweep and release capacity for executions that ended outside a Catch",
        event_pattern=events.EventPattern(
            source=["aws.states"],
            detail_type=["Step Functions Execution Status Change"],
            detail={
                "stateMachineArn": [state_machine.state_machine_arn],
                "status": ["TIMED_OUT", "ABORTED", "FAILED"],
            },
        ),
    )
    rule.add_target(targets.LambdaFunction(functions.finalizer, retry_attempts=8))
    rule.add_target(
        targets.LambdaFunction(
            functions.scaler,
            retry_attempts=8,
            event=events.RuleTargetInput.from_object(
                {
                    "action": "release",
                    "executionId": events.EventField.from_path("$.detail.executionArn"),
                }
            ),
        )
    )
    return rule

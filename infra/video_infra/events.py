"""Events in AWS: the webhook dispatcher, woken by the table's stream (a new outbox item) and
by a one-minute schedule (retries that came due), and an EventBridge bus that receives every
event for integrators who prefer rules.

The stream's event source mapping filters to new outbox items, retries a failing batch a few
times, then sends its record to an SQS dead-letter queue; nothing is lost there, since the
event stays in the outbox until a pass fans it out (the schedule keeps trying).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from video_infra.chalice_bundle import ChaliceApp
from video_infra.data import Data
from video_infra.functions import control_function


class EventDelivery:
    def __init__(
        self,
        scope: Construct,
        *,
        chalice_app: ChaliceApp,
        api_code: lambda_.Code,
        data: Data,
        api_endpoint: str,
        retention: logs.RetentionDays,
    ) -> None:
        self.bus = events.EventBus(scope, "VideoEventBus")
        self.dead_letters = sqs.Queue(
            scope,
            "DispatcherDeadLetters",
            retention_period=cdk.Duration.days(14),
            # KMS (the account's aws/sqs key) rather than SSE-SQS: key use is auditable in
            # CloudTrail; the mapping sends with the dispatcher's role, which the key allows.
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
        )
        self.function = control_function(
            scope,
            "Dispatcher",
            "Delivers the outbox's events to webhooks (signed) and to the event bus",
            chalice_app.handler_for("dispatcher"),
            api_code,
            retention,
            {
                "VIDEO_BACKEND": "aws",
                "VIDEO_TABLE": data.table.table_name,
                "VIDEO_BUCKET": data.bucket.bucket_name,
                "VIDEO_EVENT_BUS": self.bus.event_bus_name,
                "VIDEO_PUBLIC_URL": api_endpoint,  # the API's origin, for those URLs
            },
            timeout_seconds=300,  # a pass attempts up to 50 deliveries of at most 10 s each
        )
        self.function.add_event_source(
            sources.DynamoEventSource(
                data.table,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=100,
                max_batching_window=cdk.Duration.seconds(1),
                retry_attempts=3,
                bisect_batch_on_error=False,
                on_failure=sources.SqsDlq(self.dead_letters),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.is_equal("INSERT"),
                            "dynamodb": {
                                "NewImage": {
                                    "entity": {"S": lambda_.FilterRule.is_equal("outbox#pending")}
                                }
                            },
                        }
                    )
                ],
            )
        )
        events.Rule(
            scope,
            "DispatcherSchedule",
            description="Retries webhook deliveries that came due",
            schedule=events.Schedule.rate(cdk.Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.function)],
        )

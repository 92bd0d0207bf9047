"""The stack's resources created on the emulator from the synthesized template, and the names
its intrinsics resolve to.

Created from their template properties: the table (keys, GSIs, stream, TTL), the buckets (the
media bucket's CORS and lifecycle rules), the secrets, the event bus, the dead-letter
queue and the state machine (the synthesized definition with its substitutions resolved).
Functions, roles, log groups and the HTTP API get fixed fake names and ARNs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rehearsal.policy import Policy
from rehearsal.template import (
    ACCOUNT,
    FUNCTIONS,
    REGION,
    Names,
    RehearsalFailure,
    Template,
    resolve,
)

SUFFIX = "rehearsal"


@dataclass(frozen=True)
class Stack:
    """What the rehearsal created, by role."""

    names: Names
    table: str
    bucket: str
    state_machine_arn: str
    admin_token: str
    function_names: Mapping[str, str]
    function_arns: Mapping[str, str]  # function ARN -> function key
    definition: str  # the synthesized definition, its ${...} placeholders still in it
    substitutions: Mapping[str, str]  # placeholder -> resolved value


def _lifecycle_rules(rules: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """CloudFormation's LifecycleConfiguration.Rules in the S3 API's shape."""
    out = []
    for rule in rules:
        api: dict[str, Any] = {
            "ID": rule.get("Id", "rule"),
            "Status": rule["Status"],
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": rule["ExpirationInDays"]}
        if rule.get("ExpiredObjectDeleteMarker"):
            api["Expiration"] = {"ExpiredObjectDeleteMarker": True}
        if "NoncurrentVersionExpiration" in rule:
            api["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
        if "AbortIncompleteMultipartUpload" in rule:
            api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
        unknown = set(rule) - {
            "Id",
            "Status",
            "Prefix",
            "ExpirationInDays",
            "AbortIncompleteMultipartUpload",
            "ExpiredObjectDeleteMarker",
            "NoncurrentVersionExpiration",
        }
        if unknown:
            raise RehearsalFailure(f"lifecycle rule {rule.get('Id')}: unhandled {sorted(unknown)}")
        out.append(api)
    return out


def _cors_rules(rules: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    renamed = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
    return [{renamed.get(k, k): v for k, v in rule.items() if k != "Id"} for rule in rules]


def _name_static(template: Template, names: Names) -> dict[str, str]:
    """Functions, roles, log groups, the HTTP API: names and ARNs fixed in advance."""
    function_names = {}
    for key in FUNCTIONS:
        spec = template.function(key)
        name = f"{names.stack_name}-{key}-{SUFFIX}"
        function_names[key] = name
        names.set(
            spec.logical_id, Ref=name, Arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        )
    for logical_id in template.of_type("AWS::IAM::Role"):
        names.set(logical_id, Ref=logical_id, Arn=f"arn:aws:iam::{ACCOUNT}:role/{logical_id}")
    for logical_id, group in template.of_type("AWS::Logs::LogGroup").items():
        name = group["Properties"].get("LogGroupName") or f"/aws/lambda/{logical_id}"
        names.set(logical_id, Ref=name, Arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*")
    for logical_id in template.of_type("AWS::ApiGatewayV2::Api"):
        names.set(
            logical_id,
            Ref="rehearsalapi",
            ApiEndpoint=f"https://rehearsalapi.execute-api.{REGION}.amazonaws.com",
        )
    return function_names


def _create_buckets(template: Template, s3: Any, names: Names) -> str:
    """The template's buckets (versioning, CORS, lifecycle); returns the media bucket's name."""
    bucket = ""
    for logical_id, resource in template.of_type("AWS::S3::Bucket").items():
        name = f"{logical_id.lower()[:40]}-{SUFFIX}"
        s3.create_bucket(Bucket=name)
        bucket_props = resource["Properties"]
        versioning = bucket_props.get("VersioningConfiguration")
        if versioning:  # so the functions' deletes and overwrites behave as in AWS
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": versioning["Status"]}
            )
        if "CorsConfiguration" in bucket_props:
            s3.put_bucket_cors(
                Bucket=name,
                CORSConfiguration={
                    "CORSRules": _cors_rules(bucket_props["CorsConfiguration"]["CorsRules"])
                },
            )
        if "LifecycleConfiguration" in bucket_props:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={
                    "Rules": _lifecycle_rules(bucket_props["LifecycleConfiguration"]["Rules"])
                },
            )
        names.set(logical_id, Ref=name, Arn=f"arn:aws:s3:::{name}")
        if logical_id.startswith("MediaBucket"):
            bucket = name
    return bucket


def create(template: Template, admin: Any, stack_name: str = "VideoService") -> Stack:
    """Create the stack's resources on the emulator through `admin` (a boto3 Session)."""
    names = Names(stack_name)
    function_names = _name_static(template, names)

    table_id, table = template.one("AWS::DynamoDB::Table", "VideoTable")
    props = table["Properties"]
    table_name = f"{stack_name}-table-{SUFFIX}"
    ddb = admin.client("dynamodb")
    created = ddb.create_table(
        TableName=table_name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
        BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        **(
            {"StreamSpecification": {"StreamEnabled": True, **props["StreamSpecification"]}}
            if "StreamSpecification" in props
            else {}
        ),
    )["TableDescription"]
    if "TimeToLiveSpecification" in props:
        ddb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
        )
    names.set(
        table_id,
        Ref=table_name,
        Arn=created["TableArn"],
        StreamArn=created.get("LatestStreamArn", ""),
    )

    bucket = _create_buckets(template, admin.client("s3"), names)

    # Every secret generated as at a first deploy; the admin token also drives the HTTP API.
    admin_token = "vt_admin_" + secrets.token_urlsafe(24)
    admin_id, _ = template.one("AWS::SecretsManager::Secret", "AdminToken")
    for secret_id in template.of_type("AWS::SecretsManager::Secret"):
        value = admin_token if secret_id == admin_id else secrets.token_urlsafe(48)
        secret = admin.client("secretsmanager").create_secret(
            Name=f"{stack_name}-{secret_id.lower()}-{SUFFIX}", SecretString=value
        )
        names.set(secret_id, Ref=secret["ARN"])

    for logical_id in template.of_type("AWS::Events::EventBus"):
        bus_name = f"{stack_name}-events-{SUFFIX}"
        arn = admin.client("events").create_event_bus(Name=bus_name)["EventBusArn"]
        names.set(logical_id, Ref=bus_name, Arn=arn, Name=bus_name)

    sqs = admin.client("sqs")
    for logical_id in template.of_type("AWS::SQS::Queue"):
        url = sqs.create_queue(QueueName=f"{logical_id}-{SUFFIX}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        names.set(logical_id, Ref=url, Arn=arn["QueueArn"], QueueName=f"{logical_id}-{SUFFIX}")

    machine_id, machine = template.state_machine()
    machine_props = machine["Properties"]
    template_text = resolve(machine_props["DefinitionString"], names)
    substitutions = resolve(machine_props.get("DefinitionSubstitutions", {}), names)
    definition = template_text
    for placeholder, value in substitutions.items():
        definition = definition.replace("${" + placeholder + "}", value)
    if "${" in definition:
        raise RehearsalFailure("the state machine's definition keeps an unresolved ${...}")
    json.loads(definition)
    sm_name = f"{stack_name}-workflow-{SUFFIX}"
    role_arn = resolve(machine_props["RoleArn"], names)
    sm_arn = admin.client("stepfunctions").create_state_machine(
        name=sm_name, definition=definition, roleArn=role_arn
    )["stateMachineArn"]
    names.set(machine_id, Ref=sm_arn, Name=sm_name, Arn=sm_arn)

    arns = {names.get_att(template.function(k).logical_id, "Arn"): k for k in FUNCTIONS}
    return Stack(
        names,
        table_name,
        bucket,
        sm_arn,
        admin_token,
        function_names,
        arns,
        template_text,
        substitutions,
    )


def fake_names(template: Template, stack_name: str = "VideoService") -> Names:
    """Names and ARNs for every resource the stack's policies name, without an emulator: for
    evaluating the synthesized policies statically (tests, reviews)."""
    names = Names(stack_name)
    _name_static(template, names)
    table_id, _ = template.one("AWS::DynamoDB::Table", "VideoTable")
    table = f"{stack_name}-table-{SUFFIX}"
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    names.set(table_id, Ref=table, Arn=arn, StreamArn=f"{arn}/stream/2026-01-01T00:00:00.000")
    for logical_id in template.of_type("AWS::S3::Bucket"):
        bucket = f"{logical_id.lower()[:40]}-{SUFFIX}"
        names.set(logical_id, Ref=bucket, Arn=f"arn:aws:s3:::{bucket}")
    for logical_id in template.of_type("AWS::SecretsManager::Secret"):
        names.set(
            logical_id, Ref=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{logical_id}-AbCdEf"
        )
    for logical_id in template.of_type("AWS::Events::EventBus"):
        names.set(
            logical_id,
            Ref=logical_id,
            Name=logical_id,
            Arn=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{logical_id}",
        )
    for logical_id in template.of_type("AWS::SQS::Queue"):
        names.set(
            logical_id,
            Ref=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{logical_id}",
            Arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical_id}",
        )
    machine_id, _ = template.state_machine()
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{stack_name}-workflow"
    names.set(machine_id, Ref=machine, Arn=machine, Name=f"{stack_name}-workflow")
    return names


def function_policies(template: Template, names: Names) -> dict[str, Policy]:
    """Each function's role policy, intrinsics resolved, ready to evaluate."""
    return {
        key: Policy.from_documents(
            resolve(template.role_policies(template.function(key).role_logical_id), names)
        )
        for key in FUNCTIONS
    }

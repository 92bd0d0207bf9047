"""The synthesized template: Lambda MI wiring, data stores, workflow, HTTP API, permissions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized

API_ROUTES_EXPECTED_AT_LEAST = {
    ("GET", "/health"),
    ("POST", "/videos"),
    ("GET", "/videos"),
    ("GET", "/videos/{video_id}"),
    ("POST", "/videos/{video_id}/process"),
    ("POST", "/videos/process"),
}


def _statements(synth: Synthesized, role_prefix: str) -> list[dict[str, Any]]:
    role_id, _ = synth.resource("AWS::IAM::Role", role_prefix)
    statements: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        roles = policy["Properties"]["Roles"]
        if {"Ref": role_id} in roles:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for s in statements:
        acts = s["Action"]
        found.update([acts] if isinstance(acts, str) else acts)
    return found


def _getatt(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


# --- Lambda Managed Instances ------------------------------------------------------------------
def test_two_arm64_capacity_providers_one_auto_one_manual(synth: Synthesized) -> None:
    providers = synth.resources("AWS::Lambda::CapacityProvider")
    assert len(providers) == 2
    modes = {}
    for logical_id, res in providers.items():
        props = res["Properties"]
        assert props["InstanceRequirements"]["Architectures"] == ["arm64"]
        assert props["VpcConfig"]["SecurityGroupIds"], logical_id
        assert len(props["VpcConfig"]["SubnetIds"]) >= 2, "use several AZs"
        modes[logical_id.split("CapacityProvider")[0]] = props["CapacityProviderScalingConfig"][
            "ScalingMode"
        ]
    assert modes == {"Api": "Auto", "Processor": "Manual"}


def test_operator_role_has_the_managed_ec2_operator_policy(synth: Synthesized) -> None:
    role_id, role = synth.resource("AWS::IAM::Role", "CapacityOperatorRole")
    policies = json.dumps(role["Properties"]["ManagedPolicyArns"])
    assert "AWSLambdaManagedEC2ResourceOperator" in policies
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "lambda.amazonaws.com"}
    for provider in synth.resources("AWS::Lambda::CapacityProvider").values():
        assert provider["Properties"]["PermissionsConfig"] == {
            "CapacityProviderOperatorRoleArn": _getatt(role_id)
        }


def test_security_group_has_no_inbound_and_only_https_out(synth: Synthesized) -> None:
    _, sg = synth.resource("AWS::EC2::SecurityGroup", "CapacitySecurityGroup")
    assert "SecurityGroupIngress" not in sg["Properties"]
    egress = sg["Properties"]["SecurityGroupEgress"]
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in egress] == [("tcp", 443, 443)]


def test_api_lambdalith_sits_on_the_api_provider(synth: Synthesized) -> None:
    provider_id, _ = synth.resource("AWS::Lambda::CapacityProvider", "ApiCapacityProvider")
    _, fn = synth.resource("AWS::Lambda::Function", "ApiFunction")
    props = fn["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "app.app"
    assert props["CapacityProviderConfig"] == {
        "LambdaManagedInstancesCapacityProviderConfig": {
            "CapacityProviderArn": _getatt(provider_id),
            "ExecutionEnvironmentMemoryGiBPerVCpu": 2,
            "PerExecutionEnvironmentMaxConcurrency": 64,
        }
    }
    assert props["FunctionScalingConfig"] == {
        "MinExecutionEnvironments": 1,
        "MaxExecutionEnvironments": 10,
    }
    assert props["PublishToLatestPublished"] is True
    assert props["MemorySize"] >= 2048  # Lambda MI minimum: 2 GB and 1 vCPU
    assert props["Timeout"] <= 29  # below the HTTP API's 30 s integration limit


def test_processor_is_an_arm64_image_on_the_manual_provider_at_zero(synth: Synthesized) -> None:
    provider_id, _ = synth.resource("AWS::Lambda::CapacityProvider", "ProcessorCapacityProvider")
    _, fn = synth.resource("AWS::Lambda::Function", "ProcessorFunction")
    props = fn["Properties"]
    assert props["PackageType"] == "Image"
    assert props["Architectures"] == ["arm64"]
    assert props["ImageConfig"]["Command"] == ["app.processor"]
    config = props["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
    assert config == {
        "CapacityProviderArn": _getatt(provider_id),
        "ExecutionEnvironmentMemoryGiBPerVCpu": 4,
        "PerExecutionEnvironmentMaxConcurrency": 1,
    }
    assert props["FunctionScalingConfig"] == {
        "MinExecutionEnvironments": 0,
        "MaxExecutionEnvironments": 0,
    }
    # vCPUs per environment = memory / GiB-per-vCPU; at least 1 vCPU and 2 GB (Lambda MI).
    assert props["MemorySize"] / 1024 / 4 >= 1
    max_duration = int(props["Environment"]["Variables"]["VIDEO_MAX_DURATION_SECONDS"])
    # Long videos are segmented: the longest invocation (a segment, the whole audio, the
    # assembly) must fit the timeout, not the whole video.
    from video_infra.settings import longest_invocation_seconds

    assert longest_invocation_seconds(max_duration) < props["Timeout"] <= 900
    # /tmp sized on purpose (Lambda's default is 512 MB): processorEphemeralStorageMiB
    assert props["EphemeralStorage"]["Size"] == 2048  # bench-disk: worst invocation <= 0.72 GB


def test_processor_image_asset_is_built_for_arm64(synth: Synthesized) -> None:
    assets = json.loads((synth.outdir / "VideoService.assets.json").read_text())
    images = list(assets["dockerImages"].values())
    assert len(images) == 1
    source = images[0]["source"]
    assert source["dockerFile"] == "infra/processor.Dockerfile"
    assert source["platform"] == "linux/arm64"
    staged = synth.outdir / source["directory"]
    names = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    # .dockerignore is an allow-list: no .venv, tests or data in the build context.
    assert {"app.py", "requirements-media.txt", "requirements-model.txt"} <= names
    assert all(
        n.split("/")[0]
        in {
            "app.py",
            "chalicelib",
            "infra",
            "requirements-media.txt",
            "requirements-model.txt",
            ".dockerignore",
        }
        for n in names
    ), sorted(names)


@pytest.mark.parametrize("name", ["Scaler", "Finalizer"])
def test_scaler_and_finalizer_are_ordinary_functions(synth: Synthesized, name: str) -> None:
    _, fn = synth.resource("AWS::Lambda::Function", f"{name}Function")
    props = fn["Properties"]
    assert "CapacityProviderConfig" not in props
    assert "FunctionScalingConfig" not in props
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == f"app.{name.lower()}"


def test_every_function_logs_to_its_own_group_with_retention(synth: Synthesized) -> None:
    groups = synth.resources("AWS::Logs::LogGroup")
    functions = synth.resources("AWS::Lambda::Function")
    seen = set()
    for logical_id, fn in functions.items():
        ref = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[ref]["Properties"]["RetentionInDays"] == 30, logical_id
        seen.add(ref)
    assert len(seen) == len(functions) == 6
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())


def test_environment_variables_follow_the_contract(synth: Synthesized) -> None:
    def env(prefix: str) -> dict[str, Any]:
        return synth.resource("AWS::Lambda::Function", prefix)[1]["Properties"]["Environment"][
            "Variables"
        ]

    table = {"Ref": synth.resource("AWS::DynamoDB::Table", "VideoTable")[0]}
    bucket = {"Ref": synth.resource("AWS::S3::Bucket", "MediaBucket")[0]}
    machine = {"Ref": synth.resource("AWS::StepFunctions::StateMachine", "VideoProcessing")[0]}
    processor = {"Ref": synth.resource("AWS::Lambda::Function", "ProcessorFunction")[0]}

    def secret(prefix: str) -> str:
        return synth.resource("AWS::SecretsManager::Secret", prefix)[0]

    for prefix in ("ApiFunction", "ProcessorFunction", "ScalerFunction", "FinalizerFunction"):
        assert env(prefix)["VIDEO_BACKEND"] == "aws"
        assert env(prefix)["VIDEO_TABLE"] == table
    api = env("ApiFunction")
    assert api["VIDEO_BUCKET"] == bucket
    assert api["VIDEO_STATE_MACHINE_ARN"] == machine
    assert api["VIDEO_CURSOR_SECRET_ARN"] == {"Ref": secret("CursorKey")}
    assert api["VIDEO_SIGNING_SECRET_ARN"] == {"Ref": secret("SigningKey")}
    assert api["VIDEO_ADMIN_TOKEN_SECRET_ARN"] == {"Ref": secret("AdminToken")}
    assert env("ProcessorFunction")["VIDEO_BUCKET"] == bucket
    scaler = env("ScalerFunction")
    assert scaler["VIDEO_PROCESSOR_FUNCTION"] == processor
    assert (scaler["VIDEO_SCALE_MIN"], scaler["VIDEO_SCALE_MAX"]) == ("2", "5")


# --- secrets ------------------------------------------------------------------------------------
SECRET_VARIABLES = {
    "VIDEO_ADMIN_TOKEN_SECRET_ARN": "AdminToken",
    "VIDEO_CURSOR_SECRET_ARN": "CursorKey",
    "VIDEO_SIGNING_SECRET_ARN": "SigningKey",
}


def _grants(synth: Synthesized, function_prefix: str) -> list[dict[str, Any]]:
    _, function = synth.resource("AWS::Lambda::Function", function_prefix)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_no_function_environment_holds_a_secret(synth: Synthesized) -> None:
    """Values are literals or references to resources the stack creates: never a parameter,
    never a dynamic reference that resolves a secret's value into the environment."""
    assert "Parameters" not in synth.template or set(synth.template["Parameters"]) <= {
        "BootstrapVersion"
    }
    secrets = set(synth.resources("AWS::SecretsManager::Secret"))
    assert len(secrets) == 3
    for logical_id, function in synth.resources("AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        text = json.dumps(variables)
        assert "{{resolve:" not in text, logical_id
        for name, value in variables.items():
            if isinstance(value, dict) and "Ref" in value and value["Ref"] in secrets:
                assert name in SECRET_VARIABLES, (logical_id, name)  # only as an ARN
            assert not name.endswith(("_SECRET", "_TOKEN", "_KEY")), (logical_id, name)


@pytest.mark.parametrize(
    ("function", "readable"),
    [
        ("ApiFunction", {"AdminToken", "CursorKey", "SigningKey"}),
        ("DispatcherFunction", {"SigningKey"}),  # calls arbitrary URLs: never the admin token
        ("ProcessorFunction", set()),
        ("ScalerFunction", set()),
        ("FinalizerFunction", set()),
    ],
)
def test_each_function_reads_exactly_its_secrets(
    synth: Synthesized, function: str, readable: set[str]
) -> None:
    ids = {prefix: synth.resource("AWS::SecretsManager::Secret", prefix)[0] for prefix in
           SECRET_VARIABLES.values()}  # fmt: skip
    granted = [
        resource
        for statement in _grants(synth, function)
        if "secretsmanager:GetSecretValue" in _list(statement["Action"])
        for resource in _list(statement["Resource"])
    ]
    assert sorted(granted, key=json.dumps) == sorted(
        ({"Ref": ids[p]} for p in readable), key=json.dumps
    )
    assert not any(
        "secretsmanager" in action and action != "secretsmanager:GetSecretValue"
        for statement in _grants(synth, function)
        for action in _list(statement["Action"])
    )
    _, fn = synth.resource("AWS::Lambda::Function", function)
    variables = fn["Properties"]["Environment"]["Variables"]
    given = {SECRET_VARIABLES[name] for name in variables if name in SECRET_VARIABLES}
    assert given == readable


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- data ---------------------------------------------------------------------------------------
def test_table_keys_indexes_billing_and_recovery(synth: Synthesized) -> None:
    _, table = synth.resource("AWS::DynamoDB::Table", "VideoTable")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    indexes = {
        gsi["IndexName"]: (
            [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]],
            gsi["Projection"]["ProjectionType"],
        )
        for gsi in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "StatusIndex": ([("status", "HASH"), ("createdAt", "RANGE")], "ALL"),
        "CreatedIndex": ([("entity", "HASH"), ("createdAt", "RANGE")], "ALL"),
        "WorkspaceStatusIndex": ([("wsStatus", "HASH"), ("createdAt", "RANGE")], "ALL"),
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"id": "S", "status": "S", "createdAt": "S", "entity": "S", "wsStatus": "S"}


def test_media_bucket_is_private_encrypted_tls_only_and_expires_uploads(
    synth: Synthesized,
) -> None:
    bucket_id, bucket = synth.resource("AWS::S3::Bucket", "MediaBucket")
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-uploads"]["Prefix"] == "uploads/"
    assert rules["expire-uploads"]["ExpirationInDays"] == 7
    # a crashed segmented run's scratch goes within 2 days
    assert rules["expire-scratch"]["Prefix"] == "work/"
    assert rules["expire-scratch"]["ExpirationInDays"] <= 2
    policies = [
        p
        for p in synth.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (policy,) = policies
    deny_insecure = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert deny_insecure


def test_media_bucket_is_versioned_and_old_versions_expire(synth: Synthesized) -> None:
    """A deleted or overwritten output stays recoverable for noncurrentVersionDays (30); the
    transient prefixes keep theirs a day; every bucket's old versions go eventually."""
    for prefix in ("MediaBucket", "AccessLogBucket"):
        props = synth.resource("AWS::S3::Bucket", prefix)[1]["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, prefix
        rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
        catch_all = rules["expire-noncurrent-versions"]
        assert "Prefix" not in catch_all and catch_all["ExpiredObjectDeleteMarker"] is True
        assert catch_all["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    media = synth.resource("AWS::S3::Bucket", "MediaBucket")[1]["Properties"]
    rules = {r["Id"]: r for r in media["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 30
    }
    for transient in ("expire-uploads", "expire-scratch"):
        assert rules[transient]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def test_dead_letter_queue_is_kms_encrypted(synth: Synthesized) -> None:
    _, queue = synth.resource("AWS::SQS::Queue", "DispatcherDeadLetters")
    assert queue["Properties"]["KmsMasterKeyId"] == "alias/aws/sqs"


# --- workflow -----------------------------------------------------------------------------------
def test_state_machine_uses_the_committed_definition_with_real_function_arns(
    synth: Synthesized,
) -> None:
    from video_infra.assembly import DEFINITION_PATH

    _, machine = synth.resource("AWS::StepFunctions::StateMachine", "VideoProcessing")
    props = machine["Properties"]
    assert json.loads(props["DefinitionString"]) == json.loads(DEFINITION_PATH.read_text())
    expected = {
        "ScalerFunctionArn": "ScalerFunction",
        "ProcessorFunctionArn": "ProcessorFunction",
        "FinalizerFunctionArn": "FinalizerFunction",
    }
    subs = props["DefinitionSubstitutions"]
    assert set(subs) == set(expected)
    for placeholder, prefix in expected.items():
        logical_id, _ = synth.resource("AWS::Lambda::Function", prefix)
        assert subs[placeholder] == _getatt(logical_id)
        assert "${" + placeholder + "}" in props["DefinitionString"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    # the timeout lives in the definition itself
    assert json.loads(props["DefinitionString"])["TimeoutSeconds"] > 0


def test_state_machine_logs_to_a_vended_log_group(synth: Synthesized) -> None:
    _, machine = synth.resource("AWS::StepFunctions::StateMachine", "VideoProcessing")
    dest = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]
    group_id = dest["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    name = synth.template["Resources"][group_id]["Properties"]["LogGroupName"]
    assert name.startswith("/aws/vendedlogs/states/")


def test_state_machine_may_invoke_exactly_the_three_functions(synth: Synthesized) -> None:
    statements = _statements(synth, "StateMachineRole")
    invoke = [s for s in statements if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert len(invoke) == 1
    resources = json.dumps(invoke[0]["Resource"])
    for prefix in ("ScalerFunction", "ProcessorFunction", "FinalizerFunction"):
        logical_id, _ = synth.resource("AWS::Lambda::Function", prefix)
        assert logical_id in resources
    assert "ApiFunction" not in resources
    assert '"*"' not in resources and ":*" not in resources
    assert _actions(invoke) == {"lambda:InvokeFunction"}


# --- HTTP API -----------------------------------------------------------------------------------
def test_http_api_routes_equal_the_chalice_route_table(synth: Synthesized) -> None:
    from video_infra.chalice_bundle import load_chalice_app

    app_routes = {(r.method, r.path) for r in load_chalice_app().routes}
    assert app_routes >= API_ROUTES_EXPECTED_AT_LEAST
    template_routes = {
        tuple(r["Properties"]["RouteKey"].split(" ", 1))
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
    }
    assert template_routes == app_routes


def test_http_api_uses_payload_format_1_0_to_the_lambdalith(synth: Synthesized) -> None:
    api_fn, _ = synth.resource("AWS::Lambda::Function", "ApiFunction")
    (integration,) = synth.resources("AWS::ApiGatewayV2::Integration").values()
    props = integration["Properties"]
    assert props["PayloadFormatVersion"] == "1.0"
    assert props["IntegrationType"] == "AWS_PROXY"
    assert api_fn in json.dumps(props["IntegrationUri"])


def test_http_api_stage_has_access_logs_and_throttling(synth: Synthesized) -> None:
    (stage,) = synth.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": 200,
        "ThrottlingRateLimit": 100,
    }
    assert "DestinationArn" in props["AccessLogSettings"]
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]


def test_outputs(synth: Synthesized) -> None:
    outputs = synth.template["Outputs"]
    assert {"ApiEndpoint", "TableName", "BucketName", "StateMachineArn"} <= set(outputs)


# --- least privilege: the synthesized policies, evaluated ---------------------------------------
# What each function's code path needs is established by running it (test_rehearsal.py, `make
# rehearse`: every call granted, every grant used or explained). These pin the boundaries.
@pytest.fixture(scope="module")
def policies(synth: Synthesized) -> dict[str, Any]:
    from rehearsal.stack import fake_names, function_policies
    from rehearsal.template import Template

    template = Template.load(synth.template_path)
    names = fake_names(template)
    found: dict[str, Any] = dict(function_policies(template, names))
    found["_names"] = names
    found["_template"] = template
    return found


def _arn(policies: dict[str, Any], logical_prefix: str, attribute: str = "Arn") -> str:
    template, names = policies["_template"], policies["_names"]
    (logical_id,) = [
        k
        for k, v in template.resources.items()
        if k.startswith(logical_prefix) and v["Type"] != "AWS::S3::BucketPolicy"
    ]
    return str(names.get_att(logical_id, attribute))


def _object(policies: dict[str, Any], key: str) -> str:
    return f"{_arn(policies, 'MediaBucket')}/{key}"


def test_only_the_scaler_may_resize_and_only_the_processors_latest_published(
    policies: dict[str, Any],
) -> None:
    from rehearsal.policy import Request

    processor = _arn(policies, "ProcessorFunction")
    for key in ("api", "scaler", "processor", "finalizer", "dispatcher"):
        may = policies[key].allows(
            Request("lambda:PutFunctionScalingConfig", f"{processor}:$LATEST.PUBLISHED")
        )
        assert may == (key == "scaler"), key
    scaler = policies["scaler"]
    assert not scaler.allows(Request("lambda:PutFunctionScalingConfig", processor))
    assert not scaler.allows(Request("lambda:PutFunctionScalingConfig", f"{processor}:7"))
    assert not scaler.allows(
        Request(
            "lambda:PutFunctionScalingConfig", f"{_arn(policies, 'ApiFunction')}:$LATEST.PUBLISHED"
        )
    )
    assert policies["api"].allows(
        Request("lambda:GetFunctionScalingConfig", f"{processor}:$LATEST.PUBLISHED")
    )


def test_the_processor_reads_sources_writes_outputs_and_owns_its_scratch(
    policies: dict[str, Any],
) -> None:
    from rehearsal.policy import Request

    processor, bucket = policies["processor"], _arn(policies, "MediaBucket")
    run = "work/vid/20261202T000000Z-abcd1234"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert processor.allows(Request(action, _object(policies, f"{run}/plan.json"))), action
    assert processor.allows(Request("s3:ListBucket", bucket, {"s3:prefix": f"{run}/"}))
    assert processor.allows(Request("s3:GetObject", _object(policies, "uploads/ws/u/a.mp4")))
    assert processor.allows(Request("s3:PutObject", _object(policies, "videos/v/r/master.m3u8")))
    # never: writing or deleting sources, listing outside its prefixes, the whole bucket
    assert not processor.allows(Request("s3:PutObject", _object(policies, "uploads/ws/u/a.mp4")))
    assert not processor.allows(Request("s3:DeleteObject", _object(policies, "uploads/a")))
    assert not processor.allows(Request("s3:ListBucket", bucket, {"s3:prefix": "uploads/"}))
    assert not processor.allows(Request("s3:ListBucket", bucket))
    assert not processor.allows(Request("s3:PutObject", _object(policies, "elsewhere")))


def test_only_the_processor_touches_scratch(policies: dict[str, Any]) -> None:
    from rehearsal.policy import Request

    scratch = _object(policies, "work/v/r/seg-0000.json")
    for key in ("api", "scaler", "finalizer", "dispatcher"):
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert not policies[key].allows(Request(action, scratch)), (key, action)


def test_the_api_presigns_only_under_uploads_and_outputs(policies: dict[str, Any]) -> None:
    from rehearsal.policy import Request

    api = policies["api"]
    assert api.allows(Request("s3:PutObject", _object(policies, "uploads/ws/id/a.mp4")))
    assert api.allows(Request("s3:GetObject", _object(policies, "videos/v/r/master.m3u8")))
    assert not api.allows(Request("s3:PutObject", _object(policies, "videos/v/r/x")))
    assert not api.allows(Request("s3:DeleteObject", _object(policies, "videos/v/r/x")))
    assert not policies["dispatcher"].allows(
        Request("s3:GetObject", _object(policies, "uploads/ws/id/a.mp4"))
    )


def test_indexes_are_queried_by_those_who_list_and_items_only_on_the_table(
    policies: dict[str, Any],
) -> None:
    from rehearsal.policy import Request

    table = _arn(policies, "VideoTable")
    api, dispatcher = policies["api"], policies["dispatcher"]
    assert api.allows(Request("dynamodb:Query", f"{table}/index/WorkspaceStatusIndex"))
    assert api.allows(Request("dynamodb:Query", f"{table}/index/CreatedIndex"))
    assert not api.allows(Request("dynamodb:Query", table))  # lists go through an index
    assert dispatcher.allows(Request("dynamodb:Query", f"{table}/index/StatusIndex"))
    for key in ("api", "processor", "scaler", "finalizer", "dispatcher"):
        assert not policies[key].allows(Request("dynamodb:Scan", table)), key
        assert not policies[key].allows(Request("dynamodb:PutItem", f"{table}/index/StatusIndex"))
    for key in ("processor", "scaler", "finalizer"):
        assert not policies[key].allows(Request("dynamodb:Query", f"{table}/index/CreatedIndex"))


def test_no_wildcard_resource_but_the_stream_listing(policies: dict[str, Any]) -> None:
    for key in ("api", "processor", "scaler", "finalizer", "dispatcher"):
        for grant in policies[key].grants():
            if grant.resource == "*":
                assert (key, grant.action) == ("dispatcher", "dynamodb:ListStreams"), grant


def test_the_stack_grants_exactly_what_access_py_defines(synth: Synthesized) -> None:
    """Every statement access.py renders for a function is on its role (the Chalice files
    come from the same definitions: tests/infra/test_chalice_files.py)."""
    from video_infra.access import ACCESS

    for key, role in {
        "api": "ApiRole",
        "processor": "ProcessorRole",
        "scaler": "ScalerRole",
        "finalizer": "FinalizerRole",
        "dispatcher": "DispatcherRole",
    }.items():
        sids = {s.get("Sid") for s in _statements(synth, role)}
        access = ACCESS[key]
        assert {o.sid for o in access.objects} <= sids, key
        assert ("VideoTable" in sids) == bool(access.table_items), key
        assert ("QueryIndexes" in sids) == bool(access.index_queries), key


# --- the existing-VPC path ----------------------------------------------------------------------
def test_existing_vpc_is_looked_up_not_created(synth_existing_vpc: Synthesized) -> None:
    assert not synth_existing_vpc.resources("AWS::EC2::VPC")
    assert not synth_existing_vpc.resources("AWS::EC2::NatGateway")
    for provider in synth_existing_vpc.resources("AWS::Lambda::CapacityProvider").values():
        assert provider["Properties"]["VpcConfig"]["SubnetIds"] == [
            "subnet-0aaaaaaaaaaaaaaa1",
            "subnet-0aaaaaaaaaaaaaaa2",
        ]
    _, sg = synth_existing_vpc.resource("AWS::EC2::SecurityGroup", "CapacitySecurityGroup")
    assert sg["Properties"]["VpcId"] == "vpc-0123456789abcdef0"
    assert synth_existing_vpc.error is None


# --- agreement with the workflow ----------------------------------------------------------------
def test_workflow_fan_out_fits_the_processor_capacity(synth: Synthesized) -> None:
    """More parallel invocations than environments x per-environment concurrency get throttled."""
    _, machine = synth.resource("AWS::StepFunctions::StateMachine", "VideoProcessing")
    _, fn = synth.resource("AWS::Lambda::Function", "ProcessorFunction")
    per_env = fn["Properties"]["CapacityProviderConfig"][
        "LambdaManagedInstancesCapacityProviderConfig"
    ]["PerExecutionEnvironmentMaxConcurrency"]
    _, scaler = synth.resource("AWS::Lambda::Function", "ScalerFunction")
    scale_max = int(scaler["Properties"]["Environment"]["Variables"]["VIDEO_SCALE_MAX"])
    definition = machine["Properties"]["DefinitionString"]
    fan_outs = [int(v) for v in _find_values(json.loads(definition), "MaxConcurrency")]
    assert fan_outs, "the definition has no Map state"
    assert max(fan_outs) <= scale_max * per_env
    # A video's jobs: as many at once as the plan says (`concurrency`: the processor's own
    # VIDEO_SCALE_MAX, one invocation per environment), so the Map starts them in order.
    assert _find_values(json.loads(definition), "MaxConcurrencyPath") == ["$.processed.concurrency"]
    processor_env = fn["Properties"]["Environment"]["Variables"]
    assert int(processor_env["VIDEO_SCALE_MAX"]) == scale_max and per_env == 1


def _find_values(node: Any, key: str) -> list[Any]:
    if isinstance(node, dict):
        found = [node[key]] if key in node else []
        for value in node.values():
            found.extend(_find_values(value, key))
        return found
    if isinstance(node, list):
        return [v for item in node for v in _find_values(item, key)]
    return []


def test_executions_ending_outside_a_catch_are_swept_and_released(synth: Synthesized) -> None:
    """TIMED_OUT / ABORTED skip the definition's Catch handlers: EventBridge covers them."""
    rules = synth.resources("AWS::Events::Rule")
    assert len(rules) == 2  # this one, and the webhook dispatcher's schedule
    (rule,) = [r for r in rules.values() if "EventPattern" in r["Properties"]]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert set(pattern["detail"]["status"]) == {"TIMED_OUT", "ABORTED", "FAILED"}
    targets = rule["Properties"]["Targets"]
    arns = {json.dumps(t["Arn"]) for t in targets}
    assert any("FinalizerFunction" in a for a in arns)
    assert any("ScalerFunction" in a for a in arns)
    scaler_target = next(t for t in targets if "ScalerFunction" in json.dumps(t["Arn"]))
    transformer = scaler_target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"detail-executionArn": "$.detail.executionArn"}
    assert '"action":"release"' in transformer["InputTemplate"]


def test_media_bucket_lets_browsers_fetch_and_put_presigned_urls(synth: Synthesized) -> None:
    _, bucket = synth.resource("AWS::S3::Bucket", "MediaBucket")
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert set(rule["AllowedMethods"]) == {"GET", "HEAD", "PUT"}
    assert "Content-Range" in rule["ExposedHeaders"]  # hls.js and <video> use ranges

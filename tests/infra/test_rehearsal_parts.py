"""The rehearsal's parts, without an emulator: the IAM evaluator, the calls' IAM requests, the
template's resolution and its failures (never a skip), the judging of recorded calls."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rehearsal.calls import Call, iam_requests
from rehearsal.emulator import moto_form
from rehearsal.policy import Policy, PolicyError, Request
from rehearsal.rig import dockerfile_env, judge_calls
from rehearsal.stack import fake_names, function_policies
from rehearsal.template import FUNCTIONS, Names, RehearsalFailure, Template, resolve
from tests.infra.conftest import Synthesized

BUCKET = "arn:aws:s3:::media"


def _policy(*statements: dict[str, Any]) -> Policy:
    return Policy.from_documents([{"Statement": list(statements)}])


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# --- the evaluator ------------------------------------------------------------------------------
def test_wildcards_match_as_iam_does() -> None:
    policy = _policy(_allow("s3:Get*", f"{BUCKET}/videos/*"))
    assert policy.allows(Request("s3:GetObject", f"{BUCKET}/videos/a/b.m3u8"))
    assert policy.allows(Request("S3:getobject", f"{BUCKET}/videos/x"))  # actions: any case
    assert not policy.allows(Request("s3:GetObject", f"{BUCKET}/work/a"))
    assert not policy.allows(Request("s3:GetObject", f"{BUCKET}/Videos/a"))  # resources: exact
    assert not policy.allows(Request("s3:PutObject", f"{BUCKET}/videos/a"))


def test_a_condition_on_s3_prefix_is_evaluated_not_ignored() -> None:
    listing = _allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["videos/*"]}})
    policy = _policy(listing)
    assert policy.allows(Request("s3:ListBucket", BUCKET, {"s3:prefix": "videos/abc/"}))
    assert not policy.allows(Request("s3:ListBucket", BUCKET, {"s3:prefix": "work/abc/"}))
    assert not policy.allows(Request("s3:ListBucket", BUCKET))  # no prefix: no match


def test_an_explicit_deny_wins() -> None:
    policy = _policy(
        _allow("s3:*", f"{BUCKET}/*"),
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/uploads/*"},
    )
    assert policy.allows(Request("s3:DeleteObject", f"{BUCKET}/videos/a"))
    assert not policy.allows(Request("s3:DeleteObject", f"{BUCKET}/uploads/a"))


def test_an_operator_it_cannot_evaluate_is_an_error() -> None:
    policy = _policy(_allow("s3:GetObject", "*", Condition={"IpAddress": {"aws:SourceIp": "1"}}))
    with pytest.raises(PolicyError):
        policy.allows(Request("s3:GetObject", f"{BUCKET}/a"))


# --- what each call needs ---------------------------------------------------------------------
def test_calls_become_the_iam_requests_aws_authorizes() -> None:
    assert iam_requests("s3", "HeadObject", {"Bucket": "media", "Key": "uploads/a"}) == [
        Request("s3:GetObject", f"{BUCKET}/uploads/a")
    ]
    (listing,) = iam_requests("s3", "ListObjectsV2", {"Bucket": "media", "Prefix": "work/v/"})
    assert listing == Request("s3:ListBucket", BUCKET, {"s3:prefix": "work/v/"})
    deletes = iam_requests(
        "s3",
        "DeleteObjects",
        {"Bucket": "media", "Delete": {"Objects": [{"Key": "work/a"}, {"Key": "work/b"}]}},
    )
    assert [r.resource for r in deletes] == [f"{BUCKET}/work/a", f"{BUCKET}/work/b"]
    copy_requests = iam_requests(
        "s3", "CopyObject", {"Bucket": "media", "Key": "videos/x", "CopySource": "media/work/y"}
    )
    assert copy_requests == [
        Request("s3:GetObject", f"{BUCKET}/work/y"),
        Request("s3:PutObject", f"{BUCKET}/videos/x"),
    ]
    transaction = iam_requests(
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"Update": {"TableName": "t"}}, {"Put": {"TableName": "t"}}]},
    )
    assert [r.action for r in transaction] == ["dynamodb:UpdateItem", "dynamodb:PutItem"]
    (query,) = iam_requests("dynamodb", "Query", {"TableName": "t", "IndexName": "I"})
    assert query.resource.endswith(":table/t/index/I")
    (scaling,) = iam_requests(
        "lambda",
        "PutFunctionScalingConfig",
        {"FunctionName": "p", "Qualifier": "$LATEST.PUBLISHED"},
    )
    assert scaling.resource.endswith(":function:p:$LATEST.PUBLISHED")


def test_judging_names_the_function_the_action_and_the_resource() -> None:
    policy = _policy(_allow("s3:GetObject", f"{BUCKET}/uploads/*"))
    calls = [
        Call("s3", "GetObject", [Request("s3:GetObject", f"{BUCKET}/uploads/a")]),
        Call(
            "s3",
            "PutObject",
            [Request("s3:PutObject", f"{BUCKET}/work/v/r/plan.json")],
            error="AccessDenied",
        ),
    ]
    failures, used = judge_calls("processor", calls, policy)
    assert used == [Request("s3:GetObject", f"{BUCKET}/uploads/a")]
    assert len(failures) == 2  # the emulator's refusal and the policy's verdict
    assert all(
        "processor" in f and "s3:PutObject" in f and "work/v/r/plan.json" in f for f in failures
    )


def test_moto_gets_action_level_grants_outside_s3_and_bucket_level_batch_deletes() -> None:
    form = moto_form(
        [
            {
                "Statement": [
                    _allow(["dynamodb:UpdateItem"], "arn:aws:dynamodb:r:1:table/t"),
                    _allow(["s3:DeleteObject", "s3:PutObject"], f"{BUCKET}/work/*"),
                ]
            }
        ]
    )
    dynamo, s3, batch = form["Statement"]
    assert dynamo["Resource"] == "*"
    assert "dynamodb:TransactWriteItems" in dynamo["Action"]
    assert s3["Resource"] == f"{BUCKET}/work/*"
    assert batch == {"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": [BUCKET]}


def test_the_processor_image_environment_is_read_from_its_dockerfile() -> None:
    env = dockerfile_env()
    assert env["VIDEO_DATA_DIR"] == "/tmp/video-data"
    assert "VIDEO_WHISPER_MODEL" in env


# --- the template: resolved, or a failure -------------------------------------------------------
def test_every_function_of_the_synthesized_stack_has_a_resolvable_policy(
    synth: Synthesized,
) -> None:
    template = Template.load(synth.template_path)
    policies = function_policies(template, fake_names(template))
    assert set(policies) == set(FUNCTIONS)
    for policy in policies.values():
        assert policy.grants()


def _template(synth: Synthesized) -> dict[str, Any]:
    return copy.deepcopy(synth.template)


def test_a_function_missing_from_the_template_is_a_failure(synth: Synthesized) -> None:
    document = _template(synth)
    for logical_id in [k for k in document["Resources"] if k.startswith("ScalerFunction")]:
        del document["Resources"][logical_id]
    with pytest.raises(RehearsalFailure, match="ScalerFunction"):
        fake_names(Template(document))


def test_a_role_without_a_policy_is_a_failure(synth: Synthesized) -> None:
    document = _template(synth)
    template = Template(document)
    role = template.function("finalizer").role_logical_id
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            resource["Properties"]["Roles"] = [
                r for r in resource["Properties"]["Roles"] if r != {"Ref": role}
            ]
    with pytest.raises(RehearsalFailure, match="no policy"):
        template.role_policies(role)


def test_an_unresolvable_intrinsic_is_a_failure() -> None:
    names = Names("S")
    with pytest.raises(RehearsalFailure, match="unresolvable intrinsic"):
        resolve({"Fn::GetAtt": ["Nowhere", "Arn"]}, names)
    with pytest.raises(RehearsalFailure, match="unresolvable intrinsic"):
        resolve({"Fn::ImportValue": "x"}, names)
    names.set("Table", Arn="arn:t")
    assert (
        resolve({"Fn::Join": ["", [{"Fn::GetAtt": ["Table", "Arn"]}, "/index/*"]]}, names)
        == "arn:t/index/*"
    )
    assert resolve({"Fn::Sub": "${Table.Arn}:${AWS::Region}"}, names) == "arn:t:us-east-1"


def test_the_chalice_files_and_the_stack_grant_each_function_the_same_actions(
    synth: Synthesized, tmp_path: Path
) -> None:
    from video_infra.chalice_files import CHALICE_DIR, policy_file

    template = Template.load(synth.template_path)
    stack = function_policies(template, fake_names(template))
    # What only the CDK stack needs (its own services' side, not the code's).
    cdk_only = {
        "sqs:",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "ecr:",
    }
    for key, policy in stack.items():
        cdk = {g.action for g in policy.grants() if not g.action.startswith(("logs:", *cdk_only))}
        document = json.loads((CHALICE_DIR / policy_file("dev", key)).read_text())
        chalice = {g.action for g in Policy.from_documents([document]).grants()}
        assert cdk == {a for a in chalice if not a.startswith("logs:")}, key


def test_a_rehearsal_of_a_broken_template_fails_and_leaves_nothing_behind(
    synth: Synthesized, tmp_path: Path
) -> None:
    import tempfile

    from rehearsal.run import rehearse

    document = _template(synth)
    for logical_id in [k for k in document["Resources"] if k.startswith("DispatcherFunction")]:
        del document["Resources"][logical_id]
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(document))
    before = set(Path(tempfile.gettempdir()).glob("rehearsal-*"))
    report = rehearse(broken, full=False)
    assert not report.ok
    assert any("DispatcherFunction" in f for f in report.failures), report.failures
    assert set(Path(tempfile.gettempdir()).glob("rehearsal-*")) <= before


def test_the_loopback_server_is_quiet_when_a_client_drops(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A dropped client (ConnectionResetError in the handler) prints nothing; any other error
    still prints its traceback (make rehearse logged ten resets as tracebacks)."""
    import http.client

    from rehearsal.loopback import LoopbackServer, QuietHandler

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if self.path == "/reset":
                raise ConnectionResetError(104, "Connection reset by peer")
            raise ValueError("a real bug")

    server = LoopbackServer(Handler)
    server.start()
    try:
        for path in ("/reset", "/bug"):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", path)
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
                conn.getresponse()
            conn.close()
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert "ConnectionResetError" not in err
    assert "ValueError: a real bug" in err

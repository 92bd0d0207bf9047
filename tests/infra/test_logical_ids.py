"""Logical IDs are the identity CloudFormation keeps resources by: a changed ID is a replacement.

For the table and the buckets a replacement is data loss (or, as they are retained, an orphan
plus an empty new one); for a log group it drops the logs. So the stateful resources' IDs are
pinned here, literally, as synthesized before the stack was split into concern modules; the
other resources' IDs are pinned too (a renamed function or capacity provider is a needless
replacement), except the HTTP API's routes, which follow the Chalice route table.
A change to this file must be a decision, never a side effect of refactoring the CDK code.
"""

from __future__ import annotations

import pytest

from tests.infra.conftest import Synthesized

STATEFUL_TYPES = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Logs::LogGroup")

STATEFUL = {
    "VideoTableE38FEE4B": "AWS::DynamoDB::Table",
    "MediaBucketBCBB02BA": "AWS::S3::Bucket",
    "AccessLogBucketDA470295": "AWS::S3::Bucket",
    "ApiLogGroup1DEDFC07": "AWS::Logs::LogGroup",
    "ProcessorLogGroup6E9C0C0D": "AWS::Logs::LogGroup",
    "ScalerLogGroupE71DDFF4": "AWS::Logs::LogGroup",
    "FinalizerLogGroup7AA1AA4D": "AWS::Logs::LogGroup",
    "DispatcherLogGroupB99EDF3E": "AWS::Logs::LogGroup",
    "RendererLogGroup5D73345B": "AWS::Logs::LogGroup",
    "StateMachineLogGroup15B91BCB": "AWS::Logs::LogGroup",
    "ApiAccessLogGroupCEA70788": "AWS::Logs::LogGroup",
    "VpcFlowLogGroup86559C69": "AWS::Logs::LogGroup",  # only with a new VPC
}
NEW_VPC_ONLY = {"VpcFlowLogGroup86559C69"}

# Everything else but the VPC's own parts and the per-route API resources.
STATELESS = {
    "CapacitySecurityGroup841625F8": "AWS::EC2::SecurityGroup",
    "CapacityOperatorRole1A0B9AFB": "AWS::IAM::Role",
    "ApiCapacityProvider38DBC1E9": "AWS::Lambda::CapacityProvider",
    "ProcessorCapacityProvider8063D20A": "AWS::Lambda::CapacityProvider",
    "ApiFunctionCE271BD4": "AWS::Lambda::Function",
    "ProcessorFunctionE1AA307D": "AWS::Lambda::Function",
    "ScalerFunctionFCDD927F": "AWS::Lambda::Function",
    "FinalizerFunctionCCBC19F3": "AWS::Lambda::Function",
    "ApiRole1873F438": "AWS::IAM::Role",
    "ProcessorRoleFC8890DE": "AWS::IAM::Role",
    "ScalerRole4A143104": "AWS::IAM::Role",
    "FinalizerRole16F6C800": "AWS::IAM::Role",
    "StateMachineRole78EC082E": "AWS::IAM::Role",
    "ApiRoleDefaultPolicyCFEBAD31": "AWS::IAM::Policy",
    "ProcessorRoleDefaultPolicy1C43AEFA": "AWS::IAM::Policy",
    "ScalerRoleDefaultPolicyEACD7F87": "AWS::IAM::Policy",
    "FinalizerRoleDefaultPolicyC09776BA": "AWS::IAM::Policy",
    "StateMachineRoleDefaultPolicy433448B5": "AWS::IAM::Policy",
    "MediaBucketPolicy68C27F6B": "AWS::S3::BucketPolicy",
    "AccessLogBucketPolicyF52D2D01": "AWS::S3::BucketPolicy",
    "VideoProcessing024AAAF2": "AWS::StepFunctions::StateMachine",
    "ExecutionEndedRule91071ADC": "AWS::Events::Rule",
    "ExecutionEndedRuleAllowEventRuleVideoServiceFinalizerFunctionA4E8F94396688646": (
        "AWS::Lambda::Permission"
    ),
    "ExecutionEndedRuleAllowEventRuleVideoServiceScalerFunctionACFD7D0FB4F8E44E": (
        "AWS::Lambda::Permission"
    ),
    "HttpApiF5A9A8A7": "AWS::ApiGatewayV2::Api",
    "DefaultStageEE28A986": "AWS::ApiGatewayV2::Stage",
}
NEW_VPC = {
    "Vpc8378EB38": "AWS::EC2::VPC",
    "VpcS3A5408339": "AWS::EC2::VPCEndpoint",
    "VpcDynamoDB6FB9CBF5": "AWS::EC2::VPCEndpoint",
    "VpcFlowLog8FF33A73": "AWS::EC2::FlowLog",
    "VpcFlowLogIAMRole6A475D41": "AWS::IAM::Role",
    "VpcFlowLogIAMRoleDefaultPolicy406FB995": "AWS::IAM::Policy",
    "VpcIGWD7BA715C": "AWS::EC2::InternetGateway",
    "VpcVPCGWBF912B6E": "AWS::EC2::VPCGatewayAttachment",
    "VpcpublicSubnet1EIP411541E6": "AWS::EC2::EIP",
    "VpcpublicSubnet1NATGatewayA036E8A6": "AWS::EC2::NatGateway",
    "VpcpublicSubnet1Subnet2BB74ED7": "AWS::EC2::Subnet",
    "VpcpublicSubnet2SubnetE34B022A": "AWS::EC2::Subnet",
    "VpcprivateSubnet1SubnetCEAD3716": "AWS::EC2::Subnet",
    "VpcprivateSubnet2Subnet2DE7549C": "AWS::EC2::Subnet",
    "VpcpublicSubnet1RouteTable15C15F8E": "AWS::EC2::RouteTable",
    "VpcpublicSubnet2RouteTableC5A6DF77": "AWS::EC2::RouteTable",
    "VpcprivateSubnet1RouteTable1979EACB": "AWS::EC2::RouteTable",
    "VpcprivateSubnet2RouteTable4D0FFC8C": "AWS::EC2::RouteTable",
    "VpcpublicSubnet1RouteTableAssociation4E83B6E4": "AWS::EC2::SubnetRouteTableAssociation",
    "VpcpublicSubnet2RouteTableAssociationCCE257FF": "AWS::EC2::SubnetRouteTableAssociation",
    "VpcprivateSubnet1RouteTableAssociationEEBD93CE": "AWS::EC2::SubnetRouteTableAssociation",
    "VpcprivateSubnet2RouteTableAssociationB691E645": "AWS::EC2::SubnetRouteTableAssociation",
    "VpcpublicSubnet1DefaultRouteB88F9E93": "AWS::EC2::Route",
    "VpcpublicSubnet2DefaultRoute732F0BEB": "AWS::EC2::Route",
    "VpcprivateSubnet1DefaultRouteB506891A": "AWS::EC2::Route",
    "VpcprivateSubnet2DefaultRouteBAC3C1C3": "AWS::EC2::Route",
}


def _ids(synth: Synthesized, kinds: tuple[str, ...]) -> dict[str, str]:
    return {
        logical_id: resource["Type"]
        for logical_id, resource in synth.template["Resources"].items()
        if resource["Type"] in kinds
    }


def test_stateful_logical_ids_are_pinned(synth: Synthesized) -> None:
    """Every table, bucket and log group, and no other: a new one must be pinned here too."""
    assert _ids(synth, STATEFUL_TYPES) == STATEFUL


def test_stateful_logical_ids_are_pinned_with_an_existing_vpc(
    synth_existing_vpc: Synthesized,
) -> None:
    expected = {k: v for k, v in STATEFUL.items() if k not in NEW_VPC_ONLY}
    assert _ids(synth_existing_vpc, STATEFUL_TYPES) == expected


@pytest.mark.parametrize("pinned", [STATELESS, NEW_VPC], ids=["service", "new-vpc"])
def test_other_logical_ids_are_kept(synth: Synthesized, pinned: dict[str, str]) -> None:
    types = {k: r["Type"] for k, r in synth.template["Resources"].items()}
    missing = {k: v for k, v in pinned.items() if types.get(k) != v}
    assert missing == {}, f"renamed or removed (each would be a replacement): {missing}"


def test_route_resources_are_named_after_their_route(synth: Synthesized) -> None:
    """Routes, their integration and permissions: `HttpApi<METHOD><path>...`, one per route."""
    routes = synth.resources("AWS::ApiGatewayV2::Route")
    permissions = {k for k in synth.resources("AWS::Lambda::Permission") if k.startswith("HttpApi")}
    assert routes
    for logical_id, route in routes.items():
        method, path = route["Properties"]["RouteKey"].split(" ", 1)
        stem = "HttpApi" + method + "".join(c for c in path if c.isalnum())
        assert logical_id.startswith(stem), (logical_id, stem)
        assert len(logical_id) == len(stem) + 8  # + CDK's path hash
        assert any(p.startswith(f"{stem}ApiIntegrationPermission") for p in permissions), stem
    assert len(permissions) == len(routes)

"""Where the Lambda MI instances run: the VPC (new, or an existing one) and their security group."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from video_infra.log_groups import log_group
from video_infra.settings import InfraSettings


class Network:
    """A new VPC (public + private subnets in up to 3 AZs, NAT, free gateway endpoints for S3
    and DynamoDB, a flow log of rejected traffic) or the one `-c vpcId=` names, and the
    capacity providers' security group: no inbound, HTTPS out only.

    Built in `scope` (the stack) itself, so logical IDs are those of the single-stack layout.
    """

    def __init__(
        self, scope: Construct, *, settings: InfraSettings, retention: logs.RetentionDays
    ) -> None:
        self.vpc = _vpc(scope, settings, retention)
        self.private_subnets = self.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
        self.security_group = ec2.SecurityGroup(
            scope,
            "CapacitySecurityGroup",
            vpc=self.vpc,
            description="Lambda MI instances: no inbound; HTTPS out to AWS APIs only",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS service endpoints"
        )


def _vpc(scope: Construct, settings: InfraSettings, retention: logs.RetentionDays) -> ec2.IVpc:
    if settings.vpc_id:
        # A real deploy looks the VPC up (and caches it in cdk.context.json); offline
        # synthesis needs that context entry already present.
        return ec2.Vpc.from_lookup(scope, "Vpc", vpc_id=settings.vpc_id)
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        max_azs=3,
        nat_gateways=settings.nat_gateways,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(
                name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
            ),
        ],
        # Media and metadata traffic bypasses the NAT gateway (free gateway endpoints).
        gateway_endpoints={
            "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            "DynamoDB": ec2.GatewayVpcEndpointOptions(
                service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
            ),
        },
    )
    vpc.add_flow_log(
        "FlowLog",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(
            log_group(scope, "VpcFlowLogGroup", retention)
        ),
        traffic_type=ec2.FlowLogTrafficType.REJECT,
    )
    return vpc

"""Log groups: retention from the `logRetentionDays` setting, removed with the stack."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch accepts only some retention periods: refuse any other at synth time."""
    if days not in _RETENTION:
        raise ValueError(f"logRetentionDays must be one of {sorted(_RETENTION)}, not {days}")
    return _RETENTION[days]


def log_group(
    scope: Construct,
    construct_id: str,
    retention: logs.RetentionDays,
    *,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group with the deployment's retention; logs are not data worth retaining."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        retention=retention,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )

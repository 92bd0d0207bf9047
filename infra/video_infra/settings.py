"""Deploy-time settings, read once from CDK context (`cdk.json` or `-c key=value`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Node

# Measured: one decode + the whole ladder + analysis + subtitles of a 1080p clip take about as long
# as the clip itself on 2 vCPUs (DESIGN.md, media toolchain). The processor's timeout must cover
# the longest accepted video at that speed plus fetch/upload overhead.
PROCESSING_SECONDS_PER_MEDIA_SECOND = 1.0
PROCESSING_OVERHEAD_SECONDS = 120
LAMBDA_MAX_TIMEOUT_SECONDS = 900


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class InfraSettings:
    """Everything a deployment may vary; defaults are the ones `cdk.json` documents."""

    stack_name: str = "VideoService"
    vpc_id: str | None = None
    nat_gateways: int = 1
    deletion_protection: bool = True
    log_retention_days: int = 30
    upload_expiry_days: int = 7
    max_duration_seconds: int = 600
    processor_timeout_seconds: int = LAMBDA_MAX_TIMEOUT_SECONDS
    scale_min: int = 2
    scale_max: int = 5
    api_throttle_rate: int = 100
    api_throttle_burst: int = 200

    @classmethod
    def from_context(cls, node: Node) -> InfraSettings:
        def get(key: str, default: Any) -> Any:
            value = node.try_get_context(key)
            return default if value is None or value == "" else value

        settings = cls(
            stack_name=str(get("stackName", cls.stack_name)),
            vpc_id=get("vpcId", None),
            nat_gateways=int(get("natGateways", cls.nat_gateways)),
            deletion_protection=_bool(get("deletionProtection", cls.deletion_protection)),
            log_retention_days=int(get("logRetentionDays", cls.log_retention_days)),
            upload_expiry_days=int(get("uploadExpiryDays", cls.upload_expiry_days)),
            max_duration_seconds=int(get("maxDurationSeconds", cls.max_duration_seconds)),
            processor_timeout_seconds=int(
                get("processorTimeoutSeconds", cls.processor_timeout_seconds)
            ),
            scale_min=int(get("scaleMin", cls.scale_min)),
            scale_max=int(get("scaleMax", cls.scale_max)),
            api_throttle_rate=int(get("apiThrottleRate", cls.api_throttle_rate)),
            api_throttle_burst=int(get("apiThrottleBurst", cls.api_throttle_burst)),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that would deploy but could never work."""
        if self.processor_timeout_seconds > LAMBDA_MAX_TIMEOUT_SECONDS:
            raise ValueError(f"processorTimeoutSeconds must be <= {LAMBDA_MAX_TIMEOUT_SECONDS}")
        needed = (
            self.max_duration_seconds * PROCESSING_SECONDS_PER_MEDIA_SECOND
            + PROCESSING_OVERHEAD_SECONDS
        )
        if needed > self.processor_timeout_seconds:
            raise ValueError(
                f"maxDurationSeconds={self.max_duration_seconds} needs about {needed:.0f} s of "
                f"processing, more than the processor's {self.processor_timeout_seconds} s timeout"
            )
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError("need 0 < scaleMin <= scaleMax")

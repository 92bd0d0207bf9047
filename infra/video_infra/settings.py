"""Deploy-time settings, read once from CDK context (`cdk.json` or `-c key=value`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Node

# Measured (make bench-media / bench-chunked, 1080p30, 2026-11-29): the ladder + analysis +
# subtitles cost ~3.3 CPU-seconds per media second, 1.2-2.0 s per media second on 2 vCPUs.
PROCESSING_SECONDS_PER_MEDIA_SECOND = 2.0
PROCESSING_OVERHEAD_SECONDS = 120
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# Videos longer than one segment are processed in segments (VIDEO_SEGMENT_SECONDS, default 60 s),
# one invocation each; the audio is one invocation for the whole video (AAC + loudness, measured
# >= 19x realtime up to 1 h, >= 35x with the fast coder beyond), assembly is stream copy.
SEGMENT_SECONDS = 60
AUDIO_SECONDS_PER_MEDIA_SECOND = 0.053
AUDIO_FAST_SECONDS_PER_MEDIA_SECOND = 0.029
ASSEMBLY_SECONDS_PER_MEDIA_SECOND = 0.02
MAX_DURATION_SECONDS = 3 * 3600
# Lambda's ephemeral storage (/tmp) range, MiB.
EPHEMERAL_STORAGE_MIN_MIB = 512
EPHEMERAL_STORAGE_MAX_MIB = 10240
# The processor's /tmp: `make bench-disk` measured the worst invocation of a 3-hour 1080p video at
# <= 0.72 GB (a short source of at most 512 MiB run in one pass, with its ladder); longer sources
# are planned through presigned URLs and joined in S3, so no invocation holds a whole video. One
# request per environment (PROCESSOR_SIZING) and MI shares /tmp between an environment's
# requests: 0.72 GB x 1, with margin for ffmpeg's temporaries and a slower-than-modelled rate.
PROCESSOR_EPHEMERAL_STORAGE_MIB = 2048


def longest_invocation_seconds(max_duration_seconds: float) -> float:
    """The longest processor invocation a video of at most this duration needs (segmented)."""
    audio_rate = (
        AUDIO_SECONDS_PER_MEDIA_SECOND
        if max_duration_seconds <= 3600
        else AUDIO_FAST_SECONDS_PER_MEDIA_SECOND
    )
    one_invocation = min(max_duration_seconds, SEGMENT_SECONDS * 4 / 3)  # a short video, whole
    return PROCESSING_OVERHEAD_SECONDS + max(
        one_invocation * PROCESSING_SECONDS_PER_MEDIA_SECOND,
        max_duration_seconds * audio_rate,
        max_duration_seconds * ASSEMBLY_SECONDS_PER_MEDIA_SECOND,
    )


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
    # how long the media bucket keeps an overwritten or deleted output (versioning)
    noncurrent_version_days: int = 30
    max_duration_seconds: int = MAX_DURATION_SECONDS
    processor_timeout_seconds: int = LAMBDA_MAX_TIMEOUT_SECONDS
    processor_ephemeral_storage_mib: int = PROCESSOR_EPHEMERAL_STORAGE_MIB
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
            noncurrent_version_days=int(get("noncurrentVersionDays", cls.noncurrent_version_days)),
            max_duration_seconds=int(get("maxDurationSeconds", cls.max_duration_seconds)),
            processor_timeout_seconds=int(
                get("processorTimeoutSeconds", cls.processor_timeout_seconds)
            ),
            processor_ephemeral_storage_mib=int(
                get("processorEphemeralStorageMiB", cls.processor_ephemeral_storage_mib)
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
        if self.max_duration_seconds > MAX_DURATION_SECONDS:
            raise ValueError(f"maxDurationSeconds must be <= {MAX_DURATION_SECONDS}")
        needed = longest_invocation_seconds(self.max_duration_seconds)
        if needed > self.processor_timeout_seconds:
            raise ValueError(
                f"maxDurationSeconds={self.max_duration_seconds} needs about {needed:.0f} s of "
                f"processing, more than the processor's {self.processor_timeout_seconds} s timeout"
            )
        if not (
            EPHEMERAL_STORAGE_MIN_MIB
            <= self.processor_ephemeral_storage_mib
            <= EPHEMERAL_STORAGE_MAX_MIB
        ):
            raise ValueError(
                f"processorEphemeralStorageMiB must be {EPHEMERAL_STORAGE_MIN_MIB}.."
                f"{EPHEMERAL_STORAGE_MAX_MIB}"
            )
        if self.noncurrent_version_days < 1:
            raise ValueError("noncurrentVersionDays must be >= 1")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError("need 0 < scaleMin <= scaleMax")

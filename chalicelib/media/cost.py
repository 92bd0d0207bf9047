"""What processing a video cost: environment-seconds, CPU seconds, and dollars per media minute.

On Lambda MI the bill is environment-hours (the instance price plus the management fee), so
the time an environment spends on a video is its unit cost. A run holds one environment for its
wall time; CPU seconds (this process and its ffmpeg children) say how busy it kept it.
`price_per_env_hour` is configuration (`VIDEO_PRICE_PER_ENV_HOUR`): the README shows the
figure for the deployed size at list price.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # ffmpeg runs, once they ended
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class CostMeter:
    """Started when a run starts; `block()` when it ends."""

    price_per_env_hour: float
    started: float = 0.0
    cpu_started: float = 0.0

    def __post_init__(self) -> None:
        self.started, self.cpu_started = time.monotonic(), _cpu_seconds()

    def block(self, media_seconds: float, stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
        env_seconds = time.monotonic() - self.started
        return cost_block(
            env_seconds,
            _cpu_seconds() - self.cpu_started,
            media_seconds,
            self.price_per_env_hour,
            {name: round(s.get("ms", 0) / 1000, 3) for name, s in stages.items()},
        )


def cost_block(
    env_seconds: float,
    cpu_seconds: float | None,
    media_seconds: float,
    price_per_env_hour: float,
    stage_seconds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The item's `cost`: stages overlap (they run concurrently), so their seconds are each
    stage's wall time, and `environmentSeconds` is the run's."""
    usd = env_seconds / 3600 * price_per_env_hour
    minutes = media_seconds / 60
    return {
        "environmentSeconds": round(env_seconds, 3),
        # the batch's capacity share: written by the finalizer when the batch ends, and then
        # the dollars follow it (tasks/finalizer.py)
        "capacitySeconds": None,
        "cpuSeconds": None if cpu_seconds is None else round(cpu_seconds, 3),
        "stageSeconds": stage_seconds or {},
        "mediaMinutes": round(minutes, 4),
        "environmentSecondsPerMinute": round(env_seconds / minutes, 3) if minutes else None,
        "pricePerEnvironmentHour": price_per_env_hour,
        "costUsd": round(usd, 6),
        "costPerMinute": round(usd / minutes, 6) if minutes else None,
    }

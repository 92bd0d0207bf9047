"""The orchestrator port."""

from __future__ import annotations

import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any

_NAME_RE = re.compile(r"^exec-[0-9a-f]{32}$")


def new_execution_name() -> str:
    return f"exec-{uuid.uuid4().hex}"


def is_execution_name(value: str) -> bool:
    return bool(_NAME_RE.match(value))


def execution_name_of(execution_id: str) -> str:
    """The name is the last `:`-separated part of an execution ARN."""
    return execution_id.rsplit(":", 1)[-1]


def execution_view(desc: Mapping[str, Any]) -> dict[str, Any]:
    """The API's shape of an execution from a DescribeExecution-like mapping."""
    out: dict[str, Any] = {
        "executionArn": desc["executionArn"],
        "name": execution_name_of(desc["executionArn"]),
        "status": desc["status"],
    }
    for key in ("startDate", "stopDate"):
        value = desc.get(key)
        if value is not None:
            out[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    for key in ("currentState", "error", "cause"):
        if desc.get(key):
            out[key] = desc[key]
    try:
        video_ids = json.loads(desc.get("input") or "{}").get("videoIds")
    except (TypeError, ValueError, AttributeError):
        video_ids = None
    if isinstance(video_ids, list):
        out["videoIds"] = [v for v in video_ids if isinstance(v, str)]
    if desc.get("output"):
        try:
            out["output"] = json.loads(desc["output"])
        except (TypeError, ValueError):
            out["output"] = desc["output"]
    return out


class Orchestrator(ABC):
    @abstractmethod
    def start(self, name: str, video_ids: list[str]) -> str:
        """Start one execution for a batch; return its ARN."""

    @abstractmethod
    def describe(self, name: str) -> dict[str, Any] | None:
        """Status of an execution by name: {executionArn, status, startDate, stopDate?,
        error?, cause?, currentState?}, or None when unknown."""

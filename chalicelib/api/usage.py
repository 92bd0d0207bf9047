"""`GET /usage`: a pure sum over the cost blocks the processor wrote on completed videos (the
API never imports the media package that measures them)."""

from __future__ import annotations

from typing import Any


def usage(items: list[dict[str, Any]], price_per_env_hour: float) -> dict[str, Any]:
    """`GET /usage`: the sum over completed videos that carry a cost."""
    costs = [i["cost"] for i in items if isinstance(i.get("cost"), dict)]
    env = sum(float(c.get("environmentSeconds", 0)) for c in costs)
    # The batch's capacity share once its batch ended (the bill); before that, the busy time.
    capacity = sum(
        float(c.get("capacitySeconds") or c.get("environmentSeconds") or 0) for c in costs
    )
    cpu = sum(float(c.get("cpuSeconds") or 0) for c in costs)
    minutes = sum(float(c.get("mediaMinutes", 0)) for c in costs)
    usd = sum(float(c.get("costUsd", 0)) for c in costs)
    return {
        "videos": len(costs),
        "mediaMinutes": round(minutes, 4),
        "environmentSeconds": round(env, 3),
        "capacitySeconds": round(capacity, 3),
        "cpuSeconds": round(cpu, 3),
        "costUsd": round(usd, 6),
        "costPerMinute": round(usd / minutes, 6) if minutes else None,
        "pricePerEnvironmentHour": price_per_env_hour,
    }

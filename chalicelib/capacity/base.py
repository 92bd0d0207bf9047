"""The capacity port."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingState:
    requested_min: int
    requested_max: int
    applied_min: int | None  # None while a change is still being applied
    applied_max: int | None

    @property
    def settled(self) -> bool:
        return (self.applied_min, self.applied_max) == (self.requested_min, self.requested_max)


class CapacityController(ABC):
    @abstractmethod
    def set_scaling(self, min_envs: int, max_envs: int) -> None:
        """Request a scaling config (asynchronous: see `get_scaling`)."""

    @abstractmethod
    def get_scaling(self) -> ScalingState: ...

"""The processor's capacity: the Lambda scaling-config API in AWS, a worker-process pool locally."""

from chalicelib.capacity.base import CapacityController, ScalingState

__all__ = ["CapacityController", "ScalingState"]

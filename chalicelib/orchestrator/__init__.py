"""Starts and describes processing executions: Step Functions in AWS, in-process locally."""

from chalicelib.orchestrator.base import Orchestrator

__all__ = ["Orchestrator"]

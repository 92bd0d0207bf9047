"""Shared fixtures of the workflow tests: the committed definition and fake Lambda functions."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.workflow.workflow_fakes import FakeFunctions  # noqa: E402

DEFINITION_PATH = ROOT / "workflow" / "definition.asl.json"


@pytest.fixture(scope="session")
def definition_text() -> str:
    return DEFINITION_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def definition(definition_text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(definition_text)
    return loaded


@pytest.fixture
def fakes() -> FakeFunctions:
    return FakeFunctions()


@pytest.fixture
def make_engine(definition_text: str) -> Iterator[Callable[..., Any]]:
    """Engines on the committed definition (instant Waits and Retry sleeps), closed after."""
    from chalicelib.orchestrator.engine import LocalWorkflowEngine

    engines: list[LocalWorkflowEngine] = []

    def make(functions: FakeFunctions, **kwargs: Any) -> LocalWorkflowEngine:
        kwargs.setdefault("wait_seconds", 0.0)
        kwargs.setdefault("retry_scale", 0.0)
        engine = LocalWorkflowEngine(definition_text, functions.invokers(), **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()

"""The committed ASL definition: in step with its generator, valid, safe on every failure path."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workflow import validate
from workflow.substitute import load_definition, placeholders, substitute

RELEASES = {"ReleaseCapacity", "ReleaseCapacityAfterFailure"}
SWEEPS = {"FinalizeBatch", "SweepAfterFailure"}
LAMBDA_ERRORS = {
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.SdkClientException",
    "Lambda.AWSLambdaException",
}


# --- the graph, flattened across Map iterators ---------------------------------------------


def _flatten(
    machine: dict[str, Any], parent: str | None = None
) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    for name, state in machine["States"].items():
        yield name, state, parent
        if "Iterator" in state:
            yield from _flatten(state["Iterator"], name)
        if "ItemProcessor" in state:
            yield from _flatten(state["ItemProcessor"], name)


class Graph:
    """Successors of each state; an iterator's End goes on at its Map's Next, its Fail at the Map's
    Catch targets (that is how a Map item ends or fails the Map)."""

    def __init__(self, machine: dict[str, Any]) -> None:
        self.machine = machine
        self.states: dict[str, dict[str, Any]] = {}
        self.parent: dict[str, str | None] = {}
        for name, state, parent in _flatten(machine):
            assert name not in self.states, f"duplicate state name {name}"
            self.states[name] = state
            self.parent[name] = parent

    def tasks(self) -> list[str]:
        return [name for name, state in self.states.items() if state["Type"] == "Task"]

    def catch_targets(self, name: str) -> list[str]:
        return [catch["Next"] for catch in self.states[name].get("Catch", [])]

    def successors(self, name: str) -> list[str]:
        state = self.states[name]
        nexts = [*self.catch_targets(name)]
        if "Next" in state:
            nexts.append(state["Next"])
        nexts += [choice["Next"] for choice in state.get("Choices", [])]
        if "Default" in state:
            nexts.append(state["Default"])
        parent = self.parent[name]
        if parent is not None and (state.get("End") or state["Type"] == "Succeed"):
            nexts += self._after(parent)
        if parent is not None and state["Type"] == "Fail":
            nexts += self.catch_targets(parent)
        return nexts

    def _after(self, map_name: str) -> list[str]:
        state = self.states[map_name]
        return [state["Next"]] if "Next" in state else []

    def is_terminal(self, name: str) -> bool:
        state = self.states[name]
        top_level = self.parent[name] is None
        return top_level and (state["Type"] in ("Fail", "Succeed") or bool(state.get("End")))

    def reachable(self, start: str, stop_at: set[str]) -> set[str]:
        """States reachable from `start` without passing through any state in `stop_at`."""
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in stop_at:
                continue
            todo.extend(self.successors(name))
        return seen


@pytest.fixture(scope="module")
def graph(definition: dict[str, Any]) -> Graph:
    return Graph(definition)


# --- in step with the generator, and valid -------------------------------------------------


def test_committed_definition_is_what_the_generator_builds(definition_text: str) -> None:
    from workflow.definition import build_definition, render

    assert render(build_definition()) == definition_text, (
        "workflow/definition.asl.json is stale: run `python -m workflow definition --write`"
    )


def test_cli_prints_the_committed_definition(
    definition_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from workflow.__main__ import main

    assert main(["definition"]) == 0
    assert capsys.readouterr().out == definition_text


def test_map_concurrency_is_the_processor_capacity() -> None:
    from workflow.definition import build_definition, processor_capacity

    built = build_definition(max_concurrency=processor_capacity(5, 2), wait_seconds=7)
    assert built["States"]["ProcessVideos"]["MaxConcurrency"] == 10
    assert built["States"]["WaitForCapacity"]["Seconds"] == 7
    with pytest.raises(ValueError, match=">= 1"):
        processor_capacity(0, 2)


def test_statelint_is_clean(definition_text: str) -> None:
    assert validate.statelint_problems(definition_text) == []


def test_moto_parser_accepts_it(definition_text: str) -> None:
    assert validate.moto_parser_problems(definition_text) == []


def test_asl_validator_is_clean(definition_text: str) -> None:
    # node is on every machine of this project and on CI: a missing npx is a failure, not a skip.
    assert validate.npx_available(), "npx not found: node is required for asl-validator"
    assert validate.asl_validator_problems(definition_text) == []


def test_the_checks_do_find_problems(definition_text: str) -> None:
    broken = definition_text.replace('"Next": "StartCapacityPoll"', '"Next": "Nowhere"')
    assert validate.statelint_problems(broken)
    assert validate.moto_parser_problems("{")


# --- placeholders ----------------------------------------------------------------------------


def test_resources_are_the_three_placeholders(graph: Graph, definition_text: str) -> None:
    resources = {graph.states[name]["Resource"] for name in graph.tasks()}
    assert resources == {
        "${ScalerFunctionArn}",
        "${ProcessorFunctionArn}",
        "${FinalizerFunctionArn}",
    }
    assert placeholders(definition_text) == {
        "ScalerFunctionArn",
        "ProcessorFunctionArn",
        "FinalizerFunctionArn",
    }


def test_load_definition_fills_every_placeholder() -> None:
    arns = {
        "ScalerFunctionArn": "arn:aws:lambda:eu-west-1:111122223333:function:scaler",
        "ProcessorFunctionArn": "arn:aws:lambda:eu-west-1:111122223333:function:processor:live",
        "FinalizerFunctionArn": "arn:aws:lambda:eu-west-1:111122223333:function:finalizer",
    }
    text = load_definition(arns)
    assert "${" not in text
    resources = {
        state["Resource"] for _, state, _ in _flatten(json.loads(text)) if "Resource" in state
    }
    assert resources == set(arns.values())


def test_a_missing_substitution_is_named() -> None:
    with pytest.raises(KeyError, match="ProcessorFunctionArn"):
        substitute(
            '{"a": "${ScalerFunctionArn}", "b": "${ProcessorFunctionArn}"}',
            {"ScalerFunctionArn": "x"},
        )


def test_substitution_cannot_break_the_json() -> None:
    assert json.loads(substitute('{"a": "${X}"}', {"X": 'a"b\\c'})) == {"a": 'a"b\\c'}


def test_the_runtime_reader_does_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, workflow.substitute; "
        "assert 'stepfunctions' not in sys.modules and 'sagemaker' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


# --- every Task is guarded -------------------------------------------------------------------


def test_every_task_catches_everything_into_its_own_result_path(graph: Graph) -> None:
    for name in graph.tasks():
        catches = graph.states[name].get("Catch", [])
        assert catches, f"{name} has no Catch"
        catch_all = [c for c in catches if c["ErrorEquals"] == ["States.ALL"]]
        assert catch_all, f"{name} does not catch States.ALL"
        for catch in catches:
            # Never `$` (or missing): the caught error must not replace the state input.
            assert catch.get("ResultPath", "$") not in ("$", None), f"{name} overwrites its input"


def test_every_task_retries_lambda_service_errors_with_backoff(graph: Graph) -> None:
    for name in graph.tasks():
        retries = graph.states[name].get("Retry", [])
        covered = {error for retry in retries for error in retry["ErrorEquals"]}
        assert covered >= LAMBDA_ERRORS, f"{name} does not retry {LAMBDA_ERRORS - covered}"
        for retry in retries:
            assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 2, name


def test_every_task_and_the_machine_have_a_timeout(
    graph: Graph, definition: dict[str, Any]
) -> None:
    assert definition["TimeoutSeconds"] > 0
    for name in graph.tasks():
        assert graph.states[name].get("TimeoutSeconds", 0) > 0, f"{name} has no TimeoutSeconds"


def test_no_indexed_json_paths(definition_text: str) -> None:
    # moto returns a list for a definite path with an index ($.a[0].b): keep the engine honest.
    assert not re.search(r'"\$\.?[^"]*\[\d+\]', definition_text)


# --- failure routes --------------------------------------------------------------------------


def test_from_every_catch_a_release_comes_before_any_end(graph: Graph) -> None:
    for name in graph.tasks():
        if name in RELEASES:
            continue
        for target in graph.catch_targets(name):
            unreleased_ends = {
                state
                for state in graph.reachable(target, stop_at=RELEASES)
                if graph.is_terminal(state)
            }
            assert not unreleased_ends, f"{name} -> {target} ends at {unreleased_ends} unreleased"


def test_from_the_start_no_end_is_reachable_without_a_release(graph: Graph) -> None:
    start = graph.machine["StartAt"]
    reached = graph.reachable(start, stop_at=RELEASES)
    assert not {state for state in reached if graph.is_terminal(state)}
    assert reached >= RELEASES


def test_failure_routes_sweep_the_batch_before_releasing(graph: Graph) -> None:
    for name in graph.tasks():
        if name in RELEASES | SWEEPS:
            continue
        for target in graph.catch_targets(name):
            reached = graph.reachable(target, stop_at=SWEEPS)
            assert not reached & RELEASES, f"{name} -> {target} releases before sweeping"


def test_a_failed_release_fails_the_execution_loudly(graph: Graph) -> None:
    for name in RELEASES:
        state = graph.states[name]
        assert state["Resource"] == "${ScalerFunctionArn}"
        assert state["Parameters"]["action"] == "release"
        assert graph.catch_targets(name) == ["CapacityReleaseFailed"]
        assert any(r["ErrorEquals"] == ["States.ALL"] for r in state["Retry"])
    assert graph.states["CapacityReleaseFailed"]["Type"] == "Fail"
    assert graph.states["CapacityReleaseFailed"]["Error"] == "CapacityReleaseFailed"


def test_a_processor_failure_is_finalized_inside_its_item(graph: Graph) -> None:
    assert graph.parent["ProcessVideo"] == "ProcessVideos"
    assert graph.catch_targets("ProcessVideo") == ["MarkVideoFailed"]
    mark = graph.states["MarkVideoFailed"]
    assert mark["Resource"] == "${FinalizerFunctionArn}"
    assert mark["Parameters"]["error.$"] == "$.error"
    # No Fail inside the item: a bad video never fails its siblings.
    item_states = [name for name, parent in graph.parent.items() if parent == "ProcessVideos"]
    assert all(graph.states[name]["Type"] != "Fail" for name in item_states)

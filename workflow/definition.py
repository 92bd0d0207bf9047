"""The processing state machine, built with the AWS Step Functions Data Science SDK.

Build-time only: importing this module pulls `stepfunctions` (and sagemaker, ~2 s). Everything
else reads the committed `definition.asl.json` and fills it with `workflow.substitute`: the CLI,
the CDK stack (as DefinitionSubstitutions) and the local engine (`chalicelib.orchestrator`).

Shape of one execution (input `{"videoIds": [...]}`, 1-100 ids):

    AcquireCapacity -> StartCapacityPoll -> CheckCapacity -> IsCapacityReady
        ready     -> ProcessVideos (Map: ProcessVideo | MarkVideoFailed -> VideoFailed)
        exhausted -> CapacityNotReady -> [failure path]
        otherwise -> WaitForCapacity -> CheckCapacity
    ProcessVideos -> FinalizeBatch -> ReleaseCapacity -> BatchSucceeded

    failure path: SweepAfterFailure -> ReleaseCapacityAfterFailure -> WhichFailure
        -> CapacityUnavailable | BatchFailed          (Fail states)
    a release that still fails after its retries    -> CapacityReleaseFailed (Fail)

Every Task catches States.ALL into a ResultPath of its own (the input state is kept) and every catch
route passes a capacity-release Task before it can reach a Fail state.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Any

# The SDK imports sagemaker, which prints a v2 deprecation banner and config-discovery logs.
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
# SDK 2.3.0 compares `self.type is 'Choice'` (works: interned literals); its first compile warns.
warnings.filterwarnings("ignore", message='"is" with a literal', category=SyntaxWarning)

from stepfunctions.steps import (  # noqa: E402
    Catch,
    Chain,
    Choice,
    ChoiceRule,
    Fail,
    Graph,
    Map,
    Pass,
    Retry,
    Succeed,
    Task,
    Wait,
)

from workflow.substitute import FUNCTION_PLACEHOLDERS  # noqa: E402

# Substitution placeholders, filled by CDK `definition_substitutions` or by the CLI.
SCALER_ARN, PROCESSOR_ARN, FINALIZER_ARN = (
    "${" + FUNCTION_PLACEHOLDERS[key] + "}" for key in ("scaler", "processor", "finalizer")
)

# Errors the Lambda service itself raises (not the function): always worth retrying with backoff.
# Lambda.TooManyRequestsException is also what a processor invocation gets while the processor's
# capacity provider has no execution environment yet.
LAMBDA_TRANSIENT_ERRORS: tuple[str, ...] = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.SdkClientException",
    "Lambda.AWSLambdaException",
)

# Names of the capacity-release Tasks; the tests walk the graph to these.
RELEASE_STATES: tuple[str, ...] = ("ReleaseCapacity", "ReleaseCapacityAfterFailure")

CAPACITY_NOT_READY_ERROR = "Capacity.NotReady"
INCOMPLETE_ERROR = "Workflow.Incomplete"

# The processor's busy scaling (VIDEO_SCALE_MAX=5 environments) x 1 video per environment
# (infra/README.md: one ffmpeg ladder keeps an environment's 2 vCPUs busy).
DEFAULT_MAX_ENVIRONMENTS = 5
DEFAULT_PER_ENVIRONMENT_CONCURRENCY = 1
DEFAULT_MAX_CONCURRENCY = DEFAULT_MAX_ENVIRONMENTS * DEFAULT_PER_ENVIRONMENT_CONCURRENCY
DEFAULT_WAIT_SECONDS = 5
DEFAULT_STATE_MACHINE_TIMEOUT = 6 * 60 * 60
SCALER_TIMEOUT = 60
FINALIZER_TIMEOUT = 120
# Lambda's own ceiling: a processor invocation cannot run longer than 15 minutes.
PROCESSOR_TIMEOUT = 900


def processor_capacity(max_environments: int, per_environment_concurrency: int) -> int:
    """Concurrent invocations the scaled-up processor capacity serves (the Map's MaxConcurrency)."""
    if max_environments < 1 or per_environment_concurrency < 1:
        raise ValueError("max_environments and per_environment_concurrency must be >= 1")
    return max_environments * per_environment_concurrency


def _lambda_retry(interval: int = 2, attempts: int = 6, backoff: float = 2.0) -> Retry:
    return Retry(
        error_equals=list(LAMBDA_TRANSIENT_ERRORS),
        interval_seconds=interval,
        max_attempts=attempts,
        backoff_rate=backoff,
    )


def _catch_all(next_step: Any, result_path: str) -> Catch:
    return Catch(error_equals=["States.ALL"], next_step=next_step, result_path=result_path)


# Throttles of the processor (no free execution environment) are retried without a practical
# limit: nested Maps may ask for more invocations than the capacity serves, and a throttled
# segment must wait its turn, never fail. The delay is capped so a freed environment is used soon.
THROTTLE_ERROR = "Lambda.TooManyRequestsException"
THROTTLE_MAX_ATTEMPTS = 10_000
THROTTLE_MAX_DELAY_SECONDS = 20
# A segment (or the audio) whose invocation failed, or whose environment died, runs again.
SEGMENT_ERRORS: tuple[str, ...] = ("SegmentFailed", "Runtime.ExitError", "States.Timeout")
SEGMENT_RETRIES = 2


def _processor_retries() -> list[Retry]:
    """Patient on throttles, then the other Lambda service errors with backoff."""
    return [
        Retry(
            error_equals=[THROTTLE_ERROR],
            interval_seconds=2,
            max_attempts=THROTTLE_MAX_ATTEMPTS,
            backoff_rate=1.5,
        ),
        Retry(
            error_equals=[e for e in LAMBDA_TRANSIENT_ERRORS if e != THROTTLE_ERROR],
            interval_seconds=2,
            max_attempts=8,
            backoff_rate=2.0,
        ),
    ]


def _segment_iterator(processor_timeout: int) -> Chain:
    """One segment (or the audio, job -1) of a video: encode it into the run's scratch."""
    failed = Fail(
        "SegmentFailed",
        comment="The segment failed after its retries: the Map fails, the video is discarded.",
        error="SegmentFailed",
        cause="A segment failed after its retries.",
    )
    encode = Task(
        "EncodeSegment",
        resource=PROCESSOR_ARN,
        parameters={
            "action": "segment",
            "videoId.$": "$.videoId",
            "executionId.$": "$.executionId",
            "runId.$": "$.runId",
            "job.$": "$.job",
        },
        # The iteration's output is its job number: the Map's result stays tiny.
        result_path=None,
        output_path="$.job",
        timeout_seconds=processor_timeout,
        retry=[
            *_processor_retries(),
            Retry(
                error_equals=list(SEGMENT_ERRORS),
                interval_seconds=2,
                max_attempts=SEGMENT_RETRIES,
                backoff_rate=2.0,
            ),
        ],
        catch=[_catch_all(failed, "$.segmentError")],
    )
    return Chain([encode])


def _item_iterator(processor_timeout: int, max_concurrency: int) -> Chain:
    """One video: process it (short) or plan, encode its segments and assemble them (long); on
    failure mark just this video failed so siblings carry on."""
    video_failed = Pass(
        "VideoFailed",
        comment="The item ends normally so the Map (and the other videos) keep going.",
        # Only the error name: causes can be long (stack traces) and 100 of them could pass the
        # 256 KB payload limit. The finalizer stored the full cause on the video.
        parameters={"videoId.$": "$.videoId", "status": "failed", "error.$": "$.error.Error"},
    )
    mark_failed = Task(
        "MarkVideoFailed",
        comment="Finalizer for this one video, with the processor's error as the reason.",
        resource=FINALIZER_ARN,
        parameters={
            "executionId.$": "$.executionId",
            "videoIds.$": "States.Array($.videoId)",
            "videoId.$": "$.videoId",
            "error.$": "$.error",
        },
        result_path="$.finalized",
        timeout_seconds=FINALIZER_TIMEOUT,
        retry=[_lambda_retry()],
        # If even this fails, the batch sweep (FinalizeBatch) still marks the video failed.
        catch=[_catch_all(video_failed, "$.finalizeError")],
    )
    mark_failed.next(video_failed)
    discard = Task(
        "DiscardSegments",
        comment=(
            "A segmented video failed: drop its scratch (nothing partial is published) and name "
            "the failed segment in the error the finalizer records."
        ),
        resource=PROCESSOR_ARN,
        parameters={
            "action": "discard",
            "videoId.$": "$.videoId",
            "executionId.$": "$.executionId",
            "runId.$": "$.processed.runId",
            "error.$": "$.error",
        },
        result_path="$.error",
        timeout_seconds=FINALIZER_TIMEOUT,
        retry=_processor_retries(),
        catch=[_catch_all(mark_failed, "$.discardError")],
    )
    discard.next(mark_failed)
    done = Pass(
        "VideoProcessed",
        comment="A small item result: the Map's output holds one per video.",
        parameters={"videoId.$": "$.videoId", "status.$": "$.processed.status"},
    )
    assemble = Task(
        "AssembleVideo",
        comment="Join the segments (stream copy), merge the analysis, publish the run.",
        resource=PROCESSOR_ARN,
        parameters={
            "action": "assemble",
            "videoId.$": "$.videoId",
            "executionId.$": "$.executionId",
            "runId.$": "$.processed.runId",
        },
        result_path="$.assembled",
        timeout_seconds=processor_timeout,
        retry=[
            *_processor_retries(),
            Retry(
                error_equals=["Runtime.ExitError", "States.Timeout"],
                interval_seconds=2,
                max_attempts=SEGMENT_RETRIES,
                backoff_rate=2.0,
            ),
        ],
        catch=[_catch_all(discard, "$.error")],
    )
    assembled = Pass(
        "VideoAssembled",
        parameters={"videoId.$": "$.videoId", "status.$": "$.assembled.status"},
    )
    assemble.next(assembled)
    encode_segments = Map(
        "EncodeSegments",
        comment=(
            "Every segment and the audio of one video, as many at once as the capacity serves; "
            "the state holds job numbers only (the plan is in the run's scratch)."
        ),
        items_path="$.processed.jobs",
        max_concurrency=max_concurrency,
        parameters={
            "videoId.$": "$.videoId",
            "executionId.$": "$.executionId",
            "runId.$": "$.processed.runId",
            "job.$": "$$.Map.Item.Value",
        },
        iterator=_segment_iterator(PROCESSOR_TIMEOUT),
        result_path=None,
        catch=[_catch_all(discard, "$.error")],
    )
    encode_segments.next(assemble)
    is_segmented = Choice("IsSegmented")
    is_segmented.add_choice(
        ChoiceRule.And(
            [
                ChoiceRule.IsPresent(variable="$.processed.segmented", value=True),
                ChoiceRule.BooleanEquals(variable="$.processed.segmented", value=True),
            ]
        ),
        encode_segments,
    )
    is_segmented.default_choice(done)
    process = Task(
        "ProcessVideo",
        comment="Short videos are processed here in one invocation; long ones are planned.",
        resource=PROCESSOR_ARN,
        parameters={"videoId.$": "$.videoId", "executionId.$": "$.executionId"},
        result_path="$.processed",
        timeout_seconds=processor_timeout,
        # Throttling here usually means the capacity is still coming up: retry patiently.
        retry=_processor_retries(),
        catch=[_catch_all(mark_failed, "$.error")],
    )
    process.next(is_segmented)
    return Chain([process])


def build_definition(
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    timeout_seconds: int = DEFAULT_STATE_MACHINE_TIMEOUT,
    processor_timeout: int = PROCESSOR_TIMEOUT,
) -> dict[str, Any]:
    """Build the ASL definition (a dict) with `${...FunctionArn}` placeholders as Task resources."""
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be >= 1")
    if wait_seconds < 1:
        raise ValueError("wait_seconds must be >= 1")

    # Failure path, built back to front because catches need their targets.
    batch_failed = Fail(
        "BatchFailed",
        error="BatchFailed",
        cause=(
            "A step of the batch failed after its retries. Videos still queued or processing were "
            "marked failed and the processor capacity was released; the caught error is in the "
            "execution history ($.error)."
        ),
    )
    capacity_unavailable = Fail(
        "CapacityUnavailable",
        error="CapacityUnavailable",
        cause=(
            "The processor capacity did not become ready within the bounded number of polls. "
            "The batch was marked failed and the capacity was released."
        ),
    )
    release_failed = Fail(
        "CapacityReleaseFailed",
        error="CapacityReleaseFailed",
        cause=(
            "Releasing the processor capacity failed after all retries: capacity may still be "
            "scaled up and needs attention ($.releaseError in the execution history)."
        ),
    )
    which_failure = Choice("WhichFailure")
    which_failure.add_choice(
        ChoiceRule.StringEquals(variable="$.error.Error", value=CAPACITY_NOT_READY_ERROR),
        capacity_unavailable,
    )
    which_failure.default_choice(batch_failed)

    def release_task(state_id: str, next_step: Any) -> Task:
        task = Task(
            state_id,
            comment="Drop this execution's lease; the scaler scales to zero when none is left.",
            resource=SCALER_ARN,
            parameters={"action": "release", "executionId.$": "$$.Execution.Id"},
            result_path="$.release",
            timeout_seconds=SCALER_TIMEOUT,
            retry=[
                _lambda_retry(),
                # Release is idempotent per execution: retry any other error too before giving up.
                Retry(
                    error_equals=["States.ALL"],
                    interval_seconds=2,
                    max_attempts=3,
                    backoff_rate=2.0,
                ),
            ],
            catch=[_catch_all(release_failed, "$.releaseError")],
        )
        task.next(next_step)
        return task

    release_after_failure = release_task("ReleaseCapacityAfterFailure", which_failure)
    sweep_after_failure = Task(
        "SweepAfterFailure",
        comment="Mark every video of the batch still queued/processing as failed, with the error.",
        resource=FINALIZER_ARN,
        parameters={
            "executionId.$": "$$.Execution.Id",
            "videoIds.$": "$.videoIds",
            "error.$": "$.error",
        },
        result_path="$.sweep",
        timeout_seconds=FINALIZER_TIMEOUT,
        retry=[_lambda_retry()],
        # $.sweepError, not $.error: the original error stays for WhichFailure and the history.
        catch=[_catch_all(release_after_failure, "$.sweepError")],
    )
    sweep_after_failure.next(release_after_failure)

    # Success path.
    succeeded = Succeed("BatchSucceeded")
    release = release_task("ReleaseCapacity", succeeded)
    finalize = Task(
        "FinalizeBatch",
        comment="Sweep: any video of the batch not completed by now is marked failed.",
        resource=FINALIZER_ARN,
        parameters={
            "executionId.$": "$$.Execution.Id",
            "videoIds.$": "$.videoIds",
            "error": {
                "Error": INCOMPLETE_ERROR,
                "Cause": "The video was still queued or processing when its batch finished.",
            },
        },
        result_path="$.sweep",
        timeout_seconds=FINALIZER_TIMEOUT,
        retry=[_lambda_retry()],
        # The sweep itself failed: repeating it on the failure path is pointless, release instead.
        catch=[_catch_all(release_after_failure, "$.error")],
    )
    finalize.next(release)

    process_videos = Map(
        "ProcessVideos",
        items_path="$.videoIds",
        max_concurrency=max_concurrency,
        parameters={"videoId.$": "$$.Map.Item.Value", "executionId.$": "$$.Execution.Id"},
        iterator=_item_iterator(processor_timeout, max_concurrency),
        result_path="$.results",
        catch=[_catch_all(sweep_after_failure, "$.error")],
    )
    process_videos.next(finalize)

    capacity_not_ready = Pass(
        "CapacityNotReady",
        comment="Polls exhausted: shape an error like a caught one for the failure path.",
        result={
            "Error": CAPACITY_NOT_READY_ERROR,
            "Cause": "The processor capacity was not ready after the bounded number of polls.",
        },
        result_path="$.error",
    )
    capacity_not_ready.next(sweep_after_failure)

    check_capacity = Task(
        "CheckCapacity",
        resource=SCALER_ARN,
        parameters={
            "action": "status",
            "executionId.$": "$$.Execution.Id",
            "attempt.$": "$.capacity.attempt",
        },
        result_path="$.capacity",
        timeout_seconds=SCALER_TIMEOUT,
        retry=[_lambda_retry()],
        catch=[_catch_all(sweep_after_failure, "$.error")],
    )
    wait_for_capacity = Wait("WaitForCapacity", seconds=wait_seconds)
    wait_for_capacity.next(check_capacity)
    is_ready = Choice("IsCapacityReady")
    is_ready.add_choice(
        ChoiceRule.BooleanEquals(variable="$.capacity.ready", value=True), process_videos
    )
    is_ready.add_choice(
        ChoiceRule.BooleanEquals(variable="$.capacity.exhausted", value=True), capacity_not_ready
    )
    is_ready.default_choice(wait_for_capacity)
    check_capacity.next(is_ready)

    start_poll = Pass(
        "StartCapacityPoll",
        result={"ready": False, "attempt": 0, "exhausted": False},
        result_path="$.capacity",
    )
    start_poll.next(check_capacity)

    acquire = Task(
        "AcquireCapacity",
        comment="Register this execution's lease and scale the processor up.",
        resource=SCALER_ARN,
        parameters={"action": "acquire", "executionId.$": "$$.Execution.Id"},
        result_path="$.lease",
        timeout_seconds=SCALER_TIMEOUT,
        retry=[_lambda_retry()],
        # A failed acquire may still have scaled up (or registered a lease): release anyway.
        catch=[_catch_all(sweep_after_failure, "$.error")],
    )
    acquire.next(start_poll)

    graph = Graph(
        acquire,
        comment=(
            "Process a batch of videos on the processor's own capacity: scale up, wait until "
            "ready, process, sweep, scale down; every failure marks the batch failed and scales "
            "down."
        ),
        timeout_seconds=timeout_seconds,
    )
    return _readable(_cap_throttle_delays(graph.to_dict()))


def _cap_throttle_delays(definition: dict[str, Any]) -> dict[str, Any]:
    # The SDK predates MaxDelaySeconds: add it to every throttle retrier...
    for name, state in definition["States"].items():
        for retry in state.get("Retry", []):
            if retry["ErrorEquals"] == [THROTTLE_ERROR]:
                retry["MaxDelaySeconds"] = THROTTLE_MAX_DELAY_SECONDS
        if state.get("Type") == "Fail" and name == "SegmentFailed":
            # ...and ErrorPath/CausePath: the Map fails with the segment's own error, which
            # names the segment (the static Error/Cause stay only as the SDK's placeholders).
            del state["Error"], state["Cause"]
            state["ErrorPath"] = "$.segmentError.Error"
            state["CausePath"] = "$.segmentError.Cause"
        if name == "EncodeSegments":
            # ...and MaxConcurrencyPath: a video's jobs run as many at once as the processor's
            # capacity serves (`concurrency`, from the plan), so the Map starts them in the
            # plan's order — the first segment first — instead of throttled items retrying
            # for environments in no set order.
            del state["MaxConcurrency"]
            state["MaxConcurrencyPath"] = "$.processed.concurrency"
        if "Iterator" in state:
            _cap_throttle_delays(state["Iterator"])
    return definition


def render(definition: dict[str, Any]) -> str:
    """The JSON text committed as `definition.asl.json` (stable: same input, same bytes)."""
    return json.dumps(definition, indent=2, sort_keys=False) + "\n"


def _readable(definition: dict[str, Any]) -> dict[str, Any]:
    # The SDK emits "Type" after the other fields; reviewers read a state by its Type first.
    states = {}
    for name, state in definition["States"].items():
        ordered = {key: state[key] for key in ("Type", "Comment") if key in state}
        ordered.update((key, value) for key, value in state.items() if key not in ordered)
        if "Iterator" in ordered:
            ordered["Iterator"] = _readable(ordered["Iterator"])
        states[name] = ordered
    return {**definition, "States": states}

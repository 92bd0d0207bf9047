"""Fake Lambda functions for the workflow tests: plain callables over an in-memory video table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeFunctions:
    """The three Lambdas as plain callables over an in-memory video table.

    Videos start `queued`; the processor completes them; the finalizer fails those still queued or
    processing, as the real finalizer does. Knobs make a function fail in a given way.
    """

    videos: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ready_after: int = 0  # status polls answering not-ready before ready
    exhausted_after: int | None = None  # polls after which the scaler gives up
    processor_failures: dict[str, Exception] = field(default_factory=dict)
    throttles: dict[str, int] = field(default_factory=dict)  # video -> throttled attempts left
    scaler_failures: dict[str, Callable[[], Exception]] = field(default_factory=dict)
    scaler_transient: dict[str, int] = field(default_factory=dict)  # action -> failures left
    leases: int = 0
    # Segmented videos: video -> number of segments (the plan answers jobs -1..n-1); a job that
    # always fails; the processor's concurrent invocations (the Map must stay within capacity).
    segmented: dict[str, int] = field(default_factory=dict)
    failing_job: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    concurrency: int = 5  # what the plan answers: the Map's MaxConcurrencyPath
    started_jobs: list[tuple[str, int]] = field(default_factory=list)  # (video, job) in start order
    segment_in_flight: dict[str, int] = field(default_factory=dict)
    segment_max_in_flight: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch(self, *video_ids: str) -> dict[str, Any]:
        for video_id in video_ids:
            self.videos[video_id] = "queued"
        return {"videoIds": list(video_ids)}

    def invokers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"scaler": self.scaler, "processor": self.processor, "finalizer": self.finalizer}

    def calls_to(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [event for called, event in self.calls if called == name]

    def _record(self, name: str, event: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append((name, event))

    def scaler(self, event: dict[str, Any]) -> dict[str, Any]:
        from chalicelib.orchestrator.engine import FunctionError

        self._record("scaler", event)
        action = event["action"]
        with self.lock:
            if self.scaler_transient.get(action, 0) > 0:
                self.scaler_transient[action] -= 1
                raise FunctionError("Lambda.ServiceException", "transient")
        if action in self.scaler_failures:
            raise self.scaler_failures[action]()
        if action == "acquire":
            self.leases += 1
            return {"leases": self.leases}
        if action == "status":
            attempt = int(event["attempt"])
            exhausted = self.exhausted_after is not None and attempt + 1 >= self.exhausted_after
            return {
                "ready": attempt >= self.ready_after,
                "attempt": attempt + 1,
                "exhausted": exhausted,
            }
        self.leases -= 1
        return {"leases": self.leases, "scaledToZero": self.leases == 0}

    def processor(self, event: dict[str, Any]) -> dict[str, Any]:
        from chalicelib.orchestrator.engine import FunctionError

        self._record("processor", event)
        video_id = event["videoId"]
        with self.lock:
            if self.throttles.get(video_id, 0) > 0:
                self.throttles[video_id] -= 1
                raise FunctionError("Lambda.TooManyRequestsException", "no capacity yet")
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._process(event)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _process(self, event: dict[str, Any]) -> dict[str, Any]:
        from chalicelib.orchestrator.engine import FunctionError

        video_id = event["videoId"]
        action = event.get("action", "process")
        if action == "segment":
            with self.lock:
                self.started_jobs.append((video_id, event["job"]))
                now = self.segment_in_flight.get(video_id, 0) + 1
                self.segment_in_flight[video_id] = now
                most = max(now, self.segment_max_in_flight.get(video_id, 0))
                self.segment_max_in_flight[video_id] = most
            try:
                # long enough for the Map's iterations to overlap; later jobs are quicker, so
                # a Map that started them at once would see them finish out of order
                time.sleep(0.002 + 0.002 * max(0, 6 - event["job"]))
                if self.failing_job.get(video_id) == event["job"]:
                    raise FunctionError("SegmentFailed", f"segment {event['job'] + 1}: damaged")
                return {"job": event["job"]}
            finally:
                with self.lock:
                    self.segment_in_flight[video_id] -= 1
        if action == "assemble":
            with self.lock:
                self.videos[video_id] = "completed"
            return {"videoId": video_id, "status": "completed"}
        if action == "discard":
            cause = event["error"].get("Cause", "")
            return {"Error": event["error"]["Error"], "Cause": f"discarded: {cause}"}
        with self.lock:
            self.videos[video_id] = "processing"
        if video_id in self.segmented:
            count = self.segmented[video_id]
            jobs = [0, -1, *range(1, count)]  # segmented.job_order of a playable plan
            return {"videoId": video_id, "status": "processing", "segmented": True,
                    "runId": "run-1", "segments": count, "jobs": jobs,
                    "concurrency": self.concurrency}  # fmt: skip
        if video_id in self.processor_failures:
            raise self.processor_failures[video_id]
        with self.lock:
            self.videos[video_id] = "completed"
        return {"videoId": video_id, "status": "completed"}

    def finalizer(self, event: dict[str, Any]) -> dict[str, Any]:
        self._record("finalizer", event)
        failed = []
        with self.lock:
            for video_id in event["videoIds"]:
                if self.videos.get(video_id) in ("queued", "processing"):
                    self.videos[video_id] = "failed"
                    self.reasons[video_id] = event.get("error", {})
                    failed.append(video_id)
        return {"failed": failed}

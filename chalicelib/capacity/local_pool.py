"""A local capacity provider: execution environments are worker processes.

It behaves like a manually scaled Lambda MI capacity provider as far as the workflow can
tell: `set_scaling(min, max)` starts environments (asynchronously; `get_scaling` reports the
config as applied once `min` are up), an invocation with no free environment is throttled
with `TooManyRequestsException` (and, below `max`, starts one more environment for the
retry), and scaling down drains: a busy environment stops after its invocation, never
during it.

Scaling down parks environments instead of stopping them: each stays up, idle, for
`idle_seconds` (`VIDEO_POOL_IDLE_SECONDS`) and the next scale-up takes it back warm (its
imports done, its models loaded), as Lambda MI keeps an instance until it scales it in. The pool
records every environment's real start and stop (wall clock), so a batch's capacity time can be
counted (`environment_seconds`).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from chalicelib.capacity.base import CapacityController, ScalingState


class Throttled(Exception):
    """No free execution environment: Lambda's TooManyRequestsException."""

    error_type = "Lambda.TooManyRequestsException"


class EnvironmentFailed(Exception):
    """The environment's process died or timed out during an invocation."""


def _warm() -> bool:
    return True


def _pin(cpus: tuple[int, ...]) -> None:
    """Worker initializer: run this environment on its CPUs only (none given: anywhere), and
    end it if the server that started it goes away (a warm environment parked for the idle
    period must not outlive a server killed without a chance to close its pool)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    parent = os.getppid()

    def _watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=_watch_parent, name="orphan-watch", daemon=True).start()


def default_env_threads(configured: int, max_environments: int) -> int:
    """CPUs per local environment: the configured number, else the machine's CPUs shared among
    the most environments the scaler asks for (at least one), so busy environments never
    oversubscribe the machine."""
    if configured > 0:
        return configured
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // max(1, max_environments))


@dataclass
class _Environment:
    executor: ProcessPoolExecutor
    ready: bool = False
    in_flight: int = 0
    draining: bool = False
    started_at: float = field(default_factory=time.monotonic)
    # wall clock of its start and stop (capacity accounting); parked until `idle_until`
    up_since: float = field(default_factory=time.time)
    idle_until: float | None = None

    @property
    def active(self) -> bool:
        """Serving the requested scaling (neither draining nor parked idle)."""
        return not self.draining and self.idle_until is None


# How often an environment checks that its server is still there.
ORPHAN_CHECK_SECONDS = 1.0

# Lifetimes kept for `environment_seconds` (older ones are dropped).
_HISTORY = 1000


class LocalCapacityPool(CapacityController):
    def __init__(
        self,
        worker: Callable[..., Any],
        worker_args: tuple[Any, ...] = (),
        concurrency: int = 1,
        invocation_timeout: float = 900.0,
        warmup: Callable[[], Any] = _warm,
        threads: int = 0,
        idle_seconds: float = 0.0,
    ) -> None:
        self._worker = worker
        # CPUs per environment: its processes (and their ffmpeg children, whose thread counts
        # follow the affinity) are pinned to `threads` CPUs, environments round-robin over the
        # machine; 0 leaves them unpinned.
        self._threads = max(0, threads)
        self._started = 0
        self._worker_args = worker_args
        self._concurrency = max(1, concurrency)
        self._timeout = invocation_timeout
        self._warmup = warmup
        self._ctx = multiprocessing.get_context("spawn")  # never fork a threaded server
        self._lock = threading.RLock()  # done-callbacks may run in the locking thread
        self._envs: list[_Environment] = []
        self._requested = (0, 0)
        self._idle_seconds = max(0.0, idle_seconds)
        self._lifetimes: list[tuple[float, float]] = []  # (up, down) of stopped environments
        # Observations the tests and benchmarks read.
        self.zero_while_busy = 0
        self.max_in_flight = 0
        self.throttles = 0
        atexit.register(self.close)

    # --- capacity port ---------------------------------------------------------------------------
    def set_scaling(self, min_envs: int, max_envs: int) -> None:
        with self._lock:
            self._requested = (min_envs, max_envs)
            if max_envs == 0 and self._in_flight() > 0:
                self.zero_while_busy += 1
            active = [e for e in self._envs if e.active]
            parked = [e for e in self._envs if not e.draining and e.idle_until is not None]
            for env in reversed(parked[: max(0, max_envs - len(active))]):
                env.idle_until = None  # taken back warm
                active.append(env)
            for _ in range(min_envs - len(active)):
                self._start_env()
            for env in active[max_envs:] if len(active) > max_envs else []:
                self._park(env)
            self._reap()

    def get_scaling(self) -> ScalingState:
        with self._lock:
            lo, hi = self._requested
            ready = [e for e in self._envs if e.ready and e.active]
            starting = any(not e.ready and e.active for e in self._envs)
            draining = any(e.draining for e in self._envs)
            settled = (
                len(ready) >= lo
                and not (starting and len(ready) < lo)
                and not (hi == 0 and draining)
            )
            return ScalingState(lo, hi, lo if settled else None, hi if settled else None)

    # --- invocation ------------------------------------------------------------------------------
    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the worker in a free environment, or raise `Throttled` as Lambda would."""
        with self._lock:
            env = next(
                (e for e in self._envs if e.ready and e.active and e.in_flight < self._concurrency),
                None,
            )
            if env is None:
                self.throttles += 1
                live = [e for e in self._envs if e.active]
                if len(live) < self._requested[1]:
                    self._start_env()  # scale out for the caller's retry
                raise Throttled(
                    f"no free execution environment ({len(live)} running, max {self._requested[1]})"
                )
            env.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight())
        try:
            future = env.executor.submit(self._worker, *self._worker_args, event)
            return future.result(timeout=self._timeout)
        except BrokenProcessPool as exc:
            env.draining = True
            raise EnvironmentFailed(f"execution environment exited: {exc}") from None
        except TimeoutError:
            env.draining = True
            self._kill(env)
            raise EnvironmentFailed(f"invocation timed out after {self._timeout:.0f} s") from None
        finally:
            with self._lock:
                env.in_flight -= 1
                self._reap()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "environments": sum(1 for e in self._envs if e.active),
                "ready": sum(1 for e in self._envs if e.ready and e.active),
                "idle": sum(1 for e in self._envs if not e.draining and e.idle_until is not None),
                "inFlight": self._in_flight(),
                "requested": {"min": self._requested[0], "max": self._requested[1]},
                "throttles": self.throttles,
            }

    def environment_seconds(self, since: float, until: float) -> float:
        """Seconds environments were up within [since, until] (wall clock), summed over every
        environment: starting, busy, idle or parked, until it stopped."""
        with self._lock:
            spans = [*self._lifetimes, *((e.up_since, until) for e in self._envs)]
        return sum(max(0.0, min(down, until) - max(up, since)) for up, down in spans)

    def close(self) -> None:
        with self._lock:
            envs, self._envs = self._envs, []
            for env in envs:
                self._stopped(env)
        for env in envs:
            self._kill(env)

    # --- internals (called with the lock held) --------------------------------------------------
    def _in_flight(self) -> int:
        return sum(e.in_flight for e in self._envs)

    def _start_env(self) -> None:
        cpus = self._cpus_for(self._started)
        self._started += 1
        env = _Environment(
            ProcessPoolExecutor(
                max_workers=self._concurrency,
                mp_context=self._ctx,
                initializer=_pin,
                initargs=(cpus,),
            )
        )
        self._envs.append(env)
        # Start every worker process now (cold start), then report the environment ready.
        futures = [env.executor.submit(self._warmup) for _ in range(self._concurrency)]

        def _ready(_: Future[Any]) -> None:
            if all(f.done() for f in futures):
                with self._lock:
                    env.ready = all(f.exception() is None for f in futures)
                    if not env.ready:
                        env.draining = True
                    self._reap()

        for fut in futures:
            fut.add_done_callback(_ready)

    def _cpus_for(self, n: int) -> tuple[int, ...]:
        """The CPUs of the n-th environment started (empty: unpinned)."""
        if not self._threads:
            return ()
        machine = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if not machine:
            return ()
        k = min(self._threads, len(machine))
        return tuple(sorted({machine[(n * k + j) % len(machine)] for j in range(k)}))

    def _park(self, env: _Environment) -> None:
        """Scaled down: stay up idle for the idle period (then stop), or stop now."""
        if self._idle_seconds <= 0 or not env.ready:
            env.draining = True
            return
        env.idle_until = time.monotonic() + self._idle_seconds
        timer = threading.Timer(self._idle_seconds + 0.05, self._expire)
        timer.daemon = True
        timer.start()

    def _expire(self) -> None:
        with self._lock:
            now = time.monotonic()
            for env in self._envs:
                if not env.draining and env.idle_until is not None and env.idle_until <= now:
                    env.draining = True
            self._reap()

    def _stopped(self, env: _Environment) -> None:
        self._lifetimes.append((env.up_since, time.time()))
        del self._lifetimes[:-_HISTORY]

    def _reap(self) -> None:
        for env in [e for e in self._envs if e.draining and e.in_flight == 0]:
            self._envs.remove(env)
            self._stopped(env)
            env.executor.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _kill(env: _Environment) -> None:
        for proc in list(getattr(env.executor, "_processes", {}).values()):
            proc.terminate()
        env.executor.shutdown(wait=False, cancel_futures=True)

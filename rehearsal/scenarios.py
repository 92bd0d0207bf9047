"""What the rehearsal does with the stack, as a user and as AWS would: uploads through
presigned URLs, videos created and processed through the HTTP API, the workflow run from the
synthesized definition, webhooks delivered by the dispatcher, capacity released.

Each scenario raises RehearsalFailure with what went wrong; permissions are judged afterwards
from the recorded calls (Rig.judge).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehearsal.rig import Rig, wait_until
from rehearsal.template import RehearsalFailure
from videocli import clips

WORKSPACE = "default"


def make_clip(path: Path, seconds: float, size: str = "320x180") -> Path:
    """A test-pattern clip with a tone (H.264/AAC), a keyframe every 2 s."""
    return clips.make_clip(path, seconds, size, gop=50)


def _http(
    method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    if not url.startswith("http://127.0.0.1:"):
        raise RehearsalFailure(f"not a URL of the loopback gateway: {url[:80]}")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - checked above
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Outcome:
    name: str
    seconds: float
    detail: str


class Scenarios:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.api = rig.api
        self.clips = rig.workdir / "clips"
        self.clips.mkdir(exist_ok=True)
        self.outcomes: list[Outcome] = []
        self.hook: dict[str, Any] | None = None
        self.one_pass_video = ""

    def run(self, name: str, scenario: Callable[[], str]) -> None:
        started = time.perf_counter()
        detail = scenario()
        self.outcomes.append(Outcome(name, time.perf_counter() - started, detail))

    # --- steps ------------------------------------------------------------------------------
    def _ok(self, response: Any, status: int, what: str) -> Any:
        if response.status != status:
            raise RehearsalFailure(
                f"{what}: HTTP {response.status}, expected {status}: {response.body[:300]!r}"
            )
        return response.json() if response.body else None

    def upload(self, path: Path, multipart: bool = False) -> str:
        """POST /uploads, then PUT the bytes to the presigned URL(s) as a client would."""
        body: dict[str, Any] = {"filename": path.name, "contentType": "video/mp4"}
        data = path.read_bytes()
        if multipart:
            body["multipart"] = {"size": len(data)}
        upload = self._ok(self.api.request("POST", "/uploads", body), 201, "POST /uploads")
        if not multipart:
            status, answer = _http("PUT", upload["uploadUrl"], data, upload["headers"])
            if status != 200:
                raise RehearsalFailure(
                    f"PUT to the presigned upload URL: {status} {answer[:300]!r}"
                )
            return str(upload["sourceUrl"])
        uid, size = upload["uploadId"], upload["partSize"]
        numbers = list(range(1, upload["partCount"] + 1))
        parts = self._ok(
            self.api.request("POST", f"/uploads/{uid}/parts", {"partNumbers": numbers}),
            200,
            "POST /uploads/{id}/parts",
        )
        for part in parts["parts"]:
            n = part["partNumber"]
            status, answer = _http(
                "PUT",
                part["url"],
                data[(n - 1) * size : n * size],
                {"Content-Type": "application/octet-stream"},
            )
            if status != 200:
                raise RehearsalFailure(f"PUT part {n}: {status} {answer[:300]!r}")
        self._ok(self.api.request("GET", f"/uploads/{uid}"), 200, "GET /uploads/{id}")
        self._ok(
            self.api.request("POST", f"/uploads/{uid}/complete", {}),
            200,
            "POST /uploads/{id}/complete",
        )
        return str(upload["sourceUrl"])

    def create(self, title: str, source: str) -> str:
        item = self._ok(
            self.api.request("POST", "/videos", {"title": title, "sourceUrl": source}),
            201,
            "POST /videos",
        )
        return str(item["id"])

    def process(self, video_ids: list[str]) -> dict[str, Any]:
        if len(video_ids) == 1:
            started = self._ok(
                self.api.request("POST", f"/videos/{video_ids[0]}/process"),
                202,
                "POST /videos/{id}/process",
            )
        else:
            started = self._ok(
                self.api.request("POST", "/videos/process", {"videoIds": video_ids}),
                202,
                "POST /videos/process",
            )
        execution = self.rig.run_execution(started["executionArn"])
        if execution["status"] != "SUCCEEDED":
            status, error = execution["status"], execution.get("error")
            raise RehearsalFailure(f"execution {status}: {error} {execution.get('cause')}")
        name = started["executionArn"].rsplit(":", 1)[1]
        self._ok(self.api.request("GET", f"/executions/{name}"), 200, "GET /executions/{name}")
        return execution

    def video(self, video_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self._ok(
            self.api.request("GET", f"/videos/{video_id}"), 200, "GET /videos/{id}"
        )
        return item

    def expect_completed(self, video_id: str) -> dict[str, Any]:
        item = self.video(video_id)
        if item["status"] != "completed":
            raise RehearsalFailure(f"video {video_id} is {item['status']}: {item.get('error')}")
        urls = [u for u in _urls(item) if u.startswith(self.rig.gateway.url)]
        if not urls:
            raise RehearsalFailure(f"video {video_id} has no presigned output URL")
        status, _ = _http("GET", urls[0], headers={"Range": "bytes=0-1023"})
        if status not in (200, 206):
            raise RehearsalFailure(f"reading an output through its presigned URL: {status}")
        if self.rig.scratch_keys(video_id):
            raise RehearsalFailure(f"video {video_id}: scratch left under work/{video_id}/")
        return item

    # --- scenarios --------------------------------------------------------------------------
    def webhook(self) -> str:
        self.hook = self._ok(
            self.api.request(
                "POST",
                "/webhooks",
                {"url": self.rig.receiver.url, "description": "rehearsal receiver"},
            ),
            201,
            "POST /webhooks",
        )
        return f"webhook {self.hook['id']} -> {self.rig.receiver.url}"

    def one_pass(self, seconds: float = 10) -> str:
        source = self.upload(make_clip(self.clips / "ten.mp4", seconds))
        vid = self.create("one pass", source)
        self.process([vid])
        item = self.expect_completed(vid)
        if item.get("segments"):
            raise RehearsalFailure(f"a {seconds:g} s video was segmented: {item['segments']}")
        listed = self._ok(
            self.api.request("GET", "/videos?status=completed"), 200, "GET /videos?status=completed"
        )
        if vid not in [v["id"] for v in listed["videos"]]:
            raise RehearsalFailure("GET /videos?status=completed does not list the video")
        self.one_pass_video = vid
        return f"{seconds:g} s video {vid}: completed in one pass"

    def images(self, video_id: str) -> str:
        """Images on demand: the API invokes the renderer (the processor's image), which reads
        the top rendition through a URL it presigns and writes the render into the run; the
        redirect's presigned URL serves it; the same request again is a cache hit (HeadObject,
        no invocation)."""
        before = self.rig.gateway.invocations
        rendered = []
        for path, magic in (
            (f"/videos/{video_id}/thumbnail.jpg?time=2.5&width=160", b"\xff\xd8"),
            (f"/videos/{video_id}/animated.gif?start=1&end=3&width=160&fps=5", b"GIF8"),
        ):
            for attempt in ("render", "cached"):
                resp = self.api.request("GET", path)
                location = {k.lower(): v for k, v in resp.headers.items()}.get("location", "")
                if resp.status != 302 or not location:
                    raise RehearsalFailure(
                        f"GET {path} ({attempt}): HTTP {resp.status} {resp.body[:300]!r}"
                    )
                status, body = _http("GET", location)
                if status != 200 or not body.startswith(magic):
                    raise RehearsalFailure(f"the render of {path}: {status} {body[:40]!r}")
            rendered.append(f"{path.split('/')[-1].split('?')[0]} {len(body)} B")
        invocations = self.rig.gateway.invocations - before
        if invocations != 2:
            raise RehearsalFailure(f"{invocations} renderer invocations for 2 renders")
        return f"video {video_id}: {', '.join(rendered)}; second requests served from the cache"

    def segmented(self, seconds: float) -> str:
        source = self.upload(make_clip(self.clips / "long.mp4", seconds), multipart=True)
        vid = self.create("segmented", source)
        self.process([vid])
        item = self.expect_completed(vid)
        segments = item.get("segments") or {}
        if int(segments.get("count") or 0) < 2:
            raise RehearsalFailure(f"a {seconds:g} s video was not segmented: {segments}")
        return f"{seconds:g} s video {vid}: {segments['count']} segments, assembled"

    def reprocess(self, video_id: str) -> str:
        """Process a completed video again: the new run replaces the old one's outputs."""
        first = self.video(video_id)
        self.process([video_id])
        second = self.expect_completed(video_id)
        if second.get("runId") == first.get("runId"):
            raise RehearsalFailure("reprocessing kept the old run")
        old = self.rig.admin.client("s3").list_objects_v2(
            Bucket=self.rig.stack.bucket, Prefix=f"videos/{video_id}/{first.get('runId')}/"
        )
        if old.get("KeyCount"):
            raise RehearsalFailure(f"the old run's {old['KeyCount']} outputs were not deleted")
        return f"video {video_id} reprocessed: the old run's outputs deleted"

    def safety_net(self) -> str:
        """An execution stopped outside every Catch (here: never run): EventBridge's status
        change reaches the finalizer (the video fails) and the scaler (the lease goes)."""
        vid = self.create("stopped", self.upload(make_clip(self.clips / "stopped.mp4", 2)))
        started = self._ok(
            self.api.request("POST", f"/videos/{vid}/process"), 202, "POST /videos/{id}/process"
        )
        sfn = self.rig.admin.client("stepfunctions")
        arn = started["executionArn"]
        execution = sfn.describe_execution(executionArn=arn)
        sfn.stop_execution(executionArn=arn, error="Rehearsal.Stopped", cause="safety net")
        event = {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": arn,
                "stateMachineArn": self.rig.stack.state_machine_arn,
                "status": "ABORTED",
                "input": execution["input"],
            },
        }
        self.rig.deliver_to_rule("ExecutionEndedRule", event)
        item = self.video(vid)
        if item["status"] != "failed":
            raise RehearsalFailure(f"the stopped execution's video is {item['status']}")
        return f"stopped execution: video {vid} failed ({item['error'].get('code')}), released"

    def abandoned_upload(self) -> str:
        """A multipart upload started, then cancelled (DELETE /uploads/{id})."""
        body = {"filename": "gone.mp4", "contentType": "video/mp4", "multipart": {"size": 1024}}
        upload = self._ok(self.api.request("POST", "/uploads", body), 201, "POST /uploads")
        uid = upload["uploadId"]
        self._ok(self.api.request("DELETE", f"/uploads/{uid}"), 204, "DELETE /uploads/{id}")
        return "multipart upload started and aborted"

    def batch(self, count: int = 3) -> str:
        ids = [
            self.create(f"batch {i}", self.upload(make_clip(self.clips / f"b{i}.mp4", 3 + i)))
            for i in range(count)
        ]
        self.process(ids)
        for vid in ids:
            self.expect_completed(vid)
        return f"batch of {count}: all completed"

    def corrupt(self) -> str:
        path = self.clips / "corrupt.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
        vid = self.create("corrupt", self.upload(path))
        self.process([vid])
        item = self.video(vid)
        if item["status"] != "failed" or not item.get("error"):
            raise RehearsalFailure(f"the corrupt source ended {item['status']}, not failed")
        left = self.rig.scratch_keys(vid)
        if left:
            raise RehearsalFailure(f"the failed run left scratch: {left[:5]}")
        return f"corrupt source {vid}: failed ({item['error'].get('code')}), no scratch left"

    def deliveries(self) -> str:
        assert self.hook is not None
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}

        def delivered() -> list[dict[str, Any]]:
            self.rig.invoke("dispatcher", event)
            return [e for e in self.rig.receiver.events() if e.get("type") == "video.completed"]

        done = wait_until(delivered, 60, "webhook deliveries", interval=0.5)
        _verify_signatures(self.rig.receiver.deliveries, str(self.hook["secret"]))
        self._ok(
            self.api.request("GET", f"/webhooks/{self.hook['id']}/deliveries"),
            200,
            "GET /webhooks/{id}/deliveries",
        )
        self._ok(
            self.api.request("DELETE", f"/webhooks/{self.hook['id']}"), 204, "DELETE /webhooks/{id}"
        )
        return f"{len(self.rig.receiver.deliveries)} signed deliveries ({len(done)} completed)"

    def capacity(self) -> str:
        view = self._ok(self.api.request("GET", "/capacity"), 200, "GET /capacity")
        requested = view.get("requested") or {}
        if (requested.get("min"), requested.get("max")) != (0, 0) or view.get("leases"):
            raise RehearsalFailure(f"capacity not released: {view}")
        history = self.rig.scaling.history
        if not history or history[-1][1:] != (0, 0):
            raise RehearsalFailure(f"the processor's scaling did not end at 0/0: {history[-3:]}")
        ups = sum(1 for _, lo, hi in history if hi > 0)
        return f"capacity 0/0 at the end ({ups} scale-ups, {len(history)} changes)"


def _urls(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("http") else []
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return []


def _verify_signatures(deliveries: list[tuple[dict[str, str], bytes]], secret: str) -> None:
    from standardwebhooks import Webhook

    hook = Webhook(secret)
    for headers, body in deliveries:
        lowered = {k.lower(): v for k, v in headers.items()}
        hook.verify(body, lowered)

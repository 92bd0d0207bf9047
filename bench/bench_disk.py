"""Peak local disk of each processor invocation of a long video (`make bench-disk`, issue 21).

A generated 1080p30 source (testsrc2 + a tone) of each length goes through the processor's own
code, one invocation after another as the workflow calls them: `segmented.prepare`, the audio
job, every segment job, `segmented.assemble`; and the one-pass run (`job.run_processing`) of the
longest video that stays one-pass. During each call a thread samples the bytes under the
invocation's temp dir (`Settings.tmp_dir`, /tmp on Lambda) every 20 ms: the peak is that
invocation's need of /tmp.

Mode `s3` (default): the media bucket is on moto's server (`moto_server`, loopback): sources,
scratch and runs are S3 objects, ffmpeg reads presigned URLs, assembly copies and streams inside
S3, exactly as in AWS. Mode `local`: the media dir and local scratch (those live on the data
dir, not in /tmp; the temp dir is measured all the same).

The model: an invocation's peak grows with the media length (a + b x minutes, fitted on the two
longest runs); the figure that sizes `EphemeralStorage` is the worst invocation at 3 hours, next
to the bounds from the ladder's bitrate caps (what a segment can hold whatever its content) and,
for the one-pass job, from the largest source it fetches (`ONE_PASS_MAX_SOURCE_BYTES`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.config import Settings  # noqa: E402
from chalicelib.media.ffmpeg import ffmpeg_exe  # noqa: E402

VIDEO_ID = "BenchDiskVideo00000001"
GOAL_BYTES = 2 * 1000**3


def du(root: Path, seen: set[str] | None = None) -> int:
    """Bytes of the regular files under `root` (as they are this instant); their names are
    added to `seen`."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue  # removed while walking
            if seen is not None:
                seen.add(name)
    return total


class PeakBytes:
    """Samples `du(root)` every `interval` seconds while in its `with` block; `peak` is the
    highest reading, `names` every file name seen."""

    def __init__(self, root: Path, interval: float = 0.02) -> None:
        self.root, self.interval, self.peak = root, interval, 0
        self.names: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, du(self.root, self.names))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakBytes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, du(self.root, self.names))


def make_source(path: Path, seconds: float, exe: str) -> None:
    """1080p30 moving test pattern with a tone (fast preset: only the source is cheap)."""
    subprocess.run(
        [exe, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:d={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-g", "60",
         "-c:a", "aac", "-b:a", "128k", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_s3() -> Iterator[tuple[Any, str]]:
    """moto's server on loopback and a bucket in it; stopped on the way out."""
    import boto3
    from botocore.config import Config

    port = free_port()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench",
                          config=Config(signature_version="s3v4"))  # fmt: skip
        s3.create_bucket(Bucket="bench-media")
        yield s3, "bench-media"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(tmp: Path, what: str, fn: Callable[[], Any], rows: list[dict[str, Any]]) -> Any:
    started = time.monotonic()
    with PeakBytes(tmp) as peak:
        out = fn()
    rows.append({"invocation": what, "peakBytes": peak.peak,
                 "seconds": round(time.monotonic() - started, 1)})  # fmt: skip
    print(f"  {what:<14} peak {peak.peak / 1e6:9.1f} MB  {rows[-1]['seconds']:7.1f} s", flush=True)
    return out


def run_length(
    minutes: float, mode: str, settings: Settings, exe: str, work: Path, s3: Any, bucket: str
) -> list[dict[str, Any]]:
    """Every invocation of one video of `minutes`, with its peak /tmp."""
    from chalicelib.media_store.local import LocalMediaStore
    from chalicelib.media_store.s3 import S3MediaStore
    from chalicelib.media_store.scratch import LocalScratchStore, S3ScratchStore
    from chalicelib.processing import segmented
    from chalicelib.processing.one_pass import new_run_id, run_processing

    tmp = settings.tmp_dir
    assert tmp is not None
    src = work / f"src-{minutes:g}.mp4"
    if not src.is_file():
        make_source(src, minutes * 60, exe)
    if mode == "s3":
        key = f"uploads/bench/{src.name}"
        s3.upload_file(str(src), bucket, key)
        url = f"s3://{bucket}/{key}"
        scratch: Any = S3ScratchStore(bucket, s3)
        store: Any = S3MediaStore(bucket, s3, presign_seconds=3600)
        client = s3
    else:
        inbox = settings.data_dir / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, inbox / src.name)
        url = (inbox / src.name).as_uri()
        scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
        store = LocalMediaStore(settings.media_dir)
        client = None
    rows: list[dict[str, Any]] = []
    run_id = new_run_id()
    prepared = measure(tmp, "prepare", lambda: segmented.prepare(
        VIDEO_ID, run_id, url, settings, scratch, s3_client=client), rows)  # fmt: skip
    if prepared.planned is None:  # one segment: the one-pass run, reusing the probe
        measure(tmp, "one-pass", lambda: run_processing(
            VIDEO_ID, url, settings, store, lambda p: None, s3_client=client,
            info=prepared.info), rows)  # fmt: skip
    else:
        for job in prepared.planned["jobs"]:
            name = "audio job" if job == segmented.AUDIO_JOB else f"segment {job}"
            measure(tmp, name, lambda job=job: segmented.run_job(
                VIDEO_ID, run_id, job, settings, scratch, s3_client=client), rows)  # fmt: skip
        measure(tmp, "assemble", lambda: segmented.assemble(
            VIDEO_ID, run_id, settings, scratch, store), rows)  # fmt: skip
    for r in rows:
        r["minutes"] = minutes
    return rows


def worst(rows: list[dict[str, Any]], kind: str) -> int:
    picked = [r["peakBytes"] for r in rows if r["invocation"].startswith(kind)]
    return max(picked, default=0)


def model(results: dict[float, list[dict[str, Any]]], segment_seconds: int) -> dict[str, Any]:
    """Per kind of invocation, peak = a + b x minutes through the two longest runs; the worst
    invocation at 180 minutes; and the bound from the bitrate caps for a segment job."""
    from chalicelib.media.transcode import _MAXRATE_KBPS, AUDIO_KBPS
    from chalicelib.processing.segmented import ONE_PASS_MAX_SOURCE_BYTES

    lengths = sorted(results)
    kinds = ["prepare", "one-pass", "audio job", "segment", "assemble"]
    fitted: dict[str, dict[str, float]] = {}
    for kind in kinds:
        pts = [(m, worst(results[m], kind)) for m in lengths if worst(results[m], kind)]
        if not pts:
            continue
        (m0, y0), (m1, y1) = pts[max(0, len(pts) - 2)], pts[-1]
        slope = (y1 - y0) / (m1 - m0) if m1 != m0 else 0.0
        slope = max(0.0, slope)
        fitted[kind] = {"a": y1 - slope * m1, "bPerMinute": slope,
                        "at180": y1 + slope * (180 - m1)}  # fmt: skip
    caps = sum(_MAXRATE_KBPS.values()) * 1000 / 8  # bytes per second of a 1080p ladder, capped
    bounds = {
        "segment job (caps)": int(segment_seconds * 1.34 * caps),  # a tail segment is 4/3 long
        "audio job (128k, 3 h)": int(180 * 60 * AUDIO_KBPS * 1000 / 8),
        # the largest source it fetches, and the longest one-pass video's renditions (a segment
        # and a third) twice: as MP4 and as HLS
        "one-pass (source cap)": int(ONE_PASS_MAX_SOURCE_BYTES + 2 * segment_seconds * 1.34 * caps),
    }
    at180 = max([v["at180"] for v in fitted.values()] + list(bounds.values()))
    return {"fit": fitted, "bounds": bounds, "worstAt180Bytes": int(at180)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--minutes",
        type=float,
        nargs="+",
        default=[1, 2, 10],
        help="media lengths; 1 minute is a one-pass video",
    )
    parser.add_argument("--mode", choices=["s3", "local"], default="s3")
    parser.add_argument("--segment-seconds", type=int, default=60)
    parser.add_argument(
        "--preset",
        default="ultrafast",
        help="x264 preset of the ladder (the bytes follow the rate caps)",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    exe = ffmpeg_exe()
    work = Path(tempfile.mkdtemp(prefix="bench-disk-"))
    results: dict[float, list[dict[str, Any]]] = {}
    try:
        with moto_s3() if args.mode == "s3" else _nothing() as (s3, bucket):
            for minutes in args.minutes:
                data = work / f"data-{minutes:g}"
                tmp = work / f"tmp-{minutes:g}"
                tmp.mkdir()
                settings = replace(
                    Settings.from_env({}), backend="aws" if args.mode == "s3" else "local",
                    data_dir=data, tmp_dir=tmp, bucket=bucket or "", whisper_model="off",
                    segment_seconds=args.segment_seconds, x264_preset=args.preset,
                    source_roots=(data / "inbox",),
                )  # fmt: skip
                print(f"{minutes:g} min of 1080p30 ({args.mode}):", flush=True)
                results[minutes] = run_length(minutes, args.mode, settings, exe, work, s3, bucket)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m = model(results, args.segment_seconds)
    print("\nworst invocation per length:")
    for minutes, rows in results.items():
        top = max(rows, key=lambda r: r["peakBytes"])
        print(f"  {minutes:5g} min: {top['invocation']:<12} {top['peakBytes'] / 1e6:8.1f} MB")
    print("model (peak = a + b x minutes, two longest runs):")
    for kind, f in m["fit"].items():
        print(f"  {kind:<10} a {f['a'] / 1e6:8.1f} MB  b {f['bPerMinute'] / 1e6:7.2f} MB/min"
              f"  -> 180 min {f['at180'] / 1e6:8.1f} MB")  # fmt: skip
    for name, b in m["bounds"].items():
        print(f"  bound {name:<22} {b / 1e6:8.1f} MB")
    verdict = "meets" if m["worstAt180Bytes"] <= GOAL_BYTES else "MISSES"
    print(f"worst invocation at 3 h: {m['worstAt180Bytes'] / 1e6:.0f} MB "
          f"({verdict} the goal of {GOAL_BYTES / 1e9:.0f} GB)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "model": m}, indent=1))


@contextmanager
def _nothing() -> Iterator[tuple[Any, str]]:
    yield None, ""


if __name__ == "__main__":
    main()

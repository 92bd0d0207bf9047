"""The segmented job: the processor's plan, segment, assemble and discard actions.

`prepare` runs in the first invocation of a video: it probes the source where it lies and, when
the video is one segment long, says so (the caller then runs today's one-invocation job,
unchanged). Otherwise it stores the plan in the run's scratch and returns the job numbers the
workflow maps over: -1 is the whole-audio job, 0..n-1 the segments. Each job writes its files and
a small JSON result into scratch; `assemble` checks every result is there, joins them (stream
copy), merges the analysis and the transcript, publishes the run and clears its scratch.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.media import segments
from chalicelib.media.errors import MediaError
from chalicelib.media.probe import ProbeResult
from chalicelib.media.transcode import MASTER_PLAYLIST
from chalicelib.media_store.base import LIVE_MASTER, MediaRef, MediaStore, live_playlist_name
from chalicelib.media_store.scratch import ScratchStore, run_scratch
from chalicelib.processing.context import OK, RunContext, StageReport, Stages

AUDIO_JOB = -1
# A source above this size is planned into segments even when it is short (one segment then):
# the one-pass job fetches its source to local disk, so this bounds what any invocation keeps in
# /tmp (measured by `make bench-disk`; an 80 s clip at 50 Mb/s is ~500 MB).
ONE_PASS_MAX_SOURCE_BYTES = 512 * 1024**2
PLAN_JSON = "plan.json"
SOURCE_JSON = "source.json"
AUDIO_JSON = "audio.json"


def segment_json(index: int) -> str:
    return f"seg{index:05d}.json"


def published_json(job: int) -> str:
    """The marker a job writes once its HLS files are in the run (playable runs)."""
    return "pub_audio.json" if job == AUDIO_JOB else f"pub{job:05d}.json"


def live_entries_json(ready: int) -> str:
    """Every rung's HLS entries over the first `ready` segments of a playable run: immutable
    once written (racing jobs write the same bytes), so a job reads only the segments past the
    longest prefix already gathered, not all of them again."""
    return f"live{ready:05d}.json"


def error_json(job: int) -> str:
    return "error_audio.json" if job == AUDIO_JOB else f"error_{job:05d}.json"


class SegmentFailed(Exception):
    """A segment (or the audio) could not be encoded; the message names it."""


def _source_for_jobs(source_url: str, settings: Settings, s3_client: Any) -> str:
    """Where jobs read the source: its real local path, or a presigned URL of the S3 object."""
    from chalicelib.media.fetch import read_location

    return read_location(
        source_url,
        source_roots=settings.source_roots,
        bucket=settings.bucket if not settings.is_local else "",
        s3_client=s3_client,
    )


def _run_source(
    scratch: ScratchStore, prefix: str, source_doc: dict[str, Any], settings: Settings,
    s3_client: Any,
) -> str:  # fmt: skip
    """What a run's jobs and its assembly read as the video: the remux (or clip cut) in scratch,
    or the source itself."""
    if source_doc["remuxed"]:
        return scratch.locate(prefix, segments.REMUX_NAME)
    return _source_for_jobs(source_doc["url"], settings, s3_client)


@dataclass(frozen=True)
class Prepared:
    """What the first invocation learned: the jobs of a segmented run (`planned`), or None when
    the video is one segment; and the probe, which the one-pass run then reuses."""

    planned: dict[str, Any] | None
    info: ProbeResult | None = None
    probe_ms: int = 0


def prepare(
    video_id: str,
    run_id: str,
    source_url: str,
    settings: Settings,
    scratch: ScratchStore,
    *,
    s3_client: Any = None,
    trim: tuple[float, float] | None = None,
) -> Prepared:
    """Probe the source where it lies (a local path, or a presigned URL read with ranged
    requests: nothing is downloaded); when it is longer than one segment, plan it into scratch
    and return `{"runId", "segments", "jobs"}` (small: the workflow state never holds the plan)."""
    from chalicelib.media import fetch, probe

    if settings.segment_seconds <= 0:
        return Prepared(None)
    t0 = time.monotonic()
    ctx = RunContext(settings)
    exe = ctx.exe
    location, size = fetch.locate_source(source_url, source_roots=settings.source_roots,
                                         max_bytes=settings.max_source_bytes,
                                         s3_client=s3_client)  # fmt: skip
    info = probe.probe(location, max_duration=settings.max_duration_seconds, exe=exe, size=size)
    probe_ms = int((time.monotonic() - t0) * 1000)
    duration = info.duration if trim is None else trim[1] - trim[0]
    playable = is_playable_early(settings, duration)
    first = settings.first_segment_seconds if playable else None
    one_segment = segments.segment_count(duration, settings.segment_seconds, first) < 2
    if one_segment and size <= ONE_PASS_MAX_SOURCE_BYTES:
        return Prepared(None, info, probe_ms)  # a clip is cut by the one-pass job
    prefix = run_scratch(video_id, run_id)
    if trim is not None:
        return _prepare_cut(video_id, run_id, ctx, scratch, source_url, location, info, trim,
                            probe_ms, first=first, playable=playable)  # fmt: skip
    plan = segments.make_plan(location, info, settings.segment_seconds, first)
    plan = _with_ladder(ctx, plan, location, playable)
    # `playable`: each job's files go into the run as it finishes (see `publish_job`).
    source = {"url": source_url, "remuxed": plan.remux, "playable": playable}
    if plan.remux:
        # Streamed into scratch as it is written: never on local disk.
        segments.remux_for_seeking(
            location,
            info,
            lambda stream: scratch.put_stream(prefix, segments.REMUX_NAME, stream),
            exe=exe,
            timeout=ctx.timeout(info.duration, 1.0),
        )
        plan = plan.reading(scratch.locate(prefix, segments.REMUX_NAME))  # segments seek in it
    scratch.put_text(prefix, SOURCE_JSON, json.dumps(source))
    scratch.put_text(prefix, PLAN_JSON, plan.to_json())
    jobs = job_order(plan.count, info.has_audio, playable)
    return Prepared(_planned(run_id, plan.count, jobs, settings), info, probe_ms)


def _planned(run_id: str, count: int, jobs: list[int], settings: Settings) -> dict[str, Any]:
    """What the workflow state holds of a plan: `concurrency` is the Map's MaxConcurrencyPath,
    the environments the processor's capacity scales to (one invocation each)."""
    return {"runId": run_id, "segments": count, "jobs": jobs,
            "concurrency": max(1, min(settings.scale_max, len(jobs)))}  # fmt: skip


def job_order(count: int, has_audio: bool, playable: bool) -> list[int]:
    """The order the workflow's Map hands the jobs out (a Map whose MaxConcurrency is the
    capacity starts its items in this order): the longest job (the whole audio) first, so it
    does not finish last; when the run is playable early, the first (short) segment before it,
    so the first seconds are published as soon as one job's time has passed. Nothing is encoded
    in the planning invocation itself: every environment starts work at once."""
    audio = [AUDIO_JOB] if has_audio else []
    if playable:
        return [0, *audio, *range(1, count)]
    return [*audio, *range(count)]


def _with_ladder(
    ctx: RunContext, plan: segments.SegmentPlan, location: str, playable: bool
) -> segments.SegmentPlan:
    """The plan with the ladder decided once for the whole video (per-title: probe encodes on
    sampled windows of the source where it lies, ladder.py; a shorter sample when the video is
    to be playable early: the first segment waits for it): every segment encodes it, AV1
    rungs (`VIDEO_CODECS`) as fMP4 pieces beside the H.264 ones."""
    from chalicelib.media import ladder

    s = ctx.settings
    with ctx.work_dir("ladder-") as work:
        decision = ladder.decide_or_fixed(
            work, plan.info, source=location, exe=ctx.exe, timeout=ctx.timeout(60.0),
            mode=s.video_ladder, target=s.vmaf_target, codecs=s.video_codecs, preset=ctx.preset,
            sample_most=ladder.PLAYABLE_SAMPLE_MOST if playable else ladder.SAMPLE_MOST,
        )  # fmt: skip
    return replace(plan, ladder=decision.rungs, ladder_decision=decision.to_dict())


def is_playable_early(settings: Settings, duration: float) -> bool:
    """A video this long is planned to be playable while it is processed: short segments
    first, published as they finish (`VIDEO_PLAYABLE_SECONDS`, 0: never)."""
    return 0 < settings.playable_seconds <= duration and settings.segment_seconds > 0


def _prepare_cut(
    video_id: str,
    run_id: str,
    ctx: RunContext,
    scratch: ScratchStore,
    source_url: str,
    location: str,
    info: ProbeResult,
    trim: tuple[float, float],
    probe_ms: int,
    *,
    first: int | None = None,
    playable: bool = False,
) -> Prepared:
    """A clip on the segmented path: its range of the source, cut frame-accurately and
    losslessly (filters.trim_args) and streamed into scratch where a remux would go; the plan
    and every job then read the cut as the video."""
    from chalicelib.media import filters, probe
    from chalicelib.media.ffmpeg import run_ffmpeg

    start, end = trim
    if not 0 <= start < end <= info.duration + 0.5:
        raise MediaError("InvalidRange", f"The clip {start:g}-{end:g} s is outside the source.")
    prefix = run_scratch(video_id, run_id)
    run_ffmpeg(
        filters.trim_args(info, start, end, location),
        exe=ctx.exe, timeout=ctx.timeout(end - start), error_code="TrimFailed",
        what="Cutting the clip",
        stdout_sink=lambda stream: scratch.put_stream(prefix, segments.REMUX_NAME, stream),
    )  # fmt: skip
    cut_location = scratch.locate(prefix, segments.REMUX_NAME)
    settings = ctx.settings
    cut = probe.probe(cut_location, max_duration=settings.max_duration_seconds, exe=ctx.exe)
    plan = segments.make_plan(cut_location, cut, settings.segment_seconds, first)
    plan = replace(plan, remux=True).reading(cut_location)
    plan = _with_ladder(ctx, plan, cut_location, playable)
    source = {"url": source_url, "remuxed": True, "playable": playable}
    scratch.put_text(prefix, SOURCE_JSON, json.dumps(source))
    scratch.put_text(prefix, PLAN_JSON, plan.to_json())
    jobs = job_order(plan.count, cut.has_audio, playable)
    return Prepared(_planned(run_id, plan.count, jobs, settings), cut, probe_ms)


def _load(scratch: ScratchStore, prefix: str) -> tuple[segments.SegmentPlan, dict[str, Any]]:
    plan_text, source_text = (
        scratch.get_text(prefix, PLAN_JSON),
        scratch.get_text(prefix, SOURCE_JSON),
    )
    if plan_text is None or source_text is None:
        raise MediaError("Interrupted", "The segment plan of this run is gone.")
    return segments.SegmentPlan.from_json(plan_text), json.loads(source_text)


def run_job(
    video_id: str,
    run_id: str,
    job: int,
    settings: Settings,
    scratch: ScratchStore,
    *,
    s3_client: Any = None,
) -> dict[str, Any]:
    """Encode one segment (or the audio) into scratch. Raises SegmentFailed naming it."""
    prefix = run_scratch(video_id, run_id)
    plan, source_doc = _load(scratch, prefix)
    if source_doc["remuxed"]:
        plan = plan.as_remuxed()
    what = "the audio" if job == AUDIO_JOB else _describe(plan, job)
    if job != AUDIO_JOB and not 0 <= job < plan.count:
        raise SegmentFailed(f"{what}: no such segment")
    ctx = RunContext(settings)
    started = time.monotonic()
    try:
        with ctx.work_dir("seg-") as work:
            source = _run_source(scratch, prefix, source_doc, settings, s3_client)
            if job == AUDIO_JOB:
                timeout = ctx.timeout(plan.info.duration, 1.0)
                audio = segments.encode_audio(work, plan.info, source=source, exe=ctx.exe,
                                              timeout=timeout)  # fmt: skip
                scratch.put_files(prefix, [work / n for _, n in audio.hls])
                scratch.put_text(prefix, AUDIO_JSON, audio.to_json())
                ms = int((time.monotonic() - started) * 1000)
            else:
                out = _encode(ctx, plan, job, source, work)
                files = [work / n for entries in out.hls.values() for _, n in entries]
                files += [work / n for n in out.inits.values()]
                scratch.put_files(prefix, files + [work / n for n in out.tiles])
                ms = out.timings["totalMs"] = int((time.monotonic() - started) * 1000)
                scratch.put_text(prefix, segment_json(job), out.to_json())
        _drop_if_discarded(scratch, prefix)
        return {"job": job, "ms": ms}
    except MediaError as exc:
        message = f"{what}: {exc.code}: {exc.message}"
        scratch.put_text(
            prefix, error_json(job), json.dumps({"code": exc.code, "message": message})
        )
        _drop_if_discarded(scratch, prefix)
        raise SegmentFailed(message) from None


def _encode(
    ctx: RunContext, plan: segments.SegmentPlan, job: int, source: str, work: Path
) -> segments.SegmentOutput:
    """One segment's rungs and analysis (one ffmpeg process) and, beside it, its speech: the
    subtitles stage as the one-pass path runs it (best effort, reported in `out.stages`)."""
    from chalicelib.media import thumbnails
    from chalicelib.media.subtitles import translate_samples
    from chalicelib.processing.pipeline import transcribe, translation

    seg = plan.segments[job]
    timeout = ctx.timeout(seg.duration)
    out = segments.SegmentOutput(job)
    stages = Stages()

    def video() -> None:
        # One process: the rungs and the analysis of the segment's window (one decode); its
        # timings say encodeMs for the run and analysisMs for reading the results.
        done = segments.encode_segment(
            work, plan, job, source=source, exe=ctx.exe, timeout=timeout,
            storyboard=thumbnails.plan_storyboard(plan.info), preset=ctx.preset,
        )  # fmt: skip
        out.hls, out.inits = done.hls, done.inits
        out.cuts, out.black_segments = done.cuts, done.black_segments
        out.tiles = done.tiles
        out.timings.update(done.timings)

    def speech() -> None:  # needs no picture: it runs beside the encode
        m = segments.SPEECH_MARGIN
        start, end = max(0.0, seg.start - m), min(plan.info.duration, seg.end + m)
        track = plan.info.audio_track.index if plan.info.audio_track else 0
        heard = transcribe(stages, ctx, plan.info, lambda model: segments.transcribe_window(
            source, start, end, model, exe=ctx.exe, timeout=timeout, track=track))  # fmt: skip
        out.speech = heard if isinstance(heard, dict) else None
        if out.speech is not None:
            english = translation(stages, ctx, out.speech, lambda model, language: (
                translate_samples(segments.decode_audio_window(
                    source, start, end, exe=ctx.exe, timeout=timeout, track=track,
                ), model, language)
            ))  # fmt: skip
            if english is not None:
                out.speech["translation"] = [[c.start + start, c.end + start, c.text]
                                             for c in english]  # fmt: skip

    with ThreadPoolExecutor(max_workers=2) as pool:
        for f in [pool.submit(video), pool.submit(speech)]:
            f.result()
    out.stages = stages.to_dict()
    return out


def _drop_if_discarded(scratch: ScratchStore, prefix: str) -> None:
    """A job still running when its video failed (a Map cannot stop an invocation in flight)
    must not leave files behind: the discard removes the plan first, so a job that finds it gone
    after writing removes what it wrote (one that finds it there was listed by the discard)."""
    if scratch.get_text(prefix, PLAN_JSON) is None:
        scratch.delete_prefix(prefix)


def _describe(plan: segments.SegmentPlan, job: int) -> str:
    if not 0 <= job < plan.count:
        return f"segment {job}"
    s = plan.segments[job]
    return f"segment {job + 1} of {plan.count} ({s.start:.1f}-{s.end:.1f} s)"


@dataclass(frozen=True)
class Published:
    """What a playable run shows after a job: the first `segments` segments of every rung (and
    the audio under them) are in the run, with their playlists; `master` is the reference the
    item's `playback.hlsUrl` holds."""

    segments: int
    master: str


def publish_job(
    video_id: str,
    run_id: str,
    job: int,
    scratch: ScratchStore,
    media_store: MediaStore,
    published: int,
) -> Published | None:
    """After job `job` of a playable run: put its HLS files into the run (S3: CopyObject; locally
    hard links), mark them published, and when the contiguous prefix of published segments grew
    past `published` (what the store records) and the audio is in, write that prefix's
    playlists (immutable: named by the prefix, so racing jobs write the same bytes) and return
    it. None for a run planned without playback (`VIDEO_PLAYABLE_SECONDS`), or before the
    prefix grows. The store's record, written after this, is what the stream route serves."""
    prefix = run_scratch(video_id, run_id)
    plan_text, source_text = (
        scratch.get_text(prefix, PLAN_JSON),
        scratch.get_text(prefix, SOURCE_JSON),
    )
    if plan_text is None or source_text is None or not json.loads(source_text).get("playable"):
        return None  # planned without playback, or discarded meanwhile (the job cleaned up)
    plan = segments.SegmentPlan.from_json(plan_text)
    read: dict[int, segments.SegmentOutput] = {}  # segment results read by this call
    if job == AUDIO_JOB:
        audio_text = scratch.get_text(prefix, AUDIO_JSON)
        names = [n for _, n in segments.AudioOutput.from_json(audio_text or "").hls]
    else:
        part = segments.SegmentOutput.from_json(scratch.get_text(prefix, segment_json(job)) or "")
        names = [n for entries in part.hls.values() for _, n in entries]
        names += list(part.inits.values())
        read[job] = part
    media_store.copy_in(video_id, run_id, [(scratch.stored(prefix, n), n) for n in names])
    scratch.put_text(prefix, published_json(job), "{}")
    if scratch.get_text(prefix, PLAN_JSON) is None:  # discarded meanwhile: leave nothing
        media_store.discard(video_id, run_id)
        return None
    listed = set(scratch.list(prefix))
    if plan.info.has_audio and published_json(AUDIO_JOB) not in listed:
        return None
    ready = 0
    while ready < plan.count and published_json(ready) in listed:
        ready += 1
    if ready <= published:
        return None
    gathered = _prefix_entries(scratch, prefix, plan, listed, ready, read)
    playlists: dict[str, str] = {}
    for rung in plan.live_rungs:
        playlists[live_playlist_name(rung.key, ready)] = segments.media_playlist(
            gathered[rung.key], ended=False
        )
    if plan.info.has_audio:
        audio = segments.AudioOutput.from_json(scratch.get_text(prefix, AUDIO_JSON) or "")
        end = plan.segments[ready - 1].end
        playlists[live_playlist_name("audio", ready)] = segments.media_playlist(
            segments.audio_until(audio.hls, end) if ready < plan.count else audio.hls,
            ended=False,
        )
    playlists[LIVE_MASTER] = segments.live_master_playlist(plan)
    for name, text in playlists.items():
        media_store.write_stream(video_id, run_id, name, io.BytesIO(text.encode("utf-8")))
    return Published(ready, str(MediaRef(video_id, run_id, MASTER_PLAYLIST)))


def _prefix_entries(
    scratch: ScratchStore,
    prefix: str,
    plan: segments.SegmentPlan,
    listed: set[str],
    ready: int,
    read: dict[int, segments.SegmentOutput],
) -> dict[str, list[tuple[float, str]]]:
    """Every rung's HLS entries over the first `ready` segments: the longest prefix gathered
    before (`live_entries_json`) and the segments after it, then stored for the next job (one
    read per segment over the run, not one per segment per job: a three-hour video has
    hundreds)."""
    start = next((k for k in range(ready, 0, -1) if live_entries_json(k) in listed), 0)
    try:
        text = scratch.get_text(prefix, live_entries_json(start)) if start else None
        cached = json.loads(text or "null")
    except ValueError:  # unreadable: gathered from the start again
        cached = None
    if not isinstance(cached, dict):
        start, cached = 0, {}
    entries = {r.key: [(float(d), str(n)) for d, n in cached.get(r.key, [])]
               for r in plan.live_rungs}  # fmt: skip
    for i in range(start, ready):
        part = read.get(i) or segments.SegmentOutput.from_json(
            scratch.get_text(prefix, segment_json(i)) or ""
        )
        for rung in plan.live_rungs:
            entries[rung.key] += part.hls[rung.key]
    if start < ready:
        scratch.put_text(prefix, live_entries_json(ready), json.dumps(entries))
    return entries


def progress(scratch: ScratchStore, video_id: str, run_id: str) -> tuple[int, int]:
    """(finished segments, segments) of a run, counted from the results in scratch."""
    prefix = run_scratch(video_id, run_id)
    names = scratch.list(prefix)
    plan_text = scratch.get_text(prefix, PLAN_JSON)
    total = segments.SegmentPlan.from_json(plan_text).count if plan_text else 0
    return sum(1 for n in names if n.startswith("seg") and n.endswith(".json")), total


def failure(
    scratch: ScratchStore, video_id: str, run_id: str, error: dict[str, Any] | None
) -> dict[str, str]:
    """The error to record for a failed segmented run, naming the segment when it is known;
    then the run's scratch is removed. Shaped like a caught Step Functions error."""
    prefix = run_scratch(video_id, run_id)
    caught = dict(error or {})
    out = {
        "Error": str(caught.get("Error") or "SegmentFailed"),
        "Cause": str(caught.get("Cause") or ""),
    }
    try:
        names = scratch.list(prefix)
        recorded = [n for n in names if n.startswith("error")]
        if recorded:
            doc = json.loads(scratch.get_text(prefix, recorded[0]) or "{}")
            out = {"Error": str(doc.get("code") or out["Error"]), "Cause": str(doc.get("message"))}
        elif PLAN_JSON in names and "segment" not in out["Cause"]:
            plan, _ = _load(scratch, prefix)
            missing = [i + 1 for i in range(plan.count) if segment_json(i) not in names]
            if missing:
                shown = ", ".join(str(i) for i in missing[:10])
                out["Cause"] = f"{out['Cause']} (segments not encoded: {shown} of {plan.count})"
    finally:
        scratch.delete(prefix, PLAN_JSON)  # first: jobs still in flight then clean up after
        scratch.delete_prefix(prefix)  # themselves (see _drop_if_discarded)
    return out


def assemble(
    video_id: str,
    run_id: str,
    settings: Settings,
    scratch: ScratchStore,
    media_store: MediaStore,
    on_progress: Callable[[int], None] | None = None,
    *,
    s3_client: Any = None,
) -> dict[str, Any]:
    """Join every segment's output into the run, publish it, and return the item's fields."""
    from chalicelib.media import analysis, ladder, thumbnails
    from chalicelib.media.cost import cost_block
    from chalicelib.processing.one_pass import write_audio, write_documents
    from chalicelib.processing.pipeline import PipelineOutput
    from chalicelib.processing.result import build_result

    started = time.monotonic()
    prefix = run_scratch(video_id, run_id)
    plan, source_doc = _load(scratch, prefix)
    info = plan.info
    parts, audio = _results(scratch, prefix, plan)
    ctx = RunContext(settings)
    stages = Stages()
    # The vision engines load (seconds of imports and models) while the joins wait on reads
    # and writes, instead of after them: the assembly is the run's serial tail.
    warming = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-vision")
    warming.submit(analysis.warm_vision)
    try:
        with ctx.work_dir("asm-") as work:
            t0 = time.monotonic()
            # The HLS media are copied inside the stores (S3: CopyObject), never through here.
            hls = [n for p in parts for e in p.hls.values() for _, n in e]
            hls += [n for p in parts for n in p.inits.values()]
            hls += [n for _, n in audio.hls] if audio else []
            if not source_doc.get("playable"):  # a playable run's jobs put theirs in already
                media_store.copy_in(video_id, run_id, [(scratch.stored(prefix, n), n) for n in hls])
            scratch.fetch(prefix, [n for p in parts for n in p.tiles], work)  # small PNGs
            timeout = ctx.timeout(info.duration, 0.5)
            # Each MP4 streams from the scratch segments through ffmpeg into the run (S3: a
            # multipart upload): local disk holds playlists and tiles only.
            joined = segments.assemble(
                work, plan, parts, audio, exe=ctx.exe, timeout=timeout,
                open_file=lambda name: scratch.open(prefix, name),
                write_mp4=lambda name, stream: media_store.write_stream(
                    video_id, run_id, name, stream),
                locate=lambda name: media_store.locate(video_id, run_id, name),
            )  # fmt: skip
            # Each rendition's VMAF, as the one-pass path measures it (sampled windows of the
            # joined MP4s against the source the segments read; best effort)
            read_plan = plan.as_remuxed() if source_doc["remuxed"] else plan
            try:
                source: str | None = _run_source(scratch, prefix, source_doc, settings, s3_client)
            except MediaError:  # gone since the jobs read it: the renditions stay unmeasured
                source = None
            if source is not None:
                joined = ladder.measure_quality(
                    work, read_plan.info, joined, source=source, exe=ctx.exe, timeout=timeout,
                    locate=lambda name: media_store.locate(video_id, run_id, name),
                )  # fmt: skip
            stages.record("transcode", OK, ms=_total(parts, "encodeMs"))
            stages.record("assemble", OK, t0)
            storyboard = thumbnails.plan_storyboard(info)
            written = segments.assemble_storyboard(work, storyboard, exe=ctx.exe, timeout=timeout)
            signals = _signals(plan, parts, audio, written)
            stages.record("analysis", OK, ms=_total(parts, "analysisMs"))
            # Poster and vision from the top rendition where it was written: upright already,
            # and read as what it is (SDR, progressive): the source's facts would tone-map or
            # deinterlace it again.
            top = media_store.locate(video_id, run_id, joined.renditions[0].name)
            upright = joined.renditions[0].as_source(info)
            poster = stages.run("thumbnail", lambda: thumbnails.extract_poster(
                work, upright, exe=ctx.exe, timeout=timeout, source=top,
            ), required=True)  # fmt: skip
            warming.shutdown(wait=True)  # loaded (or failed: the stage reports it)
            vision = stages.run("vision", lambda: analysis.analyse_vision(
                top, upright, signals.scenes, work_dir=work), required=False)  # fmt: skip
            out = PipelineOutput(
                transcode=joined, poster=poster, storyboard=storyboard if written else None,
                signals=signals, vision=vision, transcript=_transcript(stages, plan, parts),
                stages=stages.reports,
            )  # fmt: skip
            out.translation = _translation(stages, plan, parts, out.transcript)
            out.audio_size = write_audio(ctx, stages, info, top, work)
            written_here = write_documents(work, out, info.duration)
            if audio:
                written_here.append(segments.AUDIO_PLAYLIST)
            in_run = set(hls) | {r.name for r in joined.renditions}  # already in the run
            t0 = time.monotonic()
            out_prefix = media_store.publish(
                video_id, run_id, [work / n for n in written_here if n not in in_run]
            )
            stages.record("publish", OK, t0)
    except BaseException:
        media_store.discard(video_id, run_id)  # what was copied or streamed into the run
        raise
    finally:
        warming.shutdown(wait=True)
    result = build_result(video_id, run_id, out_prefix, info=info, out=out)
    result["transcoding"]["ladder"] = plan.ladder_decision
    result["stages"] = stages.to_dict()
    result["segments"] = {
        "count": plan.count,
        "seconds": plan.segment_seconds,
        "items": [
            {"index": s.index, "start": s.start, "end": s.end, **p.timings}
            for s, p in zip(plan.segments, parts, strict=True)
        ],
    }
    result["assembleMs"] = int((time.monotonic() - started) * 1000)
    # Environment time across every invocation of the run: each segment job's, then this
    # assembly's, and the plan's ladder probe (the rest of the plan and the audio job are short
    # and not counted: a lower bound).
    probe = ((plan.ladder_decision or {}).get("probe") or {}).get("seconds", 0.0)
    result["cost"] = cost_block(
        # + the per-title probe the plan ran (its encodes and VMAF: the plan's real work)
        _total(parts, "totalMs") / 1000 + result["assembleMs"] / 1000 + float(probe),
        None,  # CPU is measured inside each environment, not summed across them
        info.duration,
        settings.price_per_env_hour,
        {k: round(v.ms / 1000, 3) for k, v in stages.reports.items()},
    )
    # Only now: a retried assembly needs it (failures: discard). Raises DeleteFailed when
    # objects stay: the run is then not reported clean.
    scratch.delete_prefix(prefix)
    return result


def _results(
    scratch: ScratchStore, prefix: str, plan: segments.SegmentPlan
) -> tuple[list[segments.SegmentOutput], segments.AudioOutput | None]:
    """Every segment's result and the audio's, or AssemblyFailed naming what is missing."""
    names = set(scratch.list(prefix))
    missing = [i + 1 for i in range(plan.count) if segment_json(i) not in names]
    if missing or (plan.info.has_audio and AUDIO_JSON not in names):
        raise MediaError("AssemblyFailed", f"Segments not encoded: {missing or 'audio'}.")
    parts = [
        segments.SegmentOutput.from_json(scratch.get_text(prefix, segment_json(i)) or "")
        for i in range(plan.count)
    ]
    audio_text = scratch.get_text(prefix, AUDIO_JSON) if plan.info.has_audio else None
    return parts, segments.AudioOutput.from_json(audio_text) if audio_text else None


def _total(parts: list[segments.SegmentOutput], timing: str) -> int:
    return sum(int(p.timings.get(timing, 0)) for p in parts)


def _signals(
    plan: segments.SegmentPlan,
    parts: list[segments.SegmentOutput],
    audio: segments.AudioOutput | None,
    storyboard_written: bool,
) -> Any:
    """The whole video's analysis from what each segment owns (merge.py) and the audio job's."""
    from chalicelib.media import analysis, merge

    owned = [(s.start, s.end) for s in plan.segments]
    pairs = list(zip(owned, parts, strict=True))
    cuts = merge.merge_cuts([merge.Owned(a, b, p.cuts) for (a, b), p in pairs])
    black = [merge.Owned(a, b, p.black_segments) for (a, b), p in pairs]
    return analysis.Signals(
        scenes=merge.scenes_from_cuts(cuts, plan.info.duration),
        cuts=cuts,
        black_segments=merge.merge_intervals(black),
        silences=audio.silences if audio else [],
        loudness=audio.loudness if audio else None,
        storyboard_written=storyboard_written,
    )


def _transcript(
    stages: Stages, plan: segments.SegmentPlan, parts: list[segments.SegmentOutput]
) -> Any:
    """The subtitles stage of the whole video from the segments' own (each ran `transcribe`,
    as the one-pass path does): a segment's failure or skip is the video's, with its reason and
    code; else their transcripts merged (best effort too). Time: the segments' speech time."""
    from chalicelib.media import merge
    from chalicelib.media.subtitles import Transcript

    reports = [
        (i, StageReport.from_dict(p.stages["subtitles"]))
        for i, p in enumerate(parts)
        if "subtitles" in p.stages
    ]
    ms = sum(r.ms for _, r in reports)
    failed = next(((i, r) for i, r in reports if r.status != OK), None)
    if not reports:  # results stored before segments reported their stages
        stages.skip("subtitles", "The segments did not report speech to text.")
        return None
    if failed is not None:
        i, r = failed
        reason = r.reason if r.status != "failed" else f"{_describe(plan, i)}: {r.reason}"
        stages.record("subtitles", r.status, reason=reason, code=r.code, ms=ms)
        return None
    if not plan.info.has_audio:
        stages.record("subtitles", OK, ms=ms)
        return Transcript()
    speech = [(s.start, s.end, p.speech or {}) for s, p in zip(plan.segments, parts, strict=True)]
    transcript = stages.run(
        "subtitles", lambda: merge.merge_transcripts(speech, segments.SPEECH_MARGIN),
        required=False,
    )  # fmt: skip
    stages.reports["subtitles"].ms += ms
    return transcript


def _translation(
    stages: Stages, plan: segments.SegmentPlan, parts: list[segments.SegmentOutput], heard: Any
) -> Any:
    """The English track of the whole video from the segments' translations: each segment keeps
    the cues whose middle lies in the range it owns."""
    from chalicelib.media.subtitles import Cue, Transcript

    if heard is None or heard.language in (None, "en"):
        return None
    reports = [
        StageReport.from_dict(p.stages["translation"]) for p in parts if "translation" in p.stages
    ]
    if not reports:
        return None
    ms = sum(r.ms for r in reports)
    failed = next((r for r in reports if r.status != OK), None)
    if failed is not None:
        stages.record("translation", failed.status, reason=failed.reason, code=failed.code, ms=ms)
        return None
    cues = [
        Cue(round(a, 3), round(b, 3), str(text))
        for seg, p in zip(plan.segments, parts, strict=True)
        for a, b, text in (p.speech or {}).get("translation", [])
        if seg.start <= (a + b) / 2 < seg.end
    ]
    stages.record("translation", OK, ms=ms)
    return Transcript(sorted(cues, key=lambda c: c.start), "en")

"""Encoding that competes on bytes (`make bench-encoding`): per-title ladder and AV1 vs the
fixed reference ladder, on a corpus of different complexity, all in the same run.

Corpus (generated offline with ffmpeg lavfi, 1080p24, `--seconds` each, cached in --corpus):
slides (static text), talking head (low motion), film grain, fast motion, animation (flat
colours), screen recording (scrolling code).

Per clip, in one run:
- reference: the fixed ladder as the product encoded it before (x264 veryfast CRF 23, caps
  5000k/2800k/1400k at 1080p/720p/480p; `VIDEO_LADDER=fixed`), one ffmpeg process;
- product: the per-title decision (probe encodes + VMAF on sampled windows, ladder.py) and the
  ladder it chose; CPU includes the probe;
- AV1 (`--av1`, default on): SVT-AV1 renditions of the top rungs; their extra CPU (AV1 probes
  and encodes) is reported apart;
- VMAF (vmaf_v0.6.1, every rendition upscaled bicubic to 1080p vs the source, `--subsample`):
  mean and 5th percentile, and bytes (the MP4's size: video only, the corpus is silent).

Goals (issue 25): never worse for any viewer (for every reference rung, a product rung at <= its
bytes whose VMAF is within 1 point, VMAF above 95 counting as 95); median over clips of the
H.264 ladder's bytes <= 0.75x the reference's; H.264 encode CPU incl. probes <= 1.3x; AV1 top
rung <= 0.6x the reference top rung's bytes at VMAF within 1 point.

CPU is the ffmpeg children's user+sys time (steadier than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.media import ladder, quality, transcode  # noqa: E402
from chalicelib.media.ffmpeg import ffmpeg_exe  # noqa: E402
from chalicelib.media.probe import probe  # noqa: E402

SIZE = (1920, 1080)
FPS = 24
CAP = 95.0  # VMAF above this counts as this (transparency)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def _code_text(path: Path) -> Path:
    lines = []
    for i in range(400):
        indent = "    " * (i % 4)
        lines.append(f"{i:4d}  {indent}def handler_{i}(event, context):  # step {i * 7 % 113}")
        body = f"return {{'status': {200 + i % 5}, 'items': list(range({i}))}}"
        lines.append(f"      {indent}    {body}")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def corpus_filters(seconds: int, work: Path) -> dict[str, str]:
    """lavfi graphs of the corpus, each a 1080p24 picture `seconds` long."""
    w, h = SIZE
    d = seconds
    half = d / 2
    slide = (
        f"drawtext=fontfile={FONT}:fontsize=64:fontcolor=0x202060:x=120:y=120:text='{{t}}',"
        f"drawtext=fontfile={FONT}:fontsize=40:fontcolor=black:x=160:y=300:"
        "text='• per-title encoding spends bits where they are seen',"
        f"drawtext=fontfile={FONT}:fontsize=40:fontcolor=black:x=160:y=380:"
        "text='• VMAF measures what a viewer would notice',"
        f"drawtext=fontfile={FONT}:fontsize=40:fontcolor=black:x=160:y=460:"
        "text='• AV1 saves a further third over H.264'"
    )
    code = _code_text(work / "code.txt")
    return {
        "slides": (
            f"color=c=0xf4f4f0:s={w}x{h}:r={FPS}:d={half},"
            + slide.replace("{t}", "Encoding that competes on bytes")
            + f"[a];color=c=0xf4f4f0:s={w}x{h}:r={FPS}:d={d - half},"
            + slide.replace("{t}", "Results on six kinds of content")
            + "[b];[a][b]concat=n=2:v=1:a=0"
        ),
        "talking-head": (
            f"testsrc2=s={w}x{h}:r={FPS}:d={d},gblur=sigma=24[bg];"
            f"mandelbrot=s=520x640:r={FPS}:end_pts=400,trim=duration={d},"
            "format=yuv420p[face];"
            "[bg][face]overlay=x='700+20*sin(t*1.3)':y='260+12*sin(t*0.9)',"
            "noise=alls=3:allf=t"
        ),
        "film-grain": (
            f"mandelbrot=s={w}x{h}:r={FPS}:end_pts=300,trim=duration={d},"
            "format=yuv420p,noise=alls=14:allf=t"
        ),
        "fast-motion": (
            f"testsrc2=s={w}x{h}:r={FPS}:d={d},scroll=h=0.013:v=0.007,"
            "rotate=a='0.35*t':fillcolor=0x303030,noise=alls=2:allf=t"
        ),
        "animation": (  # flat colours, hard edges, objects moving over a still background
            f"color=c=0x87ceeb:s={w}x{h}:r={FPS}:d={d}[sky];"
            f"color=c=0x3c9a3c:s={w}x300:r={FPS}:d={d}[grass];"
            f"color=c=0xe04040:s=360x360:r={FPS}:d={d}[ball];"
            f"color=c=0xffd020:s=220x220:r={FPS}:d={d}[sun];"
            f"color=c=0x202020:s=400x40:r={FPS}:d={d}[car];"
            "[sky][grass]overlay=y=780[a];[a][sun]overlay=x=1560:y='90+10*sin(t)'[b];"
            "[b][ball]overlay=x='mod(t*300\\,2280)-360':y='420-abs(260*sin(t*2.5))'[c];"
            "[c][car]overlay=x='1920-mod(t*520\\,2320)':y=900,"
            "drawbox=x=200:y=500:w=300:h=280:color=0x8b4513:t=fill,"
            "drawbox=x=200:y=500:w=300:h=280:color=black:t=8"
        ),
        "screen": (
            f"color=c=0x1e1e2a:s={w}x{h}:r={FPS}:d={d},"
            f"drawtext=fontfile={MONO}:textfile={code}:fontsize=26:fontcolor=0xd0d0c8:"
            "line_spacing=6:x=60:y='40-t*90'"
        ),
    }


def make_corpus(exe: str, out_dir: Path, seconds: int, names: list[str]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    graphs = corpus_filters(seconds, out_dir)
    clips = {}
    for name in names:
        path = out_dir / f"{name}-{seconds}s.mp4"
        if not path.is_file():
            tmp = path.with_suffix(".part.mp4")
            subprocess.run(
                [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                 "-filter_complex", graphs[name] + "[v]", "-map", "[v]", "-t", str(seconds),
                 "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p",
                 str(tmp)],
                check=True,
            )  # fmt: skip
            tmp.rename(path)
        clips[name] = path
    return clips


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def encode(exe: str, work: Path, info: Any, rungs: list[transcode.Rung], source: Path) -> float:
    """CPU seconds of one ladder process (the product's transcode, MP4 + HLS per rung)."""
    work.mkdir(parents=True, exist_ok=True)
    link = work / "source"
    if not link.exists():
        link.symlink_to(source)
    cpu0 = cpu_children()
    transcode.transcode(work, info, exe=exe, timeout=3600, rungs=rungs)
    return cpu_children() - cpu0


def capped(v: float) -> float:
    return min(CAP, v)


def run_clip(exe: str, name: str, clip: Path, work: Path, args: argparse.Namespace
             ) -> dict[str, Any]:  # fmt: skip
    info = probe(clip, max_duration=3600, exe=exe)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    fixed = ladder.fixed_ladder(info).rungs
    ref_cpu = encode(exe, work / "ref", info, fixed, clip)

    cpu0 = cpu_children()
    decision = ladder.decide(work, info, source=str(clip), exe=exe, timeout=3600,
                             target=args.target)  # fmt: skip
    probe_cpu = cpu_children() - cpu0
    product = decision.rungs
    prod_cpu = encode(exe, work / "product", info, product, clip)

    av1: list[transcode.Rung] = []
    av1_cpu = av1_probe_cpu = 0.0
    if args.av1:
        cpu0 = cpu_children()
        with_av1 = ladder.decide(work, info, source=str(clip), exe=exe, timeout=3600,
                                 target=args.target, codecs=("h264", "av1"))  # fmt: skip
        av1_probe_cpu = max(0.0, cpu_children() - cpu0 - probe_cpu)
        av1 = [r for r in with_av1.rungs if r.codec == "av1"]
        av1_cpu = encode(exe, work / "av1", info, av1, clip)

    files = [work / "ref" / r.mp4_name for r in fixed]
    files += [work / "product" / r.mp4_name for r in product]
    files += [work / "av1" / r.mp4_name for r in av1]
    t0 = time.monotonic()
    scores = quality.score(work, info, [str(f) for f in files], source=str(clip), size=SIZE,
                           exe=exe, timeout=3600, subsample=args.subsample)  # fmt: skip
    vmaf_s = time.monotonic() - t0

    def rows(rungs: list[transcode.Rung], offset: int, folder: str) -> list[dict[str, Any]]:
        return [
            {"rung": r.key, "crf": r.crf, "bytes": (work / folder / r.mp4_name).stat().st_size,
             "vmaf": round(scores[offset + i].mean, 2), "p5": round(scores[offset + i].p5, 2)}
            for i, r in enumerate(rungs)
        ]  # fmt: skip

    ref_rows = rows(fixed, 0, "ref")
    prod_rows = rows(product, len(fixed), "product")
    av1_rows = rows(av1, len(fixed) + len(product), "av1")
    worse = []
    for r in ref_rows:
        ok = any(p["bytes"] <= r["bytes"] and capped(p["vmaf"]) >= capped(r["vmaf"]) - 1
                 for p in prod_rows)  # fmt: skip
        if not ok:
            worse.append(r["rung"])
    out: dict[str, Any] = {
        "clip": name,
        "reference": ref_rows,
        "product": prod_rows,
        "dropped": decision.dropped,
        "bytesRatio": sum(p["bytes"] for p in prod_rows) / sum(r["bytes"] for r in ref_rows),
        "refCpu": ref_cpu,
        "probeCpu": probe_cpu,
        "productCpu": prod_cpu,
        "cpuRatio": (probe_cpu + prod_cpu) / ref_cpu,
        "neverWorse": not worse,
        "worseAt": worse,
        "vmafSeconds": vmaf_s,
    }
    if av1_rows:
        top_ref, top_av1 = ref_rows[0], av1_rows[0]
        out.update(
            av1=av1_rows,
            av1Cpu=av1_cpu + av1_probe_cpu,
            av1TopBytesRatio=top_av1["bytes"] / top_ref["bytes"],
            av1TopVmafOk=capped(top_av1["vmaf"]) >= capped(top_ref["vmaf"]) - 1,
        )
    shutil.rmtree(work, ignore_errors=True)
    return out


def _fmt_rows(rows: list[dict[str, Any]]) -> str:
    return " ".join(f"{r['rung']}:{r['bytes'] / 1e6:.2f}MB/{r['vmaf']:.1f}/{r['p5']:.1f}"
                    f"@{r['crf']}" for r in rows)  # fmt: skip


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> bool:
    print("\n## bench-encoding: per clip (rung: MB / VMAF mean / VMAF p5 @CRF)\n")
    print(
        "| clip | reference (fixed) | product (per-title) | bytes x | CPU ref s"
        " | CPU probe+ladder s | CPU x | never worse | AV1 (top) | AV1 top bytes x"
        " | AV1 extra CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        av1 = r.get("av1") or []
        print(
            f"| {r['clip']} | {_fmt_rows(r['reference'])} | {_fmt_rows(r['product'])}"
            + (f" (dropped {','.join(r['dropped'])})" if r["dropped"] else "")
            + f" | {r['bytesRatio']:.2f} | {r['refCpu']:.1f} | {r['probeCpu']:.1f}+"
            f"{r['productCpu']:.1f} | {r['cpuRatio']:.2f} | "
            + ("yes" if r["neverWorse"] else f"NO ({','.join(r['worseAt'])})")
            + f" | {_fmt_rows(av1[:1]) if av1 else '-'} | "
            + (f"{r['av1TopBytesRatio']:.2f}{'' if r['av1TopVmafOk'] else ' (VMAF -1!)'}"
               if av1 else "-")
            + f" | {r.get('av1Cpu', 0):.1f} |"
        )  # fmt: skip
    median_bytes = statistics.median(r["bytesRatio"] for r in results)
    cpu_ratio = sum(r["probeCpu"] + r["productCpu"] for r in results) / sum(
        r["refCpu"] for r in results
    )
    median_cpu = statistics.median(r["cpuRatio"] for r in results)
    never_worse = all(r["neverWorse"] for r in results)
    print()
    print(f"- never worse for any viewer: {'PASS' if never_worse else 'FAIL'} "
          f"({sum(r['neverWorse'] for r in results)}/{len(results)} clips)")  # fmt: skip
    print(f"- median H.264 ladder bytes: {median_bytes:.2f}x reference (goal <= 0.75): "
          f"{'PASS' if median_bytes <= 0.75 else 'FAIL'}")  # fmt: skip
    print(f"- H.264 encode CPU incl. probes: {cpu_ratio:.2f}x reference over the corpus, "
          f"median per clip {median_cpu:.2f}x (goal <= 1.3): "
          f"{'PASS' if cpu_ratio <= 1.3 else 'FAIL'}")  # fmt: skip
    ok = never_worse and median_bytes <= 0.75 and cpu_ratio <= 1.3
    av1 = [r for r in results if r.get("av1")]
    if av1:
        median_av1 = statistics.median(r["av1TopBytesRatio"] for r in av1)
        vmaf_ok = all(r["av1TopVmafOk"] for r in av1)
        extra = sum(r["av1Cpu"] for r in av1) / sum(r["refCpu"] for r in av1)
        print(f"- AV1 top rung bytes: median {median_av1:.2f}x reference top rung (goal <= 0.6),"
              f" VMAF within 1 point on {sum(r['av1TopVmafOk'] for r in av1)}/{len(av1)} clips:"
              f" {'PASS' if median_av1 <= 0.6 and vmaf_ok else 'FAIL'}")  # fmt: skip
        print(f"- AV1 extra CPU (its probes + its rungs): {extra:.2f}x the reference ladder's")
    print(
        f"\n(target VMAF {args.target}, VMAF n_subsample={args.subsample}, "
        f"{args.seconds} s 1080p{FPS} clips; CPU = ffmpeg children user+sys)"
    )
    print("uptime:", os.popen("uptime").read().strip())
    return ok


def corpus_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options naming the corpus (its length, clips and cache), shared by the encoding
    benches."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n", maxsplit=1)[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clips", default="slides,talking-head,film-grain,fast-motion,"
                        "animation,screen")  # fmt: skip
    parser.add_argument("--corpus", type=Path, default=ROOT / ".data" / "bench-encoding")
    return parser


def main() -> None:
    parser = corpus_parser(__doc__)
    parser.add_argument("--subsample", type=int, default=2, help="VMAF every n-th frame")
    parser.add_argument("--target", type=float, default=ladder.DEFAULT_VMAF_TARGET)
    parser.add_argument("--av1", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    exe = ffmpeg_exe(os.environ.get("VIDEO_FFMPEG", ""))
    print("uptime:", os.popen("uptime").read().strip())
    names = [n for n in args.clips.split(",") if n]
    clips = make_corpus(exe, args.corpus, args.seconds, names)
    results = []
    for name in names:
        t0 = time.monotonic()
        results.append(run_clip(exe, name, clips[name], args.corpus / f"work-{name}", args))
        r = results[-1]
        print(f"{name}: bytes {r['bytesRatio']:.2f}x, CPU {r['cpuRatio']:.2f}x, never worse "
              f"{r['neverWorse']}, {time.monotonic() - t0:.0f} s", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    ok = report(results, args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

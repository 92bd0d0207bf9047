"""`video`: the video service from a terminal (or a script, with `--json`).

Configured by VIDEO_API_URL (default http://127.0.0.1:8000) and VIDEO_TOKEN (`make run` writes
the operator's token to .data/admin-token), or --url and --token, which like --json go before
or after the command. Exit codes: 0 ok, 1 a video failed, 2 usage,
3 the API refused or could not be reached. Progress bars (rich) go to stderr, results to
stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from videocli.client import MULTIPART_THRESHOLD, ApiError, Client, Unreachable

OK, FAILED, USAGE, API_ERROR = 0, 1, 2, 3
STATUSES = ("uploaded", "queued", "processing", "completed", "failed")


class Cli:
    def __init__(self, args: argparse.Namespace, out: Console, err: Console) -> None:
        self.args = args
        self.out = out
        self.err = err
        overrides: dict[str, Any] = {}
        if args.api_url:
            overrides["base_url"] = args.api_url.rstrip("/")
        if args.token:
            overrides["token"] = args.token
        self.api = Client.from_env(**overrides)

    # --- output ---------------------------------------------------------------------------------
    def emit(self, document: Any, render: Callable[[], None] | None = None) -> None:
        if self.args.json or render is None:
            self.out.print_json(json.dumps(document))
        else:
            render()

    def videos_table(self, videos: list[dict[str, Any]]) -> None:
        table = Table("id", "status", "progress", "title", "created")
        for v in videos:
            progress = v.get("progress")
            table.add_row(
                v["id"],
                v["status"],
                "" if progress is None else f"{progress:.0f}%",
                v.get("title", ""),
                v.get("createdAt", "")[:19],
            )
        self.out.print(table)

    @contextmanager
    def bytes_bar(self, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.err, transient=False) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)

    def wait(self, video_id: str) -> dict[str, Any]:
        """Follow the video's SSE stream with a progress bar until it completes or fails."""
        columns = (
            TextColumn("[bold]processing"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[status]}"),
        )
        with Progress(*columns, console=self.err) as bar:
            task = bar.add_task("processing", total=100, status="")
            for state in self.api.watch(video_id):
                bar.update(
                    task, completed=float(state.get("progress") or 0), status=state["status"]
                )
            video = self.api.get_video(video_id)
            if video["status"] == "completed":
                bar.update(task, completed=100, status="completed")
            else:
                bar.update(task, status=video["status"])
        return video

    def finish(self, video: dict[str, Any]) -> int:
        """Print a waited-for video; exit 1 when it failed."""
        if video["status"] == "failed":
            error = video.get("error") or {}
            self.err.print(
                f"[red]video {video['id']} failed[/]: {error.get('code')}: {error.get('message')}"
            )
        self.emit(video, lambda: self.err.print(f"video {video['id']}: {video['status']}"))
        return FAILED if video["status"] == "failed" else OK

    # --- commands -------------------------------------------------------------------------------
    def upload(self) -> int:
        args = self.args
        path = Path(args.file)
        if not path.is_file():
            self.err.print(f"[red]no such file[/]: {path}")
            return USAGE
        size = path.stat().st_size
        with self.bytes_bar(f"upload {path.name}", size) as advance:
            source = self.api.upload_file(
                path,
                args.content_type,
                multipart_threshold=args.multipart_threshold,
                part_size=args.part_size,
                progress=advance,
                limit_rate=args.limit_rate,
                on_resume=lambda parts, stored: self.err.print(
                    f"resuming: {parts} part(s), {stored:,} bytes already on the server"
                ),
            )
        video = self.api.create_video(args.title, source["sourceUrl"], args.description)
        self.err.print(f"created video [bold]{video['id']}[/]")
        if args.process or args.wait:
            self.api.process(video["id"])
            if args.wait:
                video = self.wait(video["id"])
                video["upload"] = source
                return self.finish(video)
            video = self.api.get_video(video["id"])
        video["upload"] = source
        self.emit(video, lambda: self.out.print(video["id"]))
        return OK

    def ls(self) -> int:
        videos = list(self.api.list_videos(self.args.status, self.args.limit, self.args.search))
        self.emit(videos, lambda: self.videos_table(videos))
        return OK

    def get(self) -> int:
        video = self.api.get_video(self.args.id)
        self.emit(video)
        return FAILED if video["status"] == "failed" else OK

    def process(self) -> int:
        started = self.api.process(self.args.id)
        if self.args.wait:
            return self.finish(self.wait(self.args.id))
        self.emit(started, lambda: self.out.print(started["executionArn"]))
        return OK

    def download(self) -> int:
        video = self.api.get_video(self.args.id)
        formats = (video.get("transcoding") or {}).get("formats") or []
        if video["status"] != "completed" or not formats:
            self.err.print(f"[red]video {video['id']} has no renditions[/] ({video['status']})")
            return FAILED if video["status"] == "failed" else API_ERROR
        wanted = self.args.rendition
        offered = video.get("downloads") or formats  # downloads add the audio-only M4A
        chosen = (
            next((f for f in offered if f.get("quality") == wanted), None)
            if wanted
            else max(formats, key=lambda f: f.get("height") or 0)
        )
        if chosen is None:
            known = ", ".join(str(f.get("quality")) for f in offered)
            self.err.print(f"[red]no rendition {wanted}[/]; this video has: {known}")
            return USAGE
        out_dir = Path(self.args.output)
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / f"{video['id']}-{chosen['quality']}.{chosen.get('format', 'mp4')}"
        total = int(chosen.get("size") or 0) or None
        with self.bytes_bar(f"download {dest.name}", total) as advance:
            size = self.api.download(chosen["url"], dest, advance)
        self.emit({"path": str(dest), "size": size, "rendition": chosen["quality"]},
                  lambda: self.out.print(str(dest)))  # fmt: skip
        return OK

    def thumbnail(self) -> int:
        """`video thumbnail ID`: a frame (or, with --animated, a preview) saved to a file."""
        args = self.args
        if args.animated:
            fmt = args.format or "webp"
            params = {"start": args.start, "end": args.end, "width": args.width, "fps": args.fps}
            name = f"animated.{fmt}"
        else:
            fmt = args.format or "jpg"
            params = {"time": args.time, "width": args.width, "height": args.height,
                      "fit": args.fit}  # fmt: skip
            name = f"thumbnail.{fmt}"
        url = self.api.image_url(args.id, name, **params)
        dest = Path(args.output or f"{args.id}-{name}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        size = self.api.download(url, dest)
        self.emit({"path": str(dest), "size": size}, lambda: self.out.print(str(dest)))
        return OK

    def transcript(self) -> int:
        if self.args.search:
            matches = self.api.search_transcript(self.args.id, self.args.search)

            def table() -> None:
                t = Table("start", "end", "text")
                for m in matches:
                    t.add_row(f"{m['start']:.2f}", f"{m['end']:.2f}", m["text"])
                self.out.print(t)

            self.emit(matches, table)
            return OK
        fmt = self.args.format
        doc = self.api.transcript(self.args.id, fmt)
        if fmt == "json":
            self.emit(doc, lambda: self.out.print("\n".join(s["text"] for s in doc["segments"])))
        else:
            self.out.print(doc, end="", markup=False, highlight=False)
        return OK

    def clip(self) -> int:
        args = self.args
        mode = "instant" if args.instant else "exact"
        made = self.api.clip(args.id, args.start, args.end, mode, args.title)
        if args.instant:
            self.emit(made, lambda: self.out.print(made["hlsUrl"]))
            return OK
        if args.wait:
            return self.finish(self.wait(made["id"]))
        self.emit(made, lambda: self.out.print(made["id"]))
        return OK

    def tokens(self) -> int:
        args = self.args
        if args.action == "create":
            token = self.api.create_token(args.name, args.scope, args.workspace, args.expires_in)
            self.emit(token, lambda: self.out.print(token["secret"]))
        elif args.action == "ls":
            tokens = self.api.list_tokens(args.workspace)

            def table() -> None:
                t = Table("id", "name", "scope", "workspace", "expires", "revoked")
                for k in tokens:
                    expires = str(k.get("expiresAt") or "")
                    revoked = "yes" if k["revoked"] else ""
                    t.add_row(k["id"], k["name"], k["scope"], k["workspace"], expires, revoked)
                self.out.print(t)

            self.emit(tokens, table)
        else:
            self.api.revoke_token(args.id)
            self.emit({"revoked": args.id}, lambda: self.err.print(f"revoked {args.id}"))
        return OK

    def webhooks(self) -> int:
        args, api = self.args, self.api
        if args.action == "create":
            hook = api.create_webhook(args.url, args.event, args.description)
            self.emit(hook, lambda: self.out.print(f"{hook['id']} secret {hook['secret']}"))
        elif args.action == "ls":
            hooks = api.list_webhooks()

            def table() -> None:
                t = Table("id", "url", "events", "enabled")
                for h in hooks:
                    t.add_row(h["id"], h["url"], ",".join(h.get("events") or ["*"]),
                              "yes" if h["enabled"] else "no")  # fmt: skip
                self.out.print(t)

            self.emit(hooks, table)
        elif args.action == "rm":
            api.delete_webhook(args.id)
            self.emit({"deleted": args.id}, lambda: self.err.print(f"deleted {args.id}"))
        else:
            actions: dict[str, Callable[[str], Any]] = {
                "get": api.get_webhook,
                "test": api.test_webhook,
                "rotate": api.rotate_webhook,
                "deliveries": api.webhook_deliveries,
            }
            self.emit(actions[args.action](args.id))
        return OK


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        return int(float(number) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 64M)") from None


GLOBAL_DEFAULTS: dict[str, Any] = {"api_url": None, "token": None, "json": False}


def _global_options(*, top_level: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (as `gh` and `aws` do).

    On the top-level parser they carry the real defaults; on each (sub)command they default to
    SUPPRESS, so a subcommand that was not given one does not overwrite a value the top level
    parsed (argparse copies every attribute of the subparser's namespace onto the parent's)."""
    given = GLOBAL_DEFAULTS if top_level else dict.fromkeys(GLOBAL_DEFAULTS, argparse.SUPPRESS)
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--url",
        dest="api_url",
        default=given["api_url"],
        help="the API (default: $VIDEO_API_URL or http://127.0.0.1:8000)",
    )
    group.add_argument(
        "--token", default=given["token"], help="an access token (default: $VIDEO_TOKEN)"
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=given["json"],
        help="print JSON results (for scripts)",
    )
    return options


class _CommandParser(argparse.ArgumentParser):
    """A (sub)command's parser: it takes the global options too. Subparsers of a subcommand
    are of the same class (argparse defaults `parser_class` to the parent's type)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(parents=[_global_options(top_level=False)], **kwargs)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="video",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(top_level=True)],
    )
    sub = top.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    up = sub.add_parser("upload", help="upload a file and create a video from it")
    up.add_argument("file")
    up.add_argument("--title", required=True)
    up.add_argument("--description", default="")
    up.add_argument("--content-type")
    up.add_argument("--process", action="store_true", help="start processing it")
    up.add_argument("--wait", action="store_true", help="process it and follow its progress")
    up.add_argument(
        "--multipart-threshold",
        type=_size,
        default=MULTIPART_THRESHOLD,
        help="files above it go up in parts, resumably (default 64M)",
    )
    up.add_argument("--part-size", type=_size, help="bytes per part (min 5M; default 16M)")
    up.add_argument("--limit-rate", type=_size, help="upload at most this many bytes/s")

    ls = sub.add_parser("ls", help="list videos, newest first")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--search", "-q", help="titles with words starting with each word given")

    get = sub.add_parser("get", help="show a video")
    get.add_argument("id")

    process = sub.add_parser("process", help="process a video")
    process.add_argument("id")
    process.add_argument("--wait", action="store_true", help="follow its progress to the end")

    download = sub.add_parser("download", help="download a rendition of a completed video")
    download.add_argument("id")
    download.add_argument("--rendition", help="e.g. 720p, or audio (default: the highest)")
    download.add_argument("-o", "--output", default=".", help="directory (default: here)")

    thumb = sub.add_parser("thumbnail", help="save a frame (or an animated preview) of a video")
    thumb.add_argument("id")
    thumb.add_argument("--time", type=float, help="seconds (default: the poster's time)")
    thumb.add_argument("--width", type=int)
    thumb.add_argument("--height", type=int)
    thumb.add_argument("--fit", choices=("contain", "cover", "fill", "pad"))
    thumb.add_argument("--format", choices=("jpg", "png", "webp", "gif"))
    thumb.add_argument("--animated", action="store_true", help="an animated preview instead")
    thumb.add_argument("--start", type=float, help="--animated: seconds")
    thumb.add_argument("--end", type=float, help="--animated: seconds (at most start + 10)")
    thumb.add_argument("--fps", type=int, help="--animated: frames per second (<= 30)")
    thumb.add_argument("-o", "--output", help="file (default: ID-thumbnail.jpg here)")

    transcript = sub.add_parser("transcript", help="a completed video's transcript")
    transcript.add_argument("id")
    transcript.add_argument("--format", choices=("json", "txt", "vtt", "srt"), default="txt")
    transcript.add_argument("--search", "-q", help="where words starting with these are said")

    clip = sub.add_parser("clip", help="a clip of a completed video (a new video, or --instant)")
    clip.add_argument("id")
    clip.add_argument("start", type=float, help="seconds")
    clip.add_argument("end", type=float, help="seconds")
    clip.add_argument("--instant", action="store_true", help="a playlist URL, nothing encoded")
    clip.add_argument("--title")
    clip.add_argument("--wait", action="store_true", help="follow the new video's processing")

    tokens = sub.add_parser("tokens", help="access tokens (admin)")
    tsub = tokens.add_subparsers(dest="action", required=True)
    create = tsub.add_parser("create")
    create.add_argument("name")
    create.add_argument("--scope", choices=("read", "write", "admin"), required=True)
    create.add_argument("--workspace")
    create.add_argument("--expires-in", type=int, help="seconds")
    tls = tsub.add_parser("ls")
    tls.add_argument("--workspace")
    tsub.add_parser("revoke").add_argument("id")

    hooks = sub.add_parser("webhooks", help="webhook endpoints (admin)")
    hsub = hooks.add_subparsers(dest="action", required=True)
    hcreate = hsub.add_parser("create")
    hcreate.add_argument("url")
    hcreate.add_argument("--event", action="append", help="an event type (repeatable)")
    hcreate.add_argument("--description", default="")
    hsub.add_parser("ls")
    for action in ("get", "rm", "test", "rotate", "deliveries"):
        hsub.add_parser(action).add_argument("id")
    return top


# A video id is 22 URL-safe base64 characters. The service issued some that start with "-" (about
# one in 64 until stop 35), which argparse takes for an option: such a word is shielded while the
# command line is parsed and restored after (no option of ours is 22 characters with one dash; the
# one word it could take for an id is `-o` with a 20-character name glued on: write `-o NAME`). A
# word that starts with "--" stays an option (a mistyped one is a usage error): the rare id that
# does (one in 4096) goes after `--` (`video get -- --Ab…`).
_ID_WORD = re.compile(r"-[A-Za-z0-9_][A-Za-z0-9_-]{20}")
_SHIELD = "\x00id:"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (usage errors exit 2), ids that start with "-" included."""
    p = parser()
    words = sys.argv[1:] if argv is None else list(argv)
    shielded = [_SHIELD + w if _ID_WORD.fullmatch(w) else w for w in words]
    args = p.parse_args(shielded)
    for name, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, name, value.removeprefix(_SHIELD))
        elif isinstance(value, list):
            setattr(args, name, [v.removeprefix(_SHIELD) if isinstance(v, str) else v
                                 for v in value])  # fmt: skip
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)  # usage errors exit 2
    err = Console(stderr=True)
    cli = Cli(args, Console(), err)
    command = getattr(cli, args.command)
    try:
        return int(command())
    except Unreachable as exc:
        err.print(
            f"[red]cannot reach the API at {cli.api.base_url}[/] ({exc.reason}): is it running "
            "(make run)? Set VIDEO_API_URL to its address."
        )
    except ApiError as exc:
        if exc.status == 401:
            err.print(
                "[red]the API refused the token (401)[/]: set VIDEO_TOKEN to a valid token "
                "(make run writes the operator's to .data/admin-token)."
            )
        else:
            rid = f" (request {exc.request_id})" if exc.request_id else ""
            err.print(f"[red]{exc.status} {exc.code}[/]: {exc.message}{rid}")
            if exc.details is not None:
                err.print(json.dumps(exc.details))
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to resume an upload")
        return 130
    return API_ERROR


if __name__ == "__main__":
    sys.exit(main())

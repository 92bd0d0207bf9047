"""The console's page and files as the app serves them: headers, the route, the vendored
hls.js, and guards on the script (no HTML sinks, nothing fetched from elsewhere)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.console import assets
from tests.conftest import ROOT

STATIC = ROOT / "chalicelib" / "console" / "static"
OWN_FILES = ("index.html", "console.js", "console.css", "favicon.svg")


def _inline_code(page: str) -> tuple[list[str], list[str]]:
    """The page's script sources (an inline script would have none) and inline handlers."""
    from html.parser import HTMLParser

    scripts: list[str] = []
    handlers: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            named = dict(attrs)
            if tag == "script":
                scripts.append(named.get("src") or "<inline>")
            handlers.extend(f"{tag} {k}" for k in named if k.startswith("on"))
            if tag == "style" or "style" in named:
                handlers.append(f"{tag} style")

    Parser().feed(page)
    return scripts, handlers


def csp_of(resp: Any) -> dict[str, str]:
    policy = resp.headers["Content-Security-Policy"]
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))


def test_the_page_is_served_at_root_with_its_security_headers(client: Any) -> None:
    resp = client.http.get("/", headers={"Authorization": ""})  # no token needed for the page
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    csp = csp_of(resp)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"  # no inline script, no eval
    assert csp["worker-src"] == "blob:"  # hls.js's transmuxer worker
    assert "blob:" in csp["media-src"].split()
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    page = resp.body.decode()
    assert 'label for="token-input">Access token<' in page
    limit = re.search(r'name="console-max-upload-bytes" content="(\d+)"', page)
    assert limit is not None and int(limit.group(1)) == 512 * 1024 * 1024
    scripts, handlers = _inline_code(page)
    assert scripts == ["/console/console.js"] and handlers == []  # nothing inline for the CSP


def test_the_page_knows_how_long_the_events_route_may_stay_silent(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VIDEO_SSE_WAIT_SECONDS reaches the page: its yardstick for a buffering proxy."""
    from chalicelib.factory import reset_container

    monkeypatch.setenv("VIDEO_SSE_WAIT_SECONDS", "7.5")
    reset_container()
    page = client.http.get("/", headers={"Authorization": ""}).body.decode()
    assert '<meta name="console-events-wait-seconds" content="7.5">' in page


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("console.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("hls.min.js", "text/javascript; charset=utf-8"),
        ("hls.js-LICENSE.txt", "text/plain; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_with_type_headers_and_etag(client: Any, name: str, ctype: str) -> None:
    resp = client.http.get(f"/console/{name}", headers={"Authorization": ""})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == ctype
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in resp.headers
    assert resp.body == (STATIC / name).read_bytes()
    again = client.http.get(
        f"/console/{name}", headers={"Authorization": "", "If-None-Match": resp.headers["ETag"]}
    )
    assert again.status_code == 304 and again.body == b""


@pytest.mark.parametrize("name", ["index.html", "nope.js", ".hidden.js", "..", "x.py", "a%2Fb.js"])
def test_anything_else_is_a_json_404(client: Any, name: str) -> None:
    resp = client.http.get(f"/console/{name}", headers={"Authorization": ""})
    assert resp.status_code == 404
    assert resp.json_body["error"]["code"] == "NotFound"


def test_the_media_origins_in_the_policy() -> None:
    local = assets.security_headers(Settings(public_base_url="http://127.0.0.1:8000"))
    assert "img-src 'self' http://127.0.0.1:8000;" in local["Content-Security-Policy"]
    assert "https:" not in local["Content-Security-Policy"]
    aws = assets.security_headers(Settings(backend="aws", bucket="media"))
    assert "media-src 'self' https: blob:;" in aws["Content-Security-Policy"]
    assert "connect-src 'self' https:" in aws["Content-Security-Policy"]
    assert assets.max_upload_bytes(Settings(backend="aws", bucket="m")) == 5 * 1024**3
    assert assets.max_upload_bytes(Settings(max_source_bytes=1000)) == 1000


def test_vendored_hls_js_is_the_recorded_release() -> None:
    table = (ROOT / "chalicelib" / "console" / "VENDOR.md").read_text()
    for name in ("hls.min.js", "hls.js-LICENSE.txt"):
        row = next(line for line in table.splitlines() if line.startswith(f"| `static/{name}`"))
        recorded = row.rstrip(" |").rsplit("`", 2)[-2]
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == recorded, name
        assert "| 1.6.19 |" in row  # a pinned 1.6.x release
    assert "Apache License" in (STATIC / "hls.js-LICENSE.txt").read_text()


def _own(name: str) -> str:
    return (STATIC / name).read_text()


def test_the_console_script_never_parses_strings_as_html() -> None:
    script = _own("console.js")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"on", "srcdoc"):  # fmt: skip
        assert sink not in script, sink


def test_nothing_is_fetched_from_another_site() -> None:
    """The page and its files name no other host: no CDN, no web font, no analytics."""
    for name in OWN_FILES:
        text = _own(name)
        hosts = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text)
        assert hosts == [] or name == "favicon.svg", (name, hosts)
    refs = re.findall(r'(?:src|href)="([^"]+)"', _own("index.html"))
    assert refs and all(r.startswith(("/console/", "#")) for r in refs), refs
    assert {Path(p).name for p in refs if p.startswith("/console/")} <= {
        p.name for p in STATIC.iterdir()
    }


def test_the_token_is_kept_in_session_storage_only() -> None:
    script = _own("console.js")
    assert "sessionStorage" in script
    assert "localStorage" not in script and "document.cookie" not in script
    assert "Authorization" in script
    # the only query strings the script builds are the list's (status, limit, nextToken)
    assert "URLSearchParams({ limit" in script and "token=" not in script.replace("nextToken", "")

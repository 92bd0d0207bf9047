"""`GET /docs`: a human page for the OpenAPI document, with the vendored RapiDoc viewer.

The viewer is a file in this package (`vendor/`, pinned by sha256 in `vendor/VENDOR.md`), served
by the API itself under a Content-Security-Policy that admits only the API's own origin: no
CDN, and the page works offline. Public, like `/health` and `/openapi.json`.
"""

from __future__ import annotations

import functools
from pathlib import Path

VENDOR = Path(__file__).with_name("vendor")
RAPIDOC_VERSION = "9.3.8"
ASSETS = {"rapidoc-min.js": "text/javascript; charset=utf-8"}
# Styles: RapiDoc (lit) puts <style> elements in its shadow DOM. Images: its logo is data:.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
CACHE = "public, max-age=3600"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Video processing service - API</title>
<script type="module" src="docs/rapidoc-min.js?v={version}"></script>
</head>
<body>
<rapi-doc spec-url="openapi.json" render-style="read" show-header="false"
  allow-server-selection="false" allow-authentication="true" schema-style="table"
  regular-font="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
  mono-font="ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace"
  theme="light" primary-color="#2b6cb0">
</rapi-doc>
</body>
</html>
"""


def page() -> str:
    return PAGE.format(version=RAPIDOC_VERSION)


@functools.lru_cache(maxsize=len(ASSETS))
def asset(name: str) -> tuple[str, str] | None:
    """`(text, content type)` of a vendored file, or None."""
    if name not in ASSETS:
        return None
    return (VENDOR / name).read_text(encoding="utf-8"), ASSETS[name]

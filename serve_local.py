"""`make run`: serve the app with Chalice's local server on the embedded backends.

This is `chalice local` with two changes: a request that matches no route gets a JSON 404
in the service's error shape (chalice local mimics API Gateway REST's 403 "Missing
Authentication Token", which tells a REST client nothing useful), and a request without an
`Accept` header is treated as accepting anything (RFC 9110), as browsers and curl do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any

from chalice import local
from chalice.config import Config


class _Gateway(local.LocalGateway):
    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        # RFC 9110: a request without Accept accepts anything. Chalice's binary-response check
        # (an API Gateway REST emulation) would answer such a client 400 for media.
        if not any(k.lower() == "accept" for k in headers):
            headers = {**headers, "accept": "*/*"}
        try:
            return super().handle_request(method, path, headers, body)
        except local.ForbiddenError:
            try:
                self.event_converter._route_matcher.match_route(path)
            except ValueError:
                error = {"code": "NotFound", "message": f"no route for {method} {path}"}
                return {
                    "statusCode": 404,
                    "headers": {"Content-Type": "application/json"},
                    "multiValueHeaders": {},
                    "body": json.dumps({"error": error}).encode(),
                }
            raise


class _Handler(local.ChaliceRequestHandler):
    def __init__(
        self, request: Any, client_address: Any, server: Any, app_object: Any, config: Config
    ) -> None:
        self.local_gateway = _Gateway(app_object, config)
        local.BaseHTTPRequestHandler.__init__(self, request, client_address, server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    os.environ.setdefault("VIDEO_BACKEND", "local")
    os.environ.setdefault("VIDEO_PUBLIC_BASE_URL", f"http://{args.host}:{args.port}")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from app import app
    from chalicelib.factory import ADMIN_TOKEN_FILE, container
    from chalicelib.local_startup import recover

    settings = container().settings
    recover(container().store, settings)  # what was in flight died with the last server
    (settings.source_roots[0]).mkdir(parents=True, exist_ok=True)
    config = Config.create(chalice_stage="local", app_name=app.app_name, chalice_app=app)
    server = local.LocalDevServer(app, config, args.host, args.port, handler_cls=_Handler)
    container().admin_token  # noqa: B018 - generated now (when not configured), so it can be read
    where = (
        "VIDEO_ADMIN_TOKEN" if settings.admin_token else str(settings.data_dir / ADMIN_TOKEN_FILE)
    )
    print(
        f"video-service on http://{args.host}:{args.port} (backend {settings.backend}, "
        f"data {settings.data_dir}, sources {':'.join(map(str, settings.source_roots))})\n"
        f"admin token: {where}  (TOKEN=$(cat {where}) for the README walkthrough)",
        flush=True,
    )
    stop = threading.Event()  # the webhook dispatcher: reads the outbox while the server runs
    threading.Thread(
        target=container().dispatcher.run, args=(stop,), name="webhooks", daemon=True
    ).start()
    try:
        server.serve_forever()
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

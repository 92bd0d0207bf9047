"""The HTTP API in front of the API function, as API Gateway v2 serves it: the template's route
keys pick the route (a literal segment beats a `{param}`), and the function receives the
payload-format-1.0 event the stack's integration sends. No route: API Gateway's own 404.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rehearsal.template import ACCOUNT


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _match(
    routes: list[tuple[str, str]], method: str, path: str
) -> tuple[str, dict[str, str]] | None:
    parts = path.strip("/").split("/") if path != "/" else []
    best: tuple[int, str, dict[str, str]] | None = None
    for route_method, route_path in routes:
        if route_method not in (method, "ANY"):
            continue
        pattern = route_path.strip("/").split("/") if route_path != "/" else []
        if len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        literal = 0
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                params[want[1:-1]] = got
            elif want == got:
                literal += 1
            else:
                break
        else:
            if best is None or literal > best[0]:
                best = (literal, route_path, params)
    return None if best is None else (best[1], best[2])


class HttpApi:
    """Requests in, payload-1.0 events to `invoke`, responses out."""

    def __init__(
        self, routes: list[tuple[str, str]], invoke: Callable[[dict[str, Any]], Any], token: str
    ) -> None:
        self._routes = routes
        self._invoke = invoke
        self._token = token

    def request(
        self, method: str, url: str, body: Any = None, token: str | None = None
    ) -> Response:
        split = urlsplit(url)
        matched = _match(self._routes, method, split.path)
        if matched is None:
            return Response(404, {}, b'{"message":"Not Found"}')
        route, params = matched
        headers = {"authorization": f"Bearer {token or self._token}", "host": "rehearsalapi"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["content-type"] = "application/json"
        query = dict(parse_qsl(split.query))
        event = {
            "version": "1.0",
            "resource": route,
            "path": split.path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "rehearsalapi",
                "domainName": "rehearsalapi.execute-api.us-east-1.amazonaws.com",
                "httpMethod": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "requestId": uuid.uuid4().hex,
                "requestTimeEpoch": int(time.time() * 1000),
                "resourceId": f"{method} {route}",
                "resourcePath": route,
                "stage": "$default",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "rehearsal"},
            },
            "pathParameters": params or None,
            "stageVariables": None,
            "body": data,
            "isBase64Encoded": False,
        }
        answer = self._invoke(event)
        raw = answer.get("body") or ""
        payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        return Response(int(answer["statusCode"]), dict(answer.get("headers") or {}), payload)

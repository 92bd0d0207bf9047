"""The functions' S3 and Lambda endpoint: a loopback proxy in front of moto's server.

- Ordinary S3 requests pass through unchanged (moto checks their signature and policy).
- A presigned URL (moto answers 500 to those while enforcing IAM) is replayed as a direct,
  signed request with the *signer's* credentials, found from the URL's access key: moto then
  enforces exactly what the presigned request needs (the signer's s3:GetObject/PutObject).
- Lambda MI's Put/GetFunctionScalingConfig, which moto does not implement, are answered here:
  the caller's policy is evaluated statically (rehearsal.policy) and the processor's
  requested/applied scaling kept in memory (applied = requested at once).
- Lambda Invoke (the API invoking the renderer) runs the rehearsal's own function, after the
  caller's policy allowed lambda:InvokeFunction on it.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rehearsal.loopback import LoopbackServer, QuietHandler
from rehearsal.policy import Policy, Request
from rehearsal.template import ACCOUNT, REGION

_SCALING_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/function-scaling-config$")
_INVOKE_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/invocations$")
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Principal:
    """One function's identity on the emulator."""

    function: str
    access_key: str
    secret_key: str
    policy: Policy


@dataclass
class Presigned:
    """A presigned request replayed with its signer's credentials, and moto's verdict."""

    function: str
    request: Request
    status: int


@dataclass
class ScalingConfigs:
    """Lambda MI's per-qualifier scaling configs, as the gateway serves them."""

    configs: dict[str, dict[str, int]] = field(default_factory=dict)
    history: list[tuple[str, int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, arn: str, config: dict[str, int]) -> None:
        with self.lock:
            self.configs[arn] = dict(config)
            self.history.append(
                (arn, config["MinExecutionEnvironments"], config["MaxExecutionEnvironments"])
            )

    def get(self, arn: str) -> dict[str, int] | None:
        with self.lock:
            return self.configs.get(arn)


class Gateway:
    def __init__(
        self,
        moto_url: str,
        principal_for: Callable[[str], Principal | None],
        scaling: ScalingConfigs,
        invoke: Callable[[str, Any], tuple[bool, Any]] | None = None,
    ) -> None:
        self.moto = urlsplit(moto_url)
        self.principal_for = principal_for
        self.scaling = scaling
        self.invoke = invoke  # (function name, event) -> (ok, result or error)
        self.invocations = 0
        self.presigned: list[Presigned] = []
        self.scaling_calls = 0  # Lambda MI scaling requests answered (policy evaluated here)
        self._lock = threading.Lock()
        gateway = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                gateway.handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    # --- dispatch -------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        path, _, query = h.path.partition("?")
        scaling = _SCALING_PATH.match(path)
        if scaling:
            self._scaling(h, unquote(scaling.group(1)), dict(parse_qsl(query)), body)
            return
        invocation = _INVOKE_PATH.match(path)
        if invocation and h.command == "POST":
            self._invoke(h, unquote(invocation.group(1)), body)
            return
        params = parse_qsl(query, keep_blank_values=True)
        if any(k == "X-Amz-Signature" for k, _ in params):
            self._presigned(h, path, params, body)
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP_HEADERS}
        headers["Host"] = h.headers.get("Host", "")
        self._forward(h, h.command, h.path, headers, body)

    def _forward(
        self,
        h: BaseHTTPRequestHandler,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> int:
        conn = http.client.HTTPConnection(self.moto.netloc, timeout=300)
        try:
            conn.request(
                method,
                target,
                body=body if body or method in ("PUT", "POST") else None,
                headers=headers,
            )
            resp = conn.getresponse()
            data = resp.read()
            h.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in _HOP_HEADERS:
                    h.send_header(key, value)
            length = resp.getheader("Content-Length") if method == "HEAD" else str(len(data))
            h.send_header("Content-Length", length or "0")
            h.end_headers()
            if method != "HEAD":
                h.wfile.write(data)
            return resp.status
        finally:
            conn.close()

    def _presigned(
        self, h: BaseHTTPRequestHandler, path: str, params: list[tuple[str, str]], body: bytes
    ) -> None:
        query = dict(params)
        access_key = query.get("X-Amz-Credential", "").split("/", 1)[0]
        principal = self.principal_for(access_key)
        if principal is None:
            _error(h, 403, "InvalidAccessKeyId", f"unknown access key {access_key!r}")
            return
        kept = [(k, v) for k, v in params if not k.startswith("X-Amz-")]
        target = path + (f"?{urlencode(kept)}" if kept else "")
        moto_url = f"http://{self.moto.hostname}:{self.moto.port}{target}"
        headers = {
            k: v
            for k, v in h.headers.items()
            if k.lower() in ("range", "content-type", "if-none-match", "if-match")
        }
        request = AWSRequest(method=h.command, url=moto_url, data=body, headers=headers)
        S3SigV4Auth(Credentials(principal.access_key, principal.secret_key), "s3", REGION).add_auth(
            request
        )
        signed = {k: str(v) for k, v in request.headers.items()}
        signed["Host"] = f"{self.moto.hostname}:{self.moto.port}"
        status = self._forward(h, h.command, target, signed, body)
        bucket_key = unquote(path.lstrip("/"))
        action = "s3:PutObject" if h.command in ("PUT", "POST") else "s3:GetObject"
        with self._lock:
            self.presigned.append(
                Presigned(principal.function, Request(action, f"arn:aws:s3:::{bucket_key}"), status)
            )

    def _scaling(
        self, h: BaseHTTPRequestHandler, name: str, query: dict[str, str], body: bytes
    ) -> None:
        match = _CREDENTIAL.search(h.headers.get("Authorization", ""))
        principal = self.principal_for(match.group(1)) if match else None
        if principal is None:
            _error(h, 403, "UnrecognizedClientException", "unknown caller")
            return
        arn = (
            name
            if name.startswith("arn:")
            else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        )
        if query.get("Qualifier"):
            arn = f"{arn}:{query['Qualifier']}"
        operation = "PutFunctionScalingConfig" if h.command == "PUT" else "GetFunctionScalingConfig"
        with self._lock:
            self.scaling_calls += 1
        if not principal.policy.allows(Request(f"lambda:{operation}", arn)):
            _error(
                h,
                403,
                "AccessDeniedException",
                f"{principal.function} may not lambda:{operation} on {arn}",
            )
            return
        if h.command == "PUT":
            self.scaling.put(arn, json.loads(body or b"{}")["FunctionScalingConfig"])
            _json(h, 202, {"FunctionState": "Active"})
            return
        config = self.scaling.get(arn)
        answer: dict[str, Any] = {"FunctionArn": arn}
        if config is not None:
            answer["RequestedFunctionScalingConfig"] = config
            answer["AppliedFunctionScalingConfig"] = config
        _json(h, 200, answer)

    def _invoke(self, h: BaseHTTPRequestHandler, name: str, body: bytes) -> None:
        """Lambda Invoke (RequestResponse) of one of the rehearsal's functions."""
        match = _CREDENTIAL.search(h.headers.get("Authorization", ""))
        principal = self.principal_for(match.group(1)) if match else None
        if principal is None or self.invoke is None:
            _error(h, 403, "UnrecognizedClientException", "unknown caller")
            return
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        if name.startswith("arn:"):
            arn = name
        if not principal.policy.allows(Request("lambda:InvokeFunction", arn)):
            _error(h, 403, "AccessDeniedException", f"{principal.function} may not invoke {arn}")
            return
        with self._lock:
            self.invocations += 1
        ok, result = self.invoke(arn.rsplit(":", 1)[1], json.loads(body or b"null"))
        data = json.dumps(result if ok else {"errorType": result[0], "errorMessage": result[1]})
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if not ok:
            h.send_header("X-Amz-Function-Error", "Unhandled")
        h.send_header("Content-Length", str(len(data.encode())))
        h.end_headers()
        h.wfile.write(data.encode())


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                h.rfile.readline()
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


def _json(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _error(h: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
    h.send_response(status)
    data = json.dumps({"message": message, "Type": "User"}).encode()
    h.send_header("Content-Type", "application/json")
    h.send_header("x-amzn-ErrorType", code)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)

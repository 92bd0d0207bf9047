"""A threaded HTTP(S) server on 127.0.0.1 at a free port, for the rehearsal's gateway and
webhook receiver."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the rehearsal's output free of access logs."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its connection (reset, broken pipe, TLS torn down, a timeout)
        is not an error of the rehearsal: nothing is printed. Anything else is, as before."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | ssl.SSLError | socket.timeout):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    def __init__(
        self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
    ) -> None:
        self._server = _Server(("127.0.0.1", 0), handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

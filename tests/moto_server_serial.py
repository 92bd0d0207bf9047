"""moto's server, handling one request at a time.

moto's backends take no lock, so on its threaded server two conditional writes racing on one
item can both pass their condition (seen: 2 winners of 20 in the store's race test, now and
then). Real DynamoDB applies each conditional write atomically; serializing requests gives the
tests that guarantee while connections stay concurrent.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_LOCK = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialized(self: Any, environ: Any, start_response: Any) -> Any:
    with _LOCK:
        return list(_dispatch(self, environ, start_response))


DomainDispatcherApplication.__call__ = _serialized  # type: ignore[method-assign]

if __name__ == "__main__":
    server.main(sys.argv[1:])

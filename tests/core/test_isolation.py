"""Request isolation on the app object: each request sees its own `current_request`.

Deterministic, in process: two requests are held inside their views at a barrier, so both have
been assigned before either reads again (the interleaving that mixes data on a plain `Chalice`).
The same property over real HTTP, under load, is in test_local_server.py.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chalice import Chalice, Response
from chalice.config import Config
from chalice.local import LocalGateway

from chalicelib.api.http import ANY_CONTENT, ApiRoutes, json_response
from chalicelib.api.isolation import IsolatedChalice
from chalicelib.api.render import REQUEST_BASE_URL


def _held_app(parties: int) -> tuple[IsolatedChalice, LocalGateway]:
    app = IsolatedChalice(app_name="isolation-test")
    routes = ApiRoutes(
        app,
        authenticate=lambda header, client: None,  # type: ignore[arg-type,return-value]
        verify_signature=lambda path, params: None,
        origin=lambda: ("", True),  # behind a trusted proxy: X-Forwarded-Host is the origin
    )
    barrier = threading.Barrier(parties, timeout=30)

    @routes.route("/echo/{tag}", methods=["POST"], access="public", content_types=ANY_CONTENT)
    def echo(tag: str) -> Response:
        before = routes.request()
        barrier.wait()  # every request has now been assigned to the app object
        request = routes.request()
        return json_response(
            200,
            {
                "tag": tag,
                "same": request is before,
                "body": json.loads(request.raw_body),
                "header": request.headers.get("x-tag"),
                "query": dict(request.query_params or {}).get("q"),
                "baseUrl": REQUEST_BASE_URL.get(),
                "context": app.lambda_context.aws_request_id,
            },
        )

    config = Config.create(chalice_stage="local", app_name=app.app_name, chalice_app=app)
    return app, LocalGateway(app, config)


def _post(gateway: LocalGateway, i: int) -> dict[str, Any]:
    response = gateway.handle_request(
        "POST",
        f"/echo/t{i}?q=q{i}",
        {
            "content-type": "application/json",
            "x-tag": f"h{i}",
            "x-forwarded-host": f"host{i}.test",
            "x-forwarded-proto": "http",
        },
        json.dumps({"n": i}).encode(),
    )
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = json.loads(response["body"])
    return body


def test_concurrent_requests_each_see_their_own_request() -> None:
    parties = 8
    _, gateway = _held_app(parties)
    with ThreadPoolExecutor(parties) as pool:
        answers = list(pool.map(lambda i: _post(gateway, i), range(parties)))
    for i, answer in enumerate(answers):
        assert answer["tag"] == f"t{i}"
        assert answer["same"] is True
        assert answer["body"] == {"n": i}
        assert answer["header"] == f"h{i}"
        assert answer["query"] == f"q{i}"
        assert answer["baseUrl"] == f"http://host{i}.test"
    assert len({a["context"] for a in answers}) == parties  # lambda_context is per request too


def test_nothing_of_a_request_outlives_it_on_its_thread() -> None:
    app, gateway = _held_app(1)
    _post(gateway, 1)
    assert app.current_request is None
    assert app.lambda_context is None
    assert REQUEST_BASE_URL.get() == ""


def test_a_thread_started_by_a_request_sees_no_request_rather_than_another() -> None:
    app = IsolatedChalice(app_name="isolation-spawn")
    seen: list[Any] = []

    @app.route("/spawn")
    def spawn() -> dict[str, bool]:
        worker = threading.Thread(target=lambda: seen.append(app.current_request))
        worker.start()
        worker.join()
        return {"own": app.current_request is not None}

    config = Config.create(chalice_stage="local", app_name=app.app_name, chalice_app=app)
    response = LocalGateway(app, config).handle_request("GET", "/spawn", {}, None)
    assert json.loads(response["body"]) == {"own": True}
    assert seen == [None]


def test_the_service_app_is_isolated_and_routes_refuse_one_that_is_not() -> None:
    from app import app

    assert isinstance(app, IsolatedChalice)
    with pytest.raises(TypeError):
        ApiRoutes(
            Chalice(app_name="shared-request"),
            authenticate=lambda header, client: None,  # type: ignore[arg-type,return-value]
            verify_signature=lambda path, params: None,
        )

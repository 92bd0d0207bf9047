"""The OpenAPI document: valid 3.1, exactly the app's route table with each route's access
decision, request schemas that validate as the API does, examples that fit, a docs page that
loads nothing from elsewhere, and none of it on the API's cold import path."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.conftest import ROOT

OPENAPI_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture
def spec(client) -> dict[str, Any]:
    resp = client.http.get("/openapi.json", headers={"Authorization": ""})  # public
    assert resp.status_code == 200, resp.body
    assert resp.headers["Content-Type"] == "application/json"
    return json.loads(resp.body)


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for `schema` whose `#/components/...` references resolve in `spec`."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    resource = DRAFT202012.create_resource(spec)
    registry: Registry[Any] = Registry().with_resource("urn:spec", resource)
    text = json.dumps(schema).replace('"#/components/', '"urn:spec#/components/')
    return jsonschema.Draft202012Validator(json.loads(text), registry=registry)


def test_the_document_is_valid_openapi_3_1(spec) -> None:
    validate(spec)  # openapi-spec-validator: the 3.1 schema and its own checks
    assert spec["openapi"].startswith("3.1")
    assert isinstance(spec["servers"], list)  # the request's origin, when it names one


def test_operations_equal_the_route_table_with_each_access_decision(spec) -> None:
    from app import routes

    documented = {
        (path, method.upper()): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in OPENAPI_METHODS
    }
    assert set(documented) == set(routes.access)
    for key, access in routes.access.items():
        op = documented[key]
        if access in ("public", "signed"):
            assert op["security"] == [], key
            assert op["x-access"] == access
            assert "401" not in op["responses"], key
        elif access == "read-or-signed":  # a read token, or the video's image signature
            assert op["security"] == [{"bearer": []}, {}], key
            assert op["x-scope"] == "read"
            assert {"401", "403", "429"} <= set(op["responses"]), key
        else:
            assert op["security"] == [{"bearer": []}], key
            assert op["x-scope"] == access
            assert {"401", "403", "429"} <= set(op["responses"]), key
        if access == "signed":
            names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
            assert {"exp", "sig"} <= names, key
        for name in re.findall(r"{([^}]+)}", key[0]):
            assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), key
        for status, response in op["responses"].items():
            if int(status) >= 400 and "content" in response:
                schema = response["content"]["application/json"]["schema"]
                assert schema in (
                    {"$ref": "#/components/schemas/Error"},
                    {"$ref": "#/components/schemas/Health"},
                ), (key, status)
    assert spec["components"]["securitySchemes"]["bearer"] == {
        **spec["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    public = sorted(k for k, v in routes.access.items() if v == "public")
    assert public == [
        ("/", "GET"),
        ("/console/{name}", "GET"),
        ("/docs", "GET"),
        ("/docs/{name}", "GET"),
        ("/health", "GET"),
        ("/openapi.json", "GET"),
    ]


def test_every_route_must_be_described() -> None:
    from app import routes
    from chalicelib.api.openapi import build

    assert set(routes.operations) == set(routes.access)  # every route of the app has its op
    with pytest.raises(KeyError, match="/new"):
        build({**routes.access, ("/new", "GET"): "read"}, routes.operations)


def test_the_served_document_is_the_one_main_served_before_routes_described_themselves(
    client, monkeypatch
) -> None:
    """The operations moved from a table in openapi.py onto the routes in app.py (issue 23);
    the served document did not change: same JSON, same key order (saved from main first).
    Its `servers` is the configured public URL (issue 28), whatever the request's Host."""
    from chalicelib.factory import reset_container

    monkeypatch.setenv("VIDEO_PUBLIC_URL", "http://localhost:8000")
    reset_container()
    resp = client.http.get("/openapi.json", headers={"Authorization": "", "Host": "evil.example"})
    assert resp.status_code == 200
    served = json.loads(resp.body)
    before = json.loads((ROOT / "tests" / "contract" / "openapi_before.json").read_text())
    assert served == before
    assert json.dumps(served) == json.dumps(before)  # the order of keys too


def test_examples_fit_their_schemas(spec) -> None:
    checked = 0
    for _name, schema in spec["components"]["schemas"].items():
        for example in schema.get("examples", []):
            _validator(spec, schema).validate(example)
            checked += 1
    for _path, item in spec["paths"].items():
        for _method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body and "example" in body:
                _validator(spec, body["schema"]).validate(body["example"])
                checked += 1
    assert checked >= 8


# Bodies the published schema and the validation must judge alike (True: valid as to shape).
AGREEMENT = {
    "NEW_VIDEO": [
        ({"title": "t", "sourceUrl": "s3://b/k"}, True),
        ({"title": " ", "sourceUrl": "x"}, False),
        ({"title": "t\u202e", "sourceUrl": "x"}, False),
        ({"title": "t", "description": "a\tb\nc", "sourceUrl": "x"}, True),
        ({"title": "t", "description": "a\x07", "sourceUrl": "x"}, False),
        ({"title": "t" * 201, "sourceUrl": "x"}, False),
        ({"title": "t"}, False),
        ({"title": "t", "sourceUrl": "x", "extra": 1}, False),
        ([], False),
    ],
    "BATCH": [
        ({"videoIds": ["a"]}, True),
        ({"videoIds": []}, False),
        ({"videoIds": ["a", "a"]}, False),
        ({"videoIds": ["a"] * 101}, False),
        ({"videoIds": [1]}, False),
    ],
    "NEW_TOKEN": [
        ({"name": "ci", "scope": "read"}, True),
        ({"name": "ci", "scope": "root"}, False),
        ({"name": "ci", "scope": "read", "workspace": "Acme"}, False),
        ({"name": "ci", "scope": "read", "workspace": "acme\n"}, False),
        ({"name": "ci", "scope": "read", "expiresIn": 59}, False),
        ({"name": "ci", "scope": "read", "expiresIn": True}, False),
        ({"name": "ci", "scope": "read", "expiresIn": 60}, True),
        ({"name": "ci", "scope": "read", "expiresIn": 1639.0}, True),  # JSON: an integer
        ({"name": "ci", "scope": "read", "expiresIn": 1639.5}, False),
    ],
    "NEW_UPLOAD": [
        ({}, True),
        ({"contentType": "video/mp4"}, True),
        ({"contentType": "video/mp4\n"}, False),
        ({"multipart": {"size": 10, "partSize": 5 * 1024 * 1024}}, True),
        ({"multipart": {"size": 10, "partSize": 1024}}, False),
        ({"multipart": {}}, False),
        ({"multipart": True}, False),
        ({"size": 10}, False),
    ],
    "NEW_WEBHOOK": [
        ({"url": "https://example.com/h"}, True),
        ({"url": "https://example.com/h", "events": []}, False),
        ({"url": "https://example.com/h", "events": ["video.nope"]}, False),
    ],
}


def _schema_object(name: str) -> Any:
    from chalicelib.api import auth, uploads, validation, webhooks

    for module in (validation, auth, uploads, webhooks):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("name", "body", "valid"),
    [(name, body, valid) for name, cases in AGREEMENT.items() for body, valid in cases],
)
def test_the_published_schema_and_the_validation_agree(name, body, valid) -> None:
    import jsonschema_rs  # ECMA-262 regular expressions, as JSON Schema means them

    from chalicelib.errors import ValidationError

    schema = _schema_object(name)
    published = jsonschema_rs.Draft202012Validator(schema.describe()).is_valid(body)
    try:
        schema.check(body)
        checked = True
    except ValidationError:
        checked = False
    assert (published, checked) == (valid, valid)


def test_query_parameters_refuse_digits_int_cannot_read() -> None:
    """'²'.isdigit() is True but int('²') raises: such a limit was a 500 (found by fuzzing)."""
    from chalicelib.api.validation import validate_list_params
    from chalicelib.errors import ValidationError

    for raw in ("²", "１０", "٣"):
        with pytest.raises(ValidationError):
            validate_list_params({"limit": raw})


def test_the_docs_page_loads_only_the_vendored_viewer_from_its_own_origin(client) -> None:
    resp = client.http.get("/docs", headers={"Authorization": ""})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp and "font-src 'self' data:" in csp
    page = resp.body.decode() if isinstance(resp.body, bytes) else resp.body
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert 'spec-url="openapi.json"' in page
    script = re.search(r'src="(docs/[^"?]+)', page)
    assert script is not None
    asset = client.http.get("/" + script.group(1), headers={"Authorization": ""})
    assert asset.status_code == 200
    assert asset.headers["Content-Type"].startswith("text/javascript")
    assert client.http.get("/docs/other.js", headers={"Authorization": ""}).status_code == 404


def test_the_vendored_viewer_is_the_pinned_release() -> None:
    vendor = ROOT / "chalicelib" / "api" / "vendor"
    table = (vendor / "VENDOR.md").read_text()
    pinned = dict(re.findall(r"\| `([^`]+)` \| [^|]+\| `([0-9a-f]{64})` \|", table))
    assert set(pinned) == {"rapidoc-min.js", "rapidoc-min.js.LICENSE.txt", "rapidoc-LICENSE.txt"}
    for name, digest in pinned.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (vendor / "rapidoc-LICENSE.txt").read_text()
    from chalicelib.api.docs import RAPIDOC_VERSION

    assert f"RapiDoc {RAPIDOC_VERSION}" in (vendor / "rapidoc-min.js").read_text()[:300]


def test_the_document_is_not_on_the_cold_import_path_and_is_cheap_to_build() -> None:
    """`import app` (AWS mode, as in Lambda) loads neither the document's builder nor any
    heavy module; building the document on first request costs one import of a few modules."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "VIDEO_BACKEND": "aws",
        "VIDEO_TABLE": "videos-test",
        "VIDEO_BUCKET": "media-test",
        "VIDEO_CURSOR_SECRET": "x" * 32,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    code = (
        "import json, sys, time; import app; cold = set(sys.modules);"
        "t = time.perf_counter(); from chalicelib.api.openapi import document;"
        "document(app.routes, 'http://x');"
        "print(json.dumps({'ms': (time.perf_counter() - t) * 1000, 'cold': sorted(cold),"
        "'added': sorted(set(sys.modules) - cold)}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(result.stdout)
    print(
        f"\nbuilding the OpenAPI document on first request: {found['ms']:.1f} ms, "
        f"importing {found['added']}"
    )
    heavy = ("boto3", "botocore", "jsonschema", "yaml", "numpy", "av", "cv2", "moto")
    assert "chalicelib.api.openapi" not in found["cold"]  # not loaded by `import app`
    assert not [m for m in found["cold"] + found["added"] if m.split(".")[0] in heavy]
    assert found["ms"] < 1000

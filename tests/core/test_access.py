"""Access control: every route x every kind of bad credential, scopes, workspaces, signed URLs,
rate limits, and no secret in logs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN

JSON = {"content-type": "application/json"}


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(client: Any, scope: str, workspace: str | None = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"name": f"{scope} token", "scope": scope, **extra}
    if workspace:
        payload["workspace"] = workspace
    resp = client.http.post("/tokens", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 201, resp.body
    return dict(body(resp))


def create_video(client: Any, data_dir: Path, token: str, name: str = "clip.mp4") -> str:
    src = data_dir / "inbox" / name
    src.write_bytes(b"not really a video")
    resp = client.http.post(
        "/videos",
        headers={**JSON, **bearer(token)},
        body=json.dumps({"title": "t", "sourceUrl": f"file://{src}"}),
    )
    assert resp.status_code == 201, resp.body
    return str(body(resp)["id"])


# --- every route, every bad credential ------------------------------------------------------
def _routes() -> list[tuple[str, str, str]]:
    from app import routes

    return sorted((path, method, access) for (path, method), access in routes.access.items())


def test_every_route_has_an_access_decision_and_the_table_covers_the_app() -> None:
    from app import app

    declared = {(p, m) for p, m, _ in _routes()}
    registered = {(p, m) for p, methods in app.routes.items() for m in methods}
    assert declared == registered
    public = {(p, m) for p, m, a in _routes() if a == "public"}
    # health, the web console's page and static files (they hold no data; the page signs in
    # with a token like any client), and the API's OpenAPI document and its page
    assert public == {
        ("/health", "GET"),
        ("/", "GET"),
        ("/console/{name}", "GET"),
        ("/openapi.json", "GET"),
        ("/docs", "GET"),
        ("/docs/{name}", "GET"),
    }


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "AAAAAAAAAAAAAAAAAAAAAA", path)


@pytest.fixture
def credentials(client: Any) -> dict[str, dict[str, str] | None]:
    revoked = mint(client, "admin")
    assert client.http.delete(f"/tokens/{revoked['id']}").status_code == 204
    read = mint(client, "read")
    expired = mint(client, "admin", expiresIn=60)
    from chalicelib.factory import container

    container().store.update_token(expired["id"], {"expiresAt": "2020-01-01T00:00:00.000000Z"})
    return {
        "none": None,
        "garbage": {"Authorization": "Bearer !!!"},
        "wrong scheme": {"Authorization": f"Basic {ADMIN_TOKEN}"},
        "unknown": bearer("vt_0123456789abcdef_" + "A" * 43),
        "revoked": bearer(revoked["secret"]),
        "expired": bearer(expired["secret"]),
        "read": bearer(read["secret"]),
    }


@pytest.mark.parametrize(("path", "method", "access"), _routes())
def test_each_route_refuses_bad_credentials(
    client: Any,
    credentials: dict[str, dict[str, str] | None],
    path: str,
    method: str,
    access: str,
) -> None:
    url = _concrete(path)
    for case, headers in credentials.items():
        sent = {**JSON, **(headers or {"Authorization": ""})}
        resp = client.http.request(method, url, headers=sent, body=b"{}")
        if access == "public":  # a placeholder console file name is simply not there
            expected_public = 404 if "{" in path else 200
            assert resp.status_code == expected_public, (case, resp.body)
            continue
        if access == "signed":  # no signature: forbidden whatever the header says
            assert resp.status_code == 403, (case, resp.body)
            assert body(resp)["error"]["code"] == "Forbidden"
            continue
        if case == "read" and access in ("read", "read-or-signed"):
            assert resp.status_code != 401 and resp.status_code != 403, (case, resp.body)
            continue
        expected = 403 if case == "read" else 401
        assert resp.status_code == expected, (case, method, url, resp.body)
        error = body(resp)["error"]
        assert error["code"] == ("Forbidden" if expected == 403 else "Unauthorized")
        assert error["requestId"]
        if expected == 401:
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")


# --- tokens ---------------------------------------------------------------------------------
def test_token_lifecycle_secret_shown_once_hash_only_revocation_immediate(
    client: Any, local_env: Path
) -> None:
    from chalicelib.factory import container

    token = mint(client, "write")
    secret = token["secret"]
    assert secret.startswith(f"vt_{token['id']}_")
    stored = container().store.get_token(token["id"])
    assert stored is not None and secret not in json.dumps(stored)
    assert stored["hash"].startswith("hmac-sha256$")
    listed = body(client.http.get("/tokens"))["tokens"]
    assert token["id"] in {t["id"] for t in listed}
    assert all("secret" not in t and "hash" not in t for t in listed)
    vid = create_video(client, local_env, secret)
    assert client.http.get(f"/videos/{vid}", headers=bearer(secret)).status_code == 200
    used = container().store.get_token(token["id"])
    assert used is not None and used["lastUsedAt"]
    assert client.http.delete(f"/tokens/{token['id']}").status_code == 204
    resp = client.http.get(f"/videos/{vid}", headers=bearer(secret))
    assert resp.status_code == 401  # the very next request
    assert client.http.delete("/tokens/0123456789abcdef").status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "x", "scope": "root"},
        {"scope": "read"},
        {"name": "x", "scope": "read", "workspace": "Bad_WS"},
        {"name": "x", "scope": "read", "expiresIn": 5},
        {"name": "x", "scope": "read", "extra": 1},
        {"name": "\u202eevil", "scope": "read"},
    ],
)
def test_bad_token_requests_are_400(client: Any, payload: dict[str, Any]) -> None:
    resp = client.http.post("/tokens", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 400, resp.body


def test_only_the_operator_mints_for_another_workspace(client: Any) -> None:
    acme_admin = mint(client, "admin", "acme")
    resp = client.http.post(
        "/tokens",
        headers={**JSON, **bearer(acme_admin["secret"])},
        body=json.dumps({"name": "x", "scope": "read", "workspace": "globex"}),
    )
    assert resp.status_code == 403
    own = client.http.post(
        "/tokens",
        headers={**JSON, **bearer(acme_admin["secret"])},
        body=json.dumps({"name": "x", "scope": "read"}),
    )
    assert own.status_code == 201 and body(own)["workspace"] == "acme"
    theirs = body(client.http.get("/tokens", headers=bearer(acme_admin["secret"])))["tokens"]
    assert {t["workspace"] for t in theirs} == {"acme"}


# --- workspaces -----------------------------------------------------------------------------
def test_workspaces_cannot_see_each_other(client: Any, local_env: Path) -> None:
    acme = mint(client, "write", "acme")["secret"]
    globex = mint(client, "write", "globex")["secret"]
    mine = [create_video(client, local_env, acme, f"a{i}.mp4") for i in range(3)]
    theirs = create_video(client, local_env, globex, "g.mp4")
    listed = body(client.http.get("/videos?limit=2", headers=bearer(acme)))
    assert {v["id"] for v in listed["videos"]} <= set(mine)
    token = listed["nextToken"]
    rest = client.http.get(f"/videos?limit=2&nextToken={token}", headers=bearer(acme))
    assert {v["id"] for v in body(rest)["videos"]} <= set(mine)
    crossed = client.http.get(f"/videos?limit=2&nextToken={token}", headers=bearer(globex))
    assert crossed.status_code == 400  # a cursor never crosses workspaces
    assert "acme" not in crossed.body.decode()
    for method, path in (
        ("GET", f"/videos/{theirs}"),
        ("POST", f"/videos/{theirs}/process"),
    ):
        resp = client.http.request(method, path, headers=bearer(acme), body=b"")
        assert resp.status_code == 404, (method, path)
        unknown = client.http.request(
            method, path.replace(theirs, "B" * 22), headers=bearer(acme), body=b""
        )
        assert body(resp)["error"]["message"].replace(theirs, "X") == body(unknown)["error"][
            "message"
        ].replace("B" * 22, "X")  # exactly like an unknown id
    batch = client.http.post(
        "/videos/process",
        headers={**JSON, **bearer(acme)},
        body=json.dumps({"videoIds": [theirs]}),
    )
    assert batch.status_code == 404
    assert client.http.get("/videos", headers=bearer(globex)).status_code == 200
    assert [
        v["id"] for v in body(client.http.get("/videos", headers=bearer(globex)))["videos"]
    ] == [theirs]


def test_uploads_belong_to_their_workspace(client: Any, local_env: Path) -> None:
    acme = mint(client, "write", "acme")["secret"]
    globex = mint(client, "write", "globex")["secret"]
    target = body(
        client.http.post(
            "/uploads", headers={**JSON, **bearer(acme)}, body=json.dumps({"filename": "a.mp4"})
        )
    )
    assert target["sourceUrl"].startswith("upload://acme/")  # no server path
    path = target["uploadUrl"].split("://", 1)[-1].partition("/")[2]
    assert client.http.put(f"/{path}", body=b"bytes").status_code == 201
    new = json.dumps({"title": "t", "sourceUrl": target["sourceUrl"]})
    ok = client.http.post("/videos", headers={**JSON, **bearer(acme)}, body=new)
    assert ok.status_code == 201
    stolen = client.http.post("/videos", headers={**JSON, **bearer(globex)}, body=new)
    assert stolen.status_code == 400
    # the older file:// form of the same upload: still valid for its owner only
    _, slot, name = target["sourceUrl"].removeprefix("upload://").split("/")
    old = json.dumps(
        {"title": "t", "sourceUrl": f"file://{local_env}/inbox/uploads/acme/{slot}/{name}"}
    )
    assert (
        client.http.post("/videos", headers={**JSON, **bearer(acme)}, body=old).status_code == 201
    )
    stolen = client.http.post("/videos", headers={**JSON, **bearer(globex)}, body=old)
    assert stolen.status_code == 400


def test_capacity_is_admin_only(client: Any) -> None:
    write = mint(client, "write")["secret"]
    assert client.http.get("/capacity", headers=bearer(write)).status_code == 403
    assert client.http.get("/capacity").status_code == 200


def test_active_videos_per_workspace_are_capped(
    client: Any, local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import install_container
    from tests.core.test_api import RecordingOrchestrator

    monkeypatch.setenv("VIDEO_WORKSPACE_MAX_ACTIVE", "2")
    install_container(orchestrator=RecordingOrchestrator())
    ids = [create_video(client, local_env, ADMIN_TOKEN, f"c{i}.mp4") for i in range(3)]
    assert client.http.post(f"/videos/{ids[0]}/process").status_code == 202
    assert client.http.post(f"/videos/{ids[1]}/process").status_code == 202
    resp = client.http.post(f"/videos/{ids[2]}/process")
    assert resp.status_code == 429
    assert body(resp)["error"]["code"] == "TooManyActiveVideos"
    assert int(resp.headers["Retry-After"]) >= 1
    item = body(client.http.get(f"/videos/{ids[0]}"))
    assert item["processedBy"] == "operator" and item["createdBy"] == "operator"


def test_rate_limit_answers_429_with_retry_after(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.factory import reset_container

    monkeypatch.setenv("VIDEO_RATE_LIMIT_PER_SECOND", "1")
    monkeypatch.setenv("VIDEO_RATE_LIMIT_BURST", "3")
    reset_container()
    codes = [client.http.get("/videos").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    resp = client.http.get("/videos")
    assert resp.headers["Retry-After"] == "1"
    assert client.http.get("/health").status_code == 200  # public routes are not limited


def test_rate_limiter_refills() -> None:
    from chalicelib.api.auth import RateLimiter

    now = [0.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # per key
    now[0] = 0.5
    assert limiter.take("a") == 0.0


# --- signed URLs ----------------------------------------------------------------------------
def test_signed_urls_valid_tampered_expired_and_other_video() -> None:
    from chalicelib.api.signing import UrlSigner
    from chalicelib.errors import ForbiddenError

    now = [1_000_000.0]
    signer = UrlSigner(b"s" * 32, 3600, clock=lambda: now[0])
    path = "/media/AAAAAAAAAAAAAAAAAAAAAA/run-1/poster.jpg"
    query = dict(pair.split("=") for pair in signer.query(path).split("&"))
    signer.verify(path, query)  # valid
    cases = {
        "tampered path": (path.replace("poster", "video_720p"), query),
        "other video": (path.replace("A" * 22, "B" * 22), query),
        "tampered expiry": (path, {**query, "exp": str(int(query["exp"]) + 1)}),
        "bad signature": (path, {**query, "sig": query["sig"][:-2] + "AA"}),
        "unsigned": (path, {}),
        "non-numeric expiry": (path, {**query, "exp": "soon"}),
    }
    for case, (p, q) in cases.items():
        with pytest.raises(ForbiddenError):
            signer.verify(p, q)
        assert case
    now[0] += 3601
    with pytest.raises(ForbiddenError, match="expired"):
        signer.verify(path, query)
    with pytest.raises(ValueError):
        UrlSigner(b"short", 60)


def test_cursor_and_signing_keys_differ(local_env: Path) -> None:
    from chalicelib.factory import container, cursor_secret

    c = container()
    c.signer  # noqa: B018 - builds (and writes) the signing key
    signing = (local_env / "signing.key").read_text().strip()
    assert signing and signing.encode() != cursor_secret(c.settings)


# --- secrets stay secret ---------------------------------------------------------------------
def test_no_secret_reaches_the_logs(
    client: Any, local_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = mint(client, "admin")
    secret = token["secret"]
    client.http.get("/videos", headers=bearer(secret))
    wrong = [client.http.get("/videos", headers=bearer(secret[:-1] + "x")) for _ in range(12)]
    assert wrong[0].status_code == 401 and wrong[-1].status_code == 429  # throttled, also quiet
    client.http.get("/videos", headers=bearer("vt_" + "f" * 16 + "_" + "x" * 43))
    from chalicelib.factory import container

    stored = container().store.get_token(token["id"])
    assert stored is not None
    text = caplog.text + json.dumps([r.__dict__.get("args") for r in caplog.records], default=str)
    assert secret not in text and secret[-43:] not in text
    assert stored["hash"] not in text and stored["hash"].partition("$")[2] not in text
    assert ADMIN_TOKEN not in text


def _authenticator(store: Any, **limits: Any) -> Any:
    from chalicelib.api.auth import Authenticator, LoginThrottle, SecretHasher

    throttle = LoginThrottle(store, **limits) if limits else None
    return Authenticator(store, lambda: "", SecretHasher(b"k" * 32), throttle=throttle)


def _minted(store: Any, **record: Any) -> str:
    """A token record in `store` (fields overridable); its whole token."""
    from chalicelib.api.auth import SecretHasher, new_token

    token_id, secret, whole = new_token()
    store.put_token(
        {
            "id": token_id,
            "name": "n",
            "scope": "read",
            "workspace": "acme",
            "hash": SecretHasher(b"k" * 32).hash(secret),
            "createdAt": "2026-12-01T00:00:00.000000Z",
            **record,
        }
    )
    return whole


def _wrong(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_a_wrong_secret_is_rejected_and_a_right_one_accepted(local_env: Path) -> None:
    from chalicelib.errors import UnauthorizedError
    from chalicelib.factory import container

    store = container().store
    auth = _authenticator(store)
    token = _minted(store)
    assert auth.authenticate(f"Bearer {token}").workspace == "acme"
    for presented in (_wrong(token), token[:-1], "vt_0123456789abcdef_" + token[-43:]):
        with pytest.raises(UnauthorizedError):
            auth.authenticate(f"Bearer {presented}")


def test_an_old_scrypt_hash_is_accepted_then_rewritten(local_env: Path) -> None:
    from chalicelib.api.auth import new_token, scrypt_hash
    from chalicelib.errors import UnauthorizedError
    from chalicelib.factory import container

    store = container().store
    auth = _authenticator(store)
    token_id, secret, whole = new_token()
    old = _minted(store)  # a neighbour whose hash must stay as it is
    store.put_token(
        {
            "id": token_id,
            "name": "old",
            "scope": "write",
            "workspace": "acme",
            "hash": scrypt_hash(secret),
            "createdAt": "2026-01-01T00:00:00.000000Z",
        }
    )
    with pytest.raises(UnauthorizedError):  # a wrong secret does not migrate anything
        auth.authenticate(f"Bearer {_wrong(whole)}")

    def stored_hash() -> str:
        record = store.get_token(token_id)
        assert record is not None
        return str(record["hash"])

    assert stored_hash().startswith("scrypt$")
    assert auth.authenticate(f"Bearer {whole}").scope == "write"
    migrated = stored_hash()
    assert migrated.startswith("hmac-sha256$")
    assert auth.authenticate(f"Bearer {whole}").scope == "write"  # verified by the new hash
    assert stored_hash() == migrated
    with pytest.raises(UnauthorizedError):
        auth.authenticate(f"Bearer {_wrong(whole)}")
    assert auth.authenticate(f"Bearer {old}").scope == "read"


def test_failures_per_token_id_are_throttled_with_retry_after(local_env: Path) -> None:
    import time

    from chalicelib.errors import RateLimitedError, UnauthorizedError
    from chalicelib.factory import container

    store = container().store
    now = [time.time() // 60 * 60 + 20]  # 20 s into a window (real time: counters expire)
    auth = _authenticator(
        store, per_token=3, per_client=100, window_seconds=60.0, clock=lambda: now[0]
    )
    token, other = _minted(store), _minted(store)
    for _ in range(3):
        with pytest.raises(UnauthorizedError):
            auth.authenticate(f"Bearer {_wrong(token)}", "198.51.100.7")
    with pytest.raises(RateLimitedError) as info:
        auth.authenticate(f"Bearer {_wrong(token)}", "198.51.100.8")  # from anywhere
    assert info.value.code == "TooManyFailedLogins"
    assert info.value.headers["Retry-After"] == "40"  # until the 60 s window ends
    # The holder of the right secret is not locked out, nor is another token.
    assert auth.authenticate(f"Bearer {token}", "198.51.100.7").workspace == "acme"
    with pytest.raises(UnauthorizedError):
        auth.authenticate(f"Bearer {_wrong(other)}", "198.51.100.7")
    now[0] += 40  # the next window
    with pytest.raises(UnauthorizedError):
        auth.authenticate(f"Bearer {_wrong(token)}", "198.51.100.7")


def test_failures_per_client_are_throttled_across_ids_and_processes(local_env: Path) -> None:
    from chalicelib.errors import RateLimitedError, UnauthorizedError
    from chalicelib.factory import container

    store = container().store
    limits = {"per_token": 100, "per_client": 4, "window_seconds": 3600.0}
    first, second = _authenticator(store, **limits), _authenticator(store, **limits)
    token = _minted(store)
    attempts = ["Bearer garbage", "Basic x", f"Bearer {_wrong(token)}", "Bearer vt_" + "f" * 60]
    for n, header in enumerate(attempts):
        with pytest.raises(UnauthorizedError):
            (first if n % 2 else second).authenticate(header, "203.0.113.9")
    # Another process (another Lambda environment) shares the count through the store.
    with pytest.raises(RateLimitedError) as info:
        second.authenticate(f"Bearer {_wrong(token)}", "203.0.113.9")
    assert 1 <= int(info.value.headers["Retry-After"]) <= 3600
    # Once blocked, this client is refused before any work, even with a valid token...
    with pytest.raises(RateLimitedError):
        second.authenticate(f"Bearer {token}", "203.0.113.9")
    # ...while other clients are not affected.
    assert first.authenticate(f"Bearer {token}", "192.0.2.1").workspace == "acme"


def test_throttled_logins_answer_429_over_http(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.factory import reset_container

    monkeypatch.setenv("VIDEO_LOGIN_FAILURES_PER_CLIENT", "3")
    reset_container()
    codes = [
        client.http.get("/videos", headers=bearer("vt_0123456789abcdef_" + "A" * 43)).status_code
        for _ in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    resp = client.http.get("/videos", headers=bearer("vt_0123456789abcdef_" + "A" * 43))
    assert body(resp)["error"]["code"] == "TooManyFailedLogins"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert client.http.get("/health").status_code == 200


def test_the_secret_hash_is_an_hmac_under_the_server_key() -> None:
    from chalicelib.api.auth import SecretHasher

    hasher = SecretHasher(b"k" * 32)
    stored = hasher.hash("s3cret")
    assert hasher.verify("s3cret", stored) == (True, False)
    assert hasher.verify("s3creT", stored) == (False, False)
    assert SecretHasher(b"j" * 32).verify("s3cret", stored) == (False, False)  # keyed
    assert hasher.verify("s3cret", "hmac-sha256$!!") == (False, False)
    assert hasher.verify("s3cret", "plain$s3cret") == (False, True)
    with pytest.raises(ValueError):
        SecretHasher(b"short")


def test_generated_admin_token_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import Settings
    from chalicelib.factory import Container

    c = Container(Settings(data_dir=tmp_path))
    token = c.admin_token
    path = tmp_path / "admin-token"
    assert path.read_text().strip() == token and len(token) > 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert Container(Settings(data_dir=tmp_path)).admin_token == token  # kept across restarts


def test_admin_cli_mints_lists_and_revokes(
    local_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib.admin import main
    from chalicelib.config import Settings
    from chalicelib.factory import Container

    def run(*argv: str) -> Any:
        code = main(list(argv), Container(Settings.from_env()))
        out = capsys.readouterr().out
        return code, json.loads(out) if out.strip() else None

    code, token = run("tokens", "create", "--name", "ci", "--scope", "write", "--workspace", "acme")
    assert code == 0 and token["workspace"] == "acme" and token["secret"].startswith("vt_")
    auth = Container(Settings.from_env()).auth
    assert auth.authenticate(f"Bearer {token['secret']}").workspace == "acme"
    code, listed = run("tokens", "list", "--workspace", "acme")
    assert [t["id"] for t in listed] == [token["id"]] and "secret" not in listed[0]
    assert run("tokens", "revoke", token["id"])[0] == 0
    assert run("tokens", "revoke", "0123456789abcdef")[0] == 2
    assert run("migrate") == (0, {"migrated": 0})


# --- title search -----------------------------------------------------------------------------
def test_search_stays_in_the_workspace_and_pages_with_its_own_cursor(
    client: Any, local_env: Path
) -> None:
    acme = mint(client, "write", "acme")["secret"]
    globex = mint(client, "write", "globex")["secret"]
    src = local_env / "inbox" / "s.mp4"
    src.write_bytes(b"x")

    def add(token: str, title: str) -> str:
        resp = client.http.post(
            "/videos",
            headers={**JSON, **bearer(token)},
            body=json.dumps({"title": title, "sourceUrl": f"file://{src}"}),
        )
        assert resp.status_code == 201, resp.body
        return str(body(resp)["id"])

    talks = [add(acme, f"Team Talk {n}") for n in range(3)]
    add(acme, "Holiday")
    add(globex, "Team talk of globex")

    def get(query: str, token: str = acme) -> Any:
        return client.http.get(f"/videos?{query}", headers=bearer(token))

    first = body(get("q=TALK&limit=2"))
    assert [v["id"] for v in first["videos"]] == talks[::-1][:2]
    rest = body(get(f"q=talk&limit=2&nextToken={first['nextToken']}"))
    assert [v["id"] for v in rest["videos"]] == talks[:1] and "nextToken" not in rest
    # The cursor belongs to this search: not to another one, nor to the plain list.
    assert get(f"q=team&limit=2&nextToken={first['nextToken']}").status_code == 400
    assert get(f"limit=2&nextToken={first['nextToken']}").status_code == 400
    assert body(get("q=talk&status=uploaded"))["count"] == 3
    assert body(get("q=talk&status=completed"))["count"] == 0
    assert body(get("q=holi"))["count"] == 1
    assert [v["title"] for v in body(get("q=globex", globex))["videos"]] == ["Team talk of globex"]
    assert body(get("q=globex"))["videos"] == []
    for bad in ("q=", "q=%20%20", "q=!!!", "q=" + "+".join("w" * 9), "q=" + "a" * 201):
        resp = get(bad)
        assert resp.status_code == 400, bad
        assert body(resp)["error"]["details"]["field"] == "q"

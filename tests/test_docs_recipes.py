"""The docs' by-hand recipes work as written: the AWS-mode-on-an-emulator block of
docs/operations.md is run by bash exactly as a reader would paste it (only its two ports moved to
free ones), then the API it starts is called with the admin token it prints."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port, wait_for_port

MARKER = "# recipe: aws-mode-on-an-emulator"


def recipe(marker: str) -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    start = text.index(marker)
    return text[start : text.index("```", start)]


def call(base: str, path: str, token: str, body: Any = None, method: str = "GET") -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.slow
def test_the_emulator_recipe_serves_an_authenticated_api(tmp_path: Path) -> None:
    moto_port, api_port = free_port(), free_port()
    script = recipe(MARKER)
    assert "-p 5000" in script and "127.0.0.1:5000" in script and "-m devserver" in script
    script = script.replace("5000", str(moto_port)).replace(
        "-m devserver", f"-m devserver --port {api_port}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "AWS_"))}
    env["VIDEO_DATA_DIR"] = str(tmp_path / "data")
    out = tmp_path / "recipe.log"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            ["bash", "-e", "-c", script],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the recipe's background moto_server dies with the group
        )
    try:
        wait_for_port(api_port, timeout=120)
        token = ""
        for _ in range(100):
            if found := re.search(r"^TOKEN=(\S+)$", out.read_text(), re.M):
                token = found.group(1)
                break
            time.sleep(0.1)
        assert token.startswith("vt_admin_"), out.read_text()
        base = f"http://127.0.0.1:{api_port}"
        with urllib.request.urlopen(base + "/health", timeout=30) as resp:
            assert json.loads(resp.read())["backend"] == "dynamodb"
        # an upload presigned on the emulator's S3, a video from it, then the status index
        # (GET /videos?status= answered 503 when the recipe's table lacked WorkspaceStatusIndex)
        status, target = call(base, "/uploads", token, {"filename": "a.mp4"}, "POST")
        assert status == 201
        put = urllib.request.Request(
            target["uploadUrl"], data=b"bytes", method="PUT", headers=target["headers"]
        )
        with urllib.request.urlopen(put, timeout=30) as uploaded:
            assert uploaded.status == 200
        status, video = call(
            base, "/videos", token, {"title": "t", "sourceUrl": target["sourceUrl"]}, "POST"
        )
        assert status == 201
        status, listed = call(base, "/videos?status=uploaded", token)
        assert status == 200 and [v["id"] for v in listed["videos"]] == [video["id"]]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

"""The app reads its secrets from Secrets Manager by ARN, once per process; plain settings
(local dev, the emulator) and the local files still work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.errors import DependencyError
from chalicelib.factory import Container
from chalicelib.secret_store import SecretsManagerReader, SecretStore


class CountingClient:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def get_secret_value(self, SecretId: str) -> Any:
        self.calls.append(SecretId)
        return self.client.get_secret_value(SecretId=SecretId)


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def _aws(
    admin_token_secret_arn: str = "", cursor_secret_arn: str = "", signing_secret_arn: str = ""
) -> Settings:
    return Settings(
        backend="aws",
        table_name="t",
        region="us-east-1",
        admin_token_secret_arn=admin_token_secret_arn,
        cursor_secret_arn=cursor_secret_arn,
        signing_secret_arn=signing_secret_arn,
    )


def test_each_secret_is_read_by_arn_once_per_process(secretsmanager: Any) -> None:
    arns = {
        name: secretsmanager.create_secret(Name=name, SecretString=f" {value}\n")["ARN"]
        for name, value in (("admin", "vt_admin_x" * 5), ("cursor", "c" * 64), ("sign", "s" * 64))
    }
    counting = CountingClient(secretsmanager)
    store = SecretStore(
        _aws(
            admin_token_secret_arn=arns["admin"],
            cursor_secret_arn=arns["cursor"],
            signing_secret_arn=arns["sign"],
        ),
        SecretsManagerReader(lambda: counting),
    )
    for _ in range(3):
        assert store.admin_token() == "vt_admin_x" * 5
        assert store.cursor_key() == b"c" * 64
        assert store.signing_key() == b"s" * 64
    assert sorted(counting.calls) == sorted(arns.values())  # one GetSecretValue each


def test_the_container_takes_its_keys_from_secrets_manager(secretsmanager: Any) -> None:
    cursor = secretsmanager.create_secret(Name="cursor", SecretString="k" * 64)["ARN"]
    signing = secretsmanager.create_secret(Name="signing", SecretString="q" * 64)["ARN"]
    c = Container(_aws(cursor_secret_arn=cursor, signing_secret_arn=signing))
    assert c.secrets.cursor_key() == b"k" * 64
    from chalicelib.api.signing import UrlSigner

    path = "/media/v/x.m3u8"
    query = dict(p.split("=", 1) for p in c.signer.sign(path, path).split("?", 1)[1].split("&"))
    UrlSigner(b"q" * 64, 60).verify(path, query)  # signed with the secret's key
    assert c.admin_token == ""  # none configured: only minted tokens work


def test_a_signing_key_never_needs_the_admin_token(secretsmanager: Any) -> None:
    """The dispatcher holds only the signing key's ARN: reading the signing key must not
    touch the admin token (it has no grant for it)."""
    signing = secretsmanager.create_secret(Name="signing", SecretString="q" * 64)["ARN"]
    counting = CountingClient(secretsmanager)
    store = SecretStore(_aws(signing_secret_arn=signing), SecretsManagerReader(lambda: counting))
    assert store.signing_key() == b"q" * 64
    assert counting.calls == [signing]


def test_an_unreadable_secret_is_a_dependency_error(secretsmanager: Any) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"
    store = SecretStore(
        _aws(admin_token_secret_arn=missing), SecretsManagerReader(lambda: secretsmanager)
    )
    with pytest.raises(DependencyError) as caught:
        store.admin_token()
    assert missing not in str(caught.value)  # the ARN stays in the chained cause (logs)


def test_plain_settings_win_and_no_client_is_made(tmp_path: Path) -> None:
    def no_client() -> Any:
        raise AssertionError("no Secrets Manager client without an ARN")

    settings = Settings(
        backend="aws",
        admin_token="vt_admin_plain",
        cursor_secret="cursor-plain",
        signing_secret="signing-plain",
        admin_token_secret_arn="arn:unused",
        cursor_secret_arn="arn:unused",
        signing_secret_arn="arn:unused",
    )
    store = SecretStore(settings, SecretsManagerReader(no_client))
    assert store.admin_token() == "vt_admin_plain"
    assert store.cursor_key() == b"cursor-plain"
    assert store.signing_key() == b"signing-plain"


def test_local_secrets_are_private_files_kept_across_processes(tmp_path: Path) -> None:
    def no_client() -> Any:
        raise AssertionError("local secrets never reach Secrets Manager")

    first = SecretStore(Settings(data_dir=tmp_path), SecretsManagerReader(no_client))
    keys = (first.admin_token(), first.cursor_key(), first.signing_key())
    assert len({keys[0].encode(), keys[1], keys[2]}) == 3
    for name in ("admin-token", "cursor.key", "signing.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    again = SecretStore(Settings(data_dir=tmp_path), SecretsManagerReader(no_client))
    assert (again.admin_token(), again.cursor_key(), again.signing_key()) == keys


def test_without_a_signing_key_it_is_derived_from_the_admin_token(secretsmanager: Any) -> None:
    """An older deployment (no VIDEO_SIGNING_SECRET_ARN): the key comes from the admin token,
    reading it through the same store (re-entrant), still once."""
    admin = secretsmanager.create_secret(Name="admin", SecretString="vt_admin_" + "t" * 40)["ARN"]
    counting = CountingClient(secretsmanager)
    store = SecretStore(_aws(admin_token_secret_arn=admin), SecretsManagerReader(lambda: counting))
    key = store.signing_key()
    assert len(key) == 32 and key == store.signing_key()
    assert store.admin_token() == "vt_admin_" + "t" * 40
    assert counting.calls == [admin]
    assert SecretStore(_aws(), SecretsManagerReader(lambda: counting)).signing_key() != key

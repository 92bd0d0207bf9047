"""The service's secrets in Secrets Manager: the operator's admin token, the page-cursor key and
the URL-signing key.

Each is generated at the first deploy and kept by later ones (a generated secret is not
regenerated on update); none is in git, in the template or in a function's environment. A
function is given the ARNs of the secrets access.py lists for it (`SECRET_ARN_VARIABLES`) and
reads them once per environment (chalicelib/secret_store.py). Rotation is by hand: put a new
value; environments pick it up at their next cold start (see infra/README.md).
"""

from __future__ import annotations

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from video_infra.access import ADMIN_TOKEN, CURSOR_KEY, SIGNING_KEY

# name -> (construct id, description, length). The admin token's id is its logical ID since
# the first deploy: changing it would replace the secret and so the operator's token.
_SECRETS = {
    ADMIN_TOKEN: (
        "AdminToken",
        "The video service operator's admin token (Authorization: Bearer ...)",
        48,
    ),
    CURSOR_KEY: ("CursorKey", "HMAC key of the video API's pagination cursors (nextToken)", 64),
    SIGNING_KEY: ("SigningKey", "HMAC key of the video service's signed media/stream URLs", 64),
}


class ServiceSecrets:
    """One generated secret per name of access.py; built in `scope` (the stack) itself."""

    def __init__(self, scope: Construct) -> None:
        self.by_name: dict[str, secretsmanager.Secret] = {
            name: secretsmanager.Secret(
                scope,
                construct_id,
                description=description,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=length, exclude_punctuation=True
                ),
            )
            for name, (construct_id, description, length) in _SECRETS.items()
        }

    @property
    def admin_token(self) -> secretsmanager.Secret:
        return self.by_name[ADMIN_TOKEN]

    def arns(self) -> dict[str, str]:
        return {name: secret.secret_arn for name, secret in self.by_name.items()}

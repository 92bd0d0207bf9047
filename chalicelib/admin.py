"""Operators' CLI against the configured store (local SQLite or DynamoDB, from the environment).

    python -m chalicelib.admin tokens create --name ci --scope write [--workspace acme]
        [--expires-in 86400]
    python -m chalicelib.admin tokens list [--workspace acme]
    python -m chalicelib.admin tokens revoke <token id>
    python -m chalicelib.admin migrate        # give pre-workspace items their keys (idempotent)

It acts as the operator (workspace `default`, may mint for any workspace). A new token's
secret is printed once, on standard output; nothing is logged.
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.config import Settings
from chalicelib.domain import DEFAULT_WORKSPACE
from chalicelib.domain.access import Principal
from chalicelib.errors import ServiceError
from chalicelib.factory import Container

OPERATOR = Principal("operator-cli", DEFAULT_WORKSPACE, "admin", operator=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    tokens = commands.add_parser("tokens", help="mint, list and revoke access tokens")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, choices=["read", "write", "admin"])
    create.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    create.add_argument("--expires-in", type=int, help="seconds (60 .. 31622400)")
    listing = actions.add_parser("list")
    listing.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    revoke = actions.add_parser("revoke")
    revoke.add_argument("token_id")
    commands.add_parser("migrate", help="bring stored items up to the current keys")
    return parser


def main(argv: list[str] | None = None, container: Container | None = None) -> int:
    args = _parser().parse_args(argv)
    c = container or Container(Settings.from_env())
    try:
        if args.command == "migrate":
            print(json.dumps({"migrated": c.store.migrate()}))
        elif args.action == "create":
            body = {"name": args.name, "scope": args.scope, "workspace": args.workspace}
            if args.expires_in is not None:
                body["expiresIn"] = args.expires_in
            print(json.dumps(c.tokens.create(body, OPERATOR), indent=1))
        elif args.action == "list":
            print(json.dumps(c.tokens.list(OPERATOR, args.workspace), indent=1))
        else:
            c.tokens.revoke(args.token_id, OPERATOR)
            print(json.dumps({"revoked": args.token_id}))
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

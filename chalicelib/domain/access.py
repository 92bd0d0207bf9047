"""Who is acting: a token's workspace and scope, or the operator."""

from __future__ import annotations

from dataclasses import dataclass

SCOPES = ("read", "write", "admin")  # each includes the ones before it


@dataclass(frozen=True)
class Principal:
    token_id: str
    workspace: str
    scope: str
    operator: bool = False  # the configured admin token: may act for any workspace

    def allows(self, needed: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)

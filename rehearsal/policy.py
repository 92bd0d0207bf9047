"""IAM identity-policy evaluation, the part a rehearsal needs: Allow/Deny statements, wildcards
in actions and resources, and the condition operators the stack uses.

moto's enforcement ignores every condition operator but StringEquals and, outside S3, sees only
the resource "*"; this evaluator judges each recorded request on its real resource and context.
An operator it does not know is an error, never a silent pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class PolicyError(Exception):
    """A policy this evaluator cannot judge (an unknown condition operator, a NotResource...)."""


@dataclass(frozen=True)
class Request:
    """One authorization question: may the principal do `action` on `resource`?"""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        extra = "".join(f" [{k}={v}]" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}{extra}"


@dataclass(frozen=True)
class Grant:
    """One (action pattern, resource pattern) pair a policy allows, with its conditions."""

    action: str
    resource: str
    condition: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}" + (
            f" if {_condition_text(self.condition)}" if self.condition else ""
        )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character, nothing else special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return (
        re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        is not None
    )


def _condition_text(condition: Mapping[str, Any]) -> str:
    return " and ".join(
        f"{key} {op} {values}" for op, keys in condition.items() for key, values in keys.items()
    )


_OPERATORS = {
    "StringEquals": lambda want, got: got == want,
    "StringNotEquals": lambda want, got: got != want,
    "StringLike": lambda want, got: _wildcard(want, got, ignore_case=False),
    "StringNotLike": lambda want, got: not _wildcard(want, got, ignore_case=False),
    "ArnEquals": lambda want, got: got == want,
    "ArnLike": lambda want, got: _wildcard(want, got, ignore_case=False),
    "Bool": lambda want, got: str(got).lower() == str(want).lower(),
}


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, keys in condition.items():
        test = _OPERATORS.get(operator)
        if test is None:
            raise PolicyError(f"condition operator {operator!r} is not evaluated by the rehearsal")
        for key, wanted in keys.items():
            got = context.get(key)
            if got is None:  # a missing key fails every operator without ...IfExists
                return False
            if not any(test(str(w), got) for w in _as_list(wanted)):
                return False
    return True


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Any] | None
    sid: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Statement:
        for unsupported in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
            if unsupported in raw:
                raise PolicyError(f"statement element {unsupported} is not evaluated")
        for key in ("Action", "Resource"):
            for value in _as_list(raw.get(key)):
                if not isinstance(value, str):
                    raise PolicyError(f"{key} {value!r} is not a resolved string")
        return cls(
            effect=str(raw["Effect"]),
            actions=tuple(_as_list(raw["Action"])),
            resources=tuple(_as_list(raw["Resource"])),
            condition=raw.get("Condition"),
            sid=str(raw.get("Sid", "")),
        )

    def matches(self, request: Request) -> bool:
        return (
            any(_wildcard(a, request.action, ignore_case=True) for a in self.actions)
            and any(_wildcard(r, request.resource, ignore_case=False) for r in self.resources)
            and (not self.condition or _condition_holds(self.condition, request.context))
        )


@dataclass(frozen=True)
class Policy:
    """A principal's identity policy: its statements, evaluated as IAM does (explicit Deny
    wins, else any Allow, else an implicit deny)."""

    statements: tuple[Statement, ...]

    @classmethod
    def from_documents(cls, documents: Iterable[Mapping[str, Any]]) -> Policy:
        statements = tuple(
            Statement.parse(raw) for doc in documents for raw in _as_list(doc["Statement"])
        )
        return cls(statements)

    def allows(self, request: Request) -> bool:
        matched = [s for s in self.statements if s.matches(request)]
        if any(s.effect == "Deny" for s in matched):
            return False
        return any(s.effect == "Allow" for s in matched)

    def grants(self) -> list[Grant]:
        """Every (action, resource) pair an Allow statement names."""
        return [
            Grant(action, resource, statement.condition)
            for statement in self.statements
            if statement.effect == "Allow"
            for action in statement.actions
            for resource in statement.resources
        ]


def grant_used(grant: Grant, requests: Sequence[Request]) -> bool:
    """Whether some allowed request needed this grant (its action, resource and condition)."""
    statement = Statement("Allow", (grant.action,), (grant.resource,), grant.condition)
    return any(statement.matches(request) for request in requests)

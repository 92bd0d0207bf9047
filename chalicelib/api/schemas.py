"""Schema objects: each request's shape defined once, to validate it and to describe it.

`NEW_VIDEO.check(body)` is what a route's validator calls (every failure a 400 whose details
name the field); `NEW_VIDEO.describe()` is the JSON Schema (2020-12, the dialect of OpenAPI 3.1)
that `chalicelib.api.openapi` publishes. Both read the same limits, enums and character rules,
so the published contract cannot say something the validation does not do. Response shapes are
described in `openapi.py` only; the contract tests hold the live responses to them.

Standard library only, and cheap to import: the API's validation imports this module on its
cold path (the OpenAPI document itself is built on first request).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.errors import ValidationError

# --- text ------------------------------------------------------------------------------------
# Characters no text field may hold: C0/C1 controls and DEL (NUL included), the bidirectional
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069: they make text display
# differently from what it is), and lone surrogates (a JSON "\ud800" escape decodes to one; it
# is not Unicode text, cannot be encoded as UTF-8, and DynamoDB refuses it).
_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f"
_CONTROLS_MULTILINE = "\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f"  # tab and newline allowed
_BIDI = "\\u202a-\\u202e\\u2066-\\u2069"
_SURROGATES = "\\ud800-\\udfff"
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# The same classes as regular expressions: Python's for checking, and (without the surrogates,
# which a JSON document cannot carry as text) ECMA-262's for the published `pattern`.
_FORBIDDEN_TEXT = re.compile(f"[{_CONTROLS}{_BIDI}{_SURROGATES}]")
_FORBIDDEN_MULTILINE = re.compile(f"[{_CONTROLS_MULTILINE}{_BIDI}{_SURROGATES}]")


def check_text(value: str, field: str, *, multiline: bool = False) -> None:
    """400 naming `field` unless `value` is valid Unicode text without control characters or
    bidirectional overrides (`multiline` text may hold tab and newline)."""
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_TEXT).search(value)
    if found is None:
        return
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        problem, reason = "is not valid Unicode (a lone surrogate)", "InvalidUnicode"
    elif char in BIDI_CONTROLS:
        problem, reason = "contains a bidirectional control character", "BidiControl"
    else:
        problem, reason = "contains a control character", "ControlCharacter"
    raise ValidationError(
        f"{field} {problem}",
        details={
            "field": field,
            "reason": reason,
            "position": found.start(),
            "codePoint": f"U+{ord(char):04X}",
        },
    )


def _text_pattern(*, multiline: bool, non_blank: bool) -> str:
    """The published `pattern` of a text field: no forbidden character (and, when non-blank,
    at least one that is not white space)."""
    allowed = f"[^{_CONTROLS_MULTILINE if multiline else _CONTROLS}{_BIDI}]"
    if not non_blank:
        return f"^{allowed}*$"
    visible = f"[^\\s{_CONTROLS}{_BIDI}]"
    return f"^{allowed}*{visible}{allowed}*$"


def is_ascii_digits(raw: str) -> bool:
    """`str.isdigit` also accepts digits `int()` refuses (superscripts such as '²')."""
    return raw.isascii() and raw.isdigit()


_UNSET: Any = object()


class Schema:
    """A value's shape: `check` validates (raising the API's 400s), `describe` publishes."""

    def __init__(
        self,
        *,
        description: str = "",
        example: Any = _UNSET,
        default: Any = _UNSET,
        message: str = "",
    ) -> None:
        self.description = description
        self.example = example
        self.default = default
        self.message = message  # the 400's message when the value has the wrong form

    def invalid(self, field: str, fallback: str, **details: Any) -> ValidationError:
        return ValidationError(self.message or fallback, details={"field": field, **details})

    def check(self, value: Any, field: str) -> Any:
        raise NotImplementedError

    def parse_query(self, raw: str, field: str) -> Any:
        """A query-string value (always text) checked against this schema."""
        return self.check(raw, field)

    def _describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        out = self._describe()
        if self.description:
            out["description"] = self.description
        if self.default is not _UNSET:
            out["default"] = self.default
        if self.example is not _UNSET:
            out["examples"] = [self.example]
        return out


class Text(Schema):
    """A string: at most `max_length` characters; `non_blank`; no control or bidirectional
    characters unless `plain=False`; a `pattern` it must match whole; an `enum`."""

    def __init__(
        self,
        *,
        max_length: int,
        non_blank: bool = False,
        multiline: bool = False,
        plain: bool = True,
        pattern: str = "",
        strip: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.non_blank = non_blank
        self.multiline = multiline
        self.plain = plain
        self.pattern = pattern
        self._compiled = re.compile(pattern) if pattern else None
        self.strip = strip

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, str) or (self.non_blank and not value.strip()):
            kind = "a non-blank string" if self.non_blank else "a string"
            raise self.invalid(field, f"{field} must be {kind}")
        if len(value) > self.max_length:
            raise ValidationError(
                f"{field} exceeds {self.max_length} characters", details={"field": field}
            )
        if self.plain:
            check_text(value, field, multiline=self.multiline)
        if self._compiled is not None and not self._compiled.fullmatch(value):
            raise self.invalid(field, f"{field} must match {self.pattern}")
        return value.strip() if self.strip else value

    def _describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.non_blank:
            out["minLength"] = 1
        if self.pattern:
            out["pattern"] = f"^(?:{self.pattern})$"
        elif self.plain:
            out["pattern"] = _text_pattern(multiline=self.multiline, non_blank=self.non_blank)
        return out


class Choice(Schema):
    """One of a fixed set of strings."""

    def __init__(self, values: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values = tuple(values)

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, str) or value not in self.values:
            raise self.invalid(
                field,
                f"{field} must be one of {', '.join(self.values)}",
                allowed=list(self.values),
            )
        return value

    def _describe(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}


class Integer(Schema):
    """A whole number from `minimum` to `maximum` (JSON: not a boolean; 60.0 is 60)."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _range_error(self, field: str) -> ValidationError:
        return self.invalid(
            field, f"{field} must be an integer from {self.minimum} to {self.maximum}"
        )

    def check(self, value: Any, field: str) -> Any:
        # JSON Schema's integer is any number without a fraction: 60.0 is one (found by
        # fuzzing: the document accepted what the validation refused).
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._range_error(field)
        if not self.minimum <= value <= self.maximum:
            raise self._range_error(field)
        return value

    def parse_query(self, raw: str, field: str) -> Any:
        if not is_ascii_digits(raw) or len(raw) > 20:
            raise self._range_error(field)
        return self.check(int(raw), field)

    def _describe(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


class Number(Schema):
    """A finite number from `minimum` to `maximum`."""

    def __init__(self, *, minimum: float, maximum: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def check(self, value: Any, field: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.invalid(field, f"{field} must be a number")
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise self.invalid(field, f"{field} must be between {self.minimum} and {self.maximum}")
        return float(value)

    def parse_query(self, raw: str, field: str) -> Any:
        try:
            value = float(raw) if len(raw) <= 32 else math.nan
        except ValueError:
            raise self.invalid(field, f"{field} must be a number") from None
        return self.check(value, field)

    def _describe(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.minimum, "maximum": self.maximum}


class Array(Schema):
    """A list of `items`: `min_items` to `max_items` of them, `unique` when asked."""

    def __init__(
        self,
        items: Schema,
        *,
        min_items: int = 0,
        max_items: int,
        unique: bool = False,
        too_many: str = "",
        duplicates: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.items = items
        self.min_items = min_items
        self.max_items = max_items
        self.unique = unique
        self.too_many = too_many
        self.duplicates = duplicates

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, list) or len(value) < self.min_items:
            raise self.invalid(field, f"{field} must be a list of at least {self.min_items}")
        if len(value) > self.max_items:
            raise ValidationError(
                self.too_many or f"{field} holds at most {self.max_items} items",
                details={"field": field},
            )
        out = []
        for index, item in enumerate(value):
            try:
                out.append(self.items.check(item, f"{field}[{index}]"))
            except ValidationError as exc:
                if self.message:  # one message for the list as a whole
                    raise self.invalid(field, self.message) from None
                raise exc from None
        if self.unique and len({repr(v) for v in out}) != len(out):
            raise ValidationError(
                self.duplicates or f"{field} contains duplicates", details={"field": field}
            )
        return out

    def _describe(self) -> dict[str, Any]:
        out = {"type": "array", "items": self.items.describe(), "maxItems": self.max_items}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.unique:
            out["uniqueItems"] = True
        return out


class Object(Schema):
    """A JSON object with these `properties` (no others), `required` ones among them."""

    def __init__(
        self,
        properties: Mapping[str, Schema],
        *,
        required: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.properties = dict(properties)
        self.required = tuple(required)

    def check(self, value: Any, field: str = "body") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError(self.message or "request body must be a JSON object")
        unknown = sorted(set(value) - set(self.properties))
        if unknown:
            raise ValidationError("unknown fields", details={"unknownFields": unknown})
        out: dict[str, Any] = {}
        for name, schema in self.properties.items():
            if name in value:
                out[name] = schema.check(value[name], name)
            elif name in self.required:
                raise ValidationError(f"{name} is required", details={"field": name})
            elif schema.default is not _UNSET:
                out[name] = schema.default
        return out

    def _describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "properties": {k: s.describe() for k, s in self.properties.items()},
            "additionalProperties": False,
        }
        if self.required:
            out["required"] = list(self.required)
        return out


class Query:
    """A route's query parameters: these and no others (a typo must not silently widen a
    request), each checked from its text."""

    def __init__(self, params: Mapping[str, Schema]) -> None:
        self.params = dict(params)

    def check(self, raw: Mapping[str, str] | None) -> dict[str, Any]:
        given = dict(raw or {})
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise ValidationError(
                "unknown query parameters", details={"unknownParameters": unknown}
            )
        out: dict[str, Any] = {}
        for name, schema in self.params.items():
            if name in given:
                out[name] = schema.parse_query(given[name], name)
            elif schema.default is not _UNSET:
                out[name] = schema.default
        return out

    def describe(self) -> list[dict[str, Any]]:
        """OpenAPI parameter objects."""
        out = []
        for name, schema in self.params.items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema.describe(),
            }
            if schema.description:
                param["description"] = schema.description
            out.append(param)
        return out

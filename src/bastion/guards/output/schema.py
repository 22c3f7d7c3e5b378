"""Checking an answer against the request's ``response_format``.

``json_object`` needs a JSON object; ``json_schema`` needs JSON valid against
the schema (JSON Schema, any draft the ``jsonschema`` package knows; imported on
first use only, as most requests never ask for a schema). A fenced or wrapped
answer (```` ```json … ``` ````, or prose around one object) is repaired here
without asking the model again. Validators are compiled once per schema (a
bounded cache). A schema that is itself invalid is not checked (the provider
judges it), and a schema that does not resolve offline (a remote ``$ref``) is
treated the same way: nothing is fetched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_FENCE_RE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
MAX_ERRORS = 5


@dataclass(frozen=True, slots=True)
class SchemaResult:
    """``ok``; ``errors`` for a person (and for the repair prompt); ``text`` is the
    answer to send when a local repair (unwrapping) made it valid, else ``None``."""

    ok: bool
    errors: tuple[str, ...] = ()
    text: str | None = None


def wanted_schema(response_format: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
    """``("json_schema", schema)``, ``("json_object", None)`` or ``("", None)``."""
    if not response_format:
        return "", None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json_object", None
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return "json_schema", schema if isinstance(schema, dict) else {}
    return "", None


@lru_cache(maxsize=128)
def _validator(schema_json: str) -> Any:
    # jsonschema is imported lazily: it costs ~50 ms at start-up and few requests use it.
    import jsonschema
    from referencing import Registry

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    # An empty registry: a $ref to anything outside the schema fails instead of fetching.
    return cls(schema, registry=Registry())


def _candidates(text: str) -> list[str]:
    out = [text]
    m = _FENCE_RE.match(text)
    if m:
        out.append(m.group(1))
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last and (first > 0 or last < len(text) - 1):
        out.append(text[first:last + 1])
    return out


def _errors(validator: Any, value: Any) -> tuple[str, ...]:
    from referencing.exceptions import Unresolvable

    try:
        errs = sorted(validator.iter_errors(value), key=lambda e: list(e.path))[:MAX_ERRORS]
    except Unresolvable:
        return ()
    return tuple(
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}"
        for e in errs)


def check_json(text: str, kind: str, schema: dict[str, Any] | None) -> SchemaResult:
    """Check ``text`` for ``kind`` (see :func:`wanted_schema`)."""
    if not kind:
        return SchemaResult(True)
    validator = _validator(json.dumps(schema, sort_keys=True)) if schema else None
    first_errors: tuple[str, ...] = ()
    parse_error: tuple[str, ...] = ()
    for i, candidate in enumerate(_candidates(text)):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as exc:
            parse_error = parse_error or (f"(root): not valid JSON ({exc.msg})",)
            continue
        if kind == "json_object" and not isinstance(value, dict):
            first_errors = first_errors or ("(root): the answer must be a JSON object",)
            continue
        errs = _errors(validator, value) if validator is not None else ()
        if not errs:
            return SchemaResult(True, (), candidate if i else None)
        first_errors = first_errors or errs
    return SchemaResult(False, first_errors or parse_error or ("(root): the answer is empty",))

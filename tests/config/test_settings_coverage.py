"""Every setting the config accepts is accounted for in ``settings_coverage.py``: proven
by a named test that exists, or pending under an open issue."""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bastion.config.settings import Settings

from .settings_coverage import PENDING, PROVEN

REPO = Path(__file__).resolve().parents[2]


def _models_in(tp: Any) -> list[tuple[str, type[BaseModel]]]:
    """The settings models inside a field's type, with the path segment that reaches them."""
    origin = typing.get_origin(tp)
    if origin is None:
        return [("", tp)] if isinstance(tp, type) and issubclass(tp, BaseModel) else []
    args = typing.get_args(tp)
    if origin is dict:
        return [(".*" + s, m) for s, m in _models_in(args[1])]
    if origin in (list, tuple):
        return [("[]" + s, m) for s, m in _models_in(args[0])]
    return [x for a in args for x in _models_in(a)]


def setting_paths(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    """Every leaf field of ``model``, as ``a.b``, ``providers.*.type``, ``targets[].target``."""
    for name, field in model.model_fields.items():
        inner = _models_in(field.annotation)
        if not inner:
            yield prefix + name
        for suffix, sub in inner:
            yield from setting_paths(sub, f"{prefix}{name}{suffix}.")


def test_the_walk_sees_nested_and_mapped_fields() -> None:
    paths = set(setting_paths())
    assert {"server.port", "providers.*.fake.faults[].kind", "traffic.users.*.rpm",
            "models.*.targets[].price.input_per_mtok"} <= paths
    assert "providers" not in paths  # sections are not leaves


def test_every_setting_is_accounted_for() -> None:
    paths = set(setting_paths())
    registered = set(PROVEN) | set(PENDING)
    missing = sorted(paths - registered)
    assert not missing, ("settings with no proving test: add a test that sets each to a "
                         "value other than its default and shows the gateway then behaves "
                         f"differently, and register it in PROVEN: {missing}")
    stale = sorted(registered - paths)
    assert not stale, f"registered settings that no longer exist: {stale}"
    overlap = set(PROVEN) & set(PENDING)
    assert not overlap, f"settings in both lists: {sorted(overlap)}"


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")}


def test_every_proof_names_a_test_that_exists() -> None:
    cache: dict[str, set[str]] = {}
    for setting, ref in PROVEN.items():
        file, _, func = ref.partition("::")
        path = REPO / file
        assert path.is_file(), f"{setting}: {file} does not exist"
        names = cache.setdefault(file, _test_names(path))
        assert func in names, f"{setting}: {file} has no test named {func}"


def test_pending_settings_name_an_issue() -> None:
    for setting, issue in PENDING.items():
        assert isinstance(issue, int)
        assert issue > 8, setting

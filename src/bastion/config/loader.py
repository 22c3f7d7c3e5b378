"""Loading the settings: YAML file, environment overrides, built-in defaults.

``load_settings`` returns a validated :class:`Settings` or raises
:class:`ConfigError`, whose ``problems`` name the path and the line of every
key that is wrong, so ``bastion check-config`` can say exactly what to fix.

Environment overrides: ``BASTION__SECTION__KEY=value`` sets ``section.key``
(values are read as YAML scalars, so ``8080``, ``true`` and ``[a, b]`` work).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bastion.config.settings import Settings, SettingsError

ENV_PREFIX = "BASTION__"

# Providers set up automatically from the environment when no config file names any.
_ENV_PROVIDERS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("OPENAI_API_KEY", "openai", {"chat": "gpt-4o-mini", "gpt-4o-mini": "gpt-4o-mini",
                                  "gpt-4o": "gpt-4o", "gpt-4.1-mini": "gpt-4.1-mini"}),
    ("ANTHROPIC_API_KEY", "anthropic", {"chat": "claude-haiku-4-5",
                                        "claude-haiku-4-5": "claude-haiku-4-5",
                                        "claude-sonnet-4-5": "claude-sonnet-4-5"}),
    ("GEMINI_API_KEY", "gemini", {"chat": "gemini-2.5-flash",
                                  "gemini-2.5-flash": "gemini-2.5-flash"}),
    ("MISTRAL_API_KEY", "mistral", {"chat": "mistral-small-latest",
                                    "mistral-small-latest": "mistral-small-latest"}),
    ("GROQ_API_KEY", "groq", {"chat": "llama-3.1-8b-instant",
                              "llama-3.1-8b-instant": "llama-3.1-8b-instant"}),
)
_COMPATIBLE_URLS = {
    "mistral": "https://api.mistral.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
}
_EMBED_MODELS = {"openai": "text-embedding-3-small", "gemini": "text-embedding-004"}


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """The configuration is not valid; ``problems`` says what and where."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration{f' in {source}' if source else ''}:\n{lines}")


def _line_map(node: yaml.Node, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = (*path, str(k.value))
            out[key] = k.start_mark.line + 1
            _line_map(v, key, out)
            out[key] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_map(v, (*path, str(i)), out)


def _parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        line = mark.line + 1 if mark is not None else None
        where = f" at column {mark.column + 1}" if mark is not None else ""
        what = ", ".join(p for p in (e.context, e.problem) if p)
        raise ConfigError([Problem("", f"not valid YAML: {what}{where}", line)],
                          source) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem("", f"not valid YAML: {e}")], source) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the file must hold a mapping of settings", 1)], source)
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _line_map(node, (), lines)
    return data, lines


def _set_path(data: dict[str, Any], path: list[str], value: Any) -> None:
    cur = data
    for part in path[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[path[-1]] = value


def env_override_paths(env: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Each ``BASTION__A__B`` variable in ``env`` by the settings path it sets, ``(a, b)``."""
    out = {}
    for name in sorted(env):
        if name.startswith(ENV_PREFIX):
            path = tuple(p.lower() for p in name[len(ENV_PREFIX):].split("__") if p)
            if path:
                out[path] = name
    return out


def apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Apply ``BASTION__A__B=value`` overrides onto ``data`` (in place) and return it."""
    for path, name in env_override_paths(env).items():
        raw = env[name]
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        _set_path(data, list(path), value)
    return data


def default_routes(env: Mapping[str, str]) -> dict[str, Any]:
    """Providers and aliases for every provider key present; the fake provider if none."""
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for var, name, aliases in _ENV_PROVIDERS:
        if not env.get(var):
            continue
        ptype = "openai_compatible" if name in _COMPATIBLE_URLS else name
        p: dict[str, Any] = {"type": ptype, "api_key": f"env:{var}"}
        if name in _COMPATIBLE_URLS:
            p["base_url"] = _COMPATIBLE_URLS[name]
        providers[name] = p
        for alias, model in aliases.items():
            models.setdefault(alias, {"targets": [f"{name}/{model}"]})
        if name in _EMBED_MODELS:
            models.setdefault(
                "embeddings", {"targets": [f"{name}/{_EMBED_MODELS[name]}"], "kind": "embeddings"}
            )
    if not providers:
        providers["fake"] = {"type": "fake"}
        for alias in ("chat", "gpt-4o-mini", "claude-haiku-4-5"):
            models[alias] = {"targets": [f"fake/{alias}"]}
        models["embeddings"] = {"targets": ["fake/embed"], "kind": "embeddings"}
    return {"providers": providers, "models": models}


def _problems(err: ValidationError, lines: dict[tuple[str, ...], int],
              from_env: Mapping[tuple[str, ...], str]) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = tuple(str(p) for p in e["loc"])
        msg = e["msg"]
        cause = e.get("ctx", {}).get("error")
        if isinstance(cause, SettingsError):  # a cross-field check that knows its place
            loc = (*loc, *(str(p) for p in cause.loc))
        if isinstance(cause, ValueError):  # our validators' own words, without "Value error, "
            msg = str(cause)
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and where it sits)"
        elif e["type"] == "missing":
            msg = "this key is required"
        # The variable that set this path, or something inside it (a mapping set as a scalar).
        var = next((v for p, v in from_env.items()
                    if loc and (loc[:len(p)] == p or p[:len(loc)] == loc)), None)
        if var is not None:  # the value came from the environment, not from the file
            msg, line = f"{msg} (set by the environment variable {var})", None
        out.append(Problem(".".join(loc), msg, line))
    return out


def load_settings(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read ``path`` (or ``bastion.yaml`` if present, else defaults), apply env, validate."""
    env = os.environ if env is None else env
    source = ""
    data: dict[str, Any] = {}
    lines: dict[tuple[str, ...], int] = {}
    if path is None and Path("bastion.yaml").is_file():
        path = "bastion.yaml"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError([Problem("", f"cannot read the file: {e}")], source) from None
        data, lines = _parse_yaml(text, source)
    apply_env_overrides(data, env)
    if not data.get("providers") and not data.get("models"):
        data.update(default_routes(env))
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_problems(e, lines, env_override_paths(env)), source) from None

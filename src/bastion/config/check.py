"""Start-up checks of a valid config that the schema cannot make: provider key
references that will not resolve. ``bastion check-config`` and ``bastion serve``
print them as warnings (``check-config --strict`` fails on them).

Only local references are checked (``env:`` variables and ``file:`` paths): remote
ones (``aws-sm:``, ``vault:``) would need the network and their credentials at
check time, and are read on first use instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from bastion.config.settings import Settings


def _problem(ref: str, env: Mapping[str, str]) -> str | None:
    scheme, _, locator = ref.partition(":")
    if scheme == "env" and not env.get(locator):
        return f"the environment variable {locator} is not set"
    if scheme == "file" and not os.access(locator, os.R_OK):
        return f"the file {locator} cannot be read"
    return None


def secret_warnings(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """One sentence per secret reference that cannot be resolved now."""
    env = os.environ if env is None else env
    out = []
    for name, p in settings.providers.items():
        if p.api_key and (why := _problem(p.api_key, env)):
            out.append(f"providers.{name}.api_key ({p.api_key}): {why}; calls to this "
                       "provider will fail until it is.")
    return out


def master_key_problem(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """Why the admin API is off (no reference, or one that does not resolve), or ``None``."""
    ref = settings.admin.master_key
    if not ref:
        return "admin.master_key is not set"
    return _problem(ref, os.environ if env is None else env)

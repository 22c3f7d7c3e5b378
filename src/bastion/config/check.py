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

# Secret references of the cloud providers (bedrock, vertex), checked like api_key.
CREDENTIAL_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                     "credentials")


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
        for field in ("api_key", *CREDENTIAL_FIELDS):
            ref = getattr(p, field)
            if ref and (why := _problem(ref, env)):
                out.append(f"providers.{name}.{field} ({ref}): {why}; calls to this "
                           "provider will fail until it is.")
    return out


def master_key_problem(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """Why the admin API is off (no reference, or one that does not resolve), or ``None``."""
    ref = settings.admin.master_key
    if not ref:
        return "admin.master_key is not set"
    return _problem(ref, os.environ if env is None else env)

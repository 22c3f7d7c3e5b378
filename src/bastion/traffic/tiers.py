"""Provider capacity: explicit limits in config, else the published tier presets.

``data/tiers.yaml`` maps provider type → tier → model-name prefix → limits
(``rpm``, ``tpm``, ``itpm``, ``otpm``, ``rpd``). A target's capacity comes from
its own ``limits`` (explicit numbers, else its ``tier``, else the provider's
``tier``, matched on the model name). The provider's explicit ``rpm``/``tpm``
are a cap on the whole provider, all its models together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from bastion.config.settings import Limits, ProviderSettings, Settings, TargetSettings

FIELDS = ("rpm", "tpm", "itpm", "otpm", "rpd")
# field -> (unit counted, window in seconds; None = traffic.window_s)
UNITS: dict[str, tuple[str, float | None]] = {
    "rpm": ("requests", None), "tpm": ("tokens", None), "itpm": ("input", None),
    "otpm": ("output", None), "rpd": ("requests", 86400.0),
}


@cache
def builtin_tiers() -> dict[str, Any]:
    raw = resources.files("bastion").joinpath("data/tiers.yaml").read_text()
    data = yaml.safe_load(raw)
    assert isinstance(data, dict)
    return data


def preset(provider_type: str, tier: str, model: str) -> dict[str, int]:
    """The published limits of ``model`` at ``tier``; {} when the table has no such model.

    Raises ``ValueError`` for a tier the table does not know for that provider type."""
    tiers = builtin_tiers().get(provider_type)
    if not tiers or tier not in tiers:
        known = ", ".join(sorted(tiers)) if tiers else "none"
        raise ValueError(f"unknown tier {tier!r} for provider type {provider_type!r} "
                         f"(known: {known})")
    models: dict[str, dict[str, int]] = tiers[tier] or {}
    best = max((p for p in models if model.startswith(p)), key=len, default=None)
    return dict(models[best]) if best else {}


@dataclass(frozen=True, slots=True)
class Capacity:
    """Limits of one counter scope: field -> limit (``rpm``, ``tpm``, …)."""

    scope: str  # "t:<provider/model>" or "p:<provider>"
    limits: tuple[tuple[str, int], ...]


def _explicit(limits: Limits | None) -> dict[str, int]:
    if limits is None:
        return {}
    return {k: v for k, v in (("rpm", limits.rpm), ("tpm", limits.tpm)) if v is not None}


def target_capacity(ps: ProviderSettings, t: TargetSettings) -> dict[str, int]:
    """The per-target limits of ``t`` (explicit numbers over the tier preset)."""
    tier = (t.limits.tier if t.limits else None) or ps.limits.tier
    out = preset(ps.type, tier, t.model) if tier else {}
    out.update(_explicit(t.limits))
    return out


def capacities(settings: Settings) -> dict[str, list[Capacity]]:
    """target name -> the capacity scopes it counts against (its own, its provider's).

    A target used by several aliases with different limits gets the tightest."""
    per_target: dict[str, dict[str, int]] = {}
    for alias in settings.models.values():
        for t in alias.targets:
            ps = settings.providers[t.provider]
            caps = target_capacity(ps, t)
            have = per_target.setdefault(t.target, {})
            for k, v in caps.items():
                have[k] = min(v, have.get(k, v))
    out: dict[str, list[Capacity]] = {}
    for name, caps in per_target.items():
        provider = name.split("/", 1)[0]
        scopes = []
        if caps:
            scopes.append(Capacity("t:" + name, tuple(sorted(caps.items()))))
        prov = _explicit(settings.providers[provider].limits)
        if prov:
            scopes.append(Capacity("p:" + provider, tuple(sorted(prov.items()))))
        if scopes:
            out[name] = scopes
    return out

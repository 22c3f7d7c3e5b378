"""Provider capacity from config: explicit limits, tier presets, provider-wide caps."""

from __future__ import annotations

import pytest

from bastion.config.settings import Settings
from bastion.traffic.tiers import builtin_tiers, capacities, preset


def test_published_presets_by_model_prefix() -> None:
    assert preset("openai", "tier-1", "gpt-4o-mini-2024-07-18") == {"rpm": 500, "tpm": 200000}
    assert preset("openai", "tier-1", "gpt-4o") == {"rpm": 500, "tpm": 30000}
    assert preset("anthropic", "tier-1", "claude-sonnet-4-5")["rpm"] == 50
    assert preset("gemini", "free", "gemini-2.5-flash")["rpd"] == 250
    assert preset("gemini", "paid", "gemini-2.5-pro") == preset("gemini", "tier-1",
                                                                "gemini-2.5-pro")
    assert preset("openai", "tier-3", "some-new-model") == {}


def test_every_tier_the_issue_names_is_there() -> None:
    tiers = builtin_tiers()
    assert set(tiers["openai"]) >= {"free", "tier-1", "tier-2", "tier-3", "tier-4", "tier-5"}
    assert set(tiers["anthropic"]) >= {"tier-1", "tier-2", "tier-3", "tier-4"}
    assert set(tiers["gemini"]) >= {"free", "paid"}
    for by_tier in tiers.values():
        for models in by_tier.values():
            for limits in models.values():
                assert set(limits) <= {"rpm", "tpm", "itpm", "otpm", "rpd"}
                assert all(isinstance(v, int) and v > 0 for v in limits.values())


def test_unknown_tier_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown tier 'tier-9'"):
        preset("openai", "tier-9", "gpt-4o")


def test_capacities_from_config() -> None:
    s = Settings.model_validate({
        "providers": {
            "openai": {"type": "openai", "api_key": "env:K", "limits": {"tier": "tier-1"}},
            "local": {"type": "openai_compatible", "base_url": "http://x",
                      "limits": {"rpm": 100}},
        },
        "models": {
            "a": {"targets": ["openai/gpt-4o-mini",
                              {"target": "openai/gpt-4o", "limits": {"rpm": 20}},
                              "local/llama"]},
            "b": {"targets": [{"target": "openai/gpt-4o-mini", "limits": {"tpm": 1000}}]},
        },
    })
    caps = {t: [(c.scope, dict(c.limits)) for c in cs] for t, cs in capacities(s).items()}
    # the tightest of the aliases' views of one target
    assert caps["openai/gpt-4o-mini"] == [("t:openai/gpt-4o-mini", {"rpm": 500, "tpm": 1000})]
    assert caps["openai/gpt-4o"] == [("t:openai/gpt-4o", {"rpm": 20, "tpm": 30000})]
    # a provider's explicit numbers cap the whole provider
    assert caps["local/llama"] == [("p:local", {"rpm": 100})]

"""Prices in USD per million tokens, from ``data/prices.json`` or a target's config."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from bastion.config.settings import Price


@cache
def builtin_prices() -> dict[str, Price]:
    raw = json.loads(resources.files("bastion").joinpath("data/prices.json").read_text())
    return {
        k: Price(input_per_mtok=v[0], output_per_mtok=v[1])
        for k, v in raw.items() if not k.startswith("_")
    }


def price_for(model: str, override: Price | None = None) -> Price:
    """The configured price, else the built-in one (longest matching model prefix), else 0."""
    if override is not None:
        return override
    table = builtin_prices()
    if model in table:
        return table[model]
    best = max((k for k in table if model.startswith(k)), key=len, default=None)
    return table[best] if best else Price()


def cost_usd(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6

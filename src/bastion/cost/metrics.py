"""Metrics of cost-aware routing and context trimming, on the gateway's registry.

Label values are bounded: aliases come from the config, choices and reasons from
fixed lists (:data:`bastion.cost.rules.REASONS`, :data:`bastion.cost.trim.MODES`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CostMetrics:
    """``bastion_auto_route``, ``bastion_context_trimmed``, ``…_trimmed_tokens`` and
    ``bastion_context_system_prompt_over_share``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.auto_route = Counter(
            "bastion_auto_route", "Requests to an auto alias by the alias picked and why",
            ["alias", "choice", "reason"], registry=registry)
        self.trimmed = Counter(
            "bastion_context_trimmed", "Requests whose oldest turns were dropped or summarised",
            ["alias", "mode"], registry=registry)
        self.trimmed_tokens = Counter(
            "bastion_context_trimmed_tokens", "Prompt tokens removed by context trimming",
            ["alias"], registry=registry)
        self.system_over_share = Counter(
            "bastion_context_system_prompt_over_share",
            "Requests whose system prompt alone is over the alias's warning share of its "
            "prompt budget", ["alias"], registry=registry)


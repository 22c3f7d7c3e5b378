"""Prometheus metrics, one registry per gateway (no module globals).

Requests and latency per alias/target/status, tokens, cost, upstream attempts and
failures, retries, fallbacks, degraded answers, breaker state and transitions,
capacity queue depth and wait, routing choices, experiment arms, prompt-cache share,
and the OpenTelemetry GenAI histograms (``gen_ai_client_*``,
``gen_ai_server_time_to_first_token_seconds``). Label values are bounded: aliases,
targets and models come from the config, never from the client.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# The OpenTelemetry GenAI conventions' advised buckets (see bastion.observe.genai).
GENAI_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                          20.48, 40.96, 81.92)
GENAI_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                       16777216, 67108864)
GENAI_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
                      2.5, 5.0, 7.5, 10.0)
_GENAI = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("bastion_requests", "Requests by alias, target and status",
                                ["alias", "target", "status", "code"], registry=r)
        self.latency = Histogram("bastion_request_seconds", "Request latency",
                                 ["alias", "target"], buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("bastion_tokens", "Tokens by alias, target and direction",
                              ["alias", "target", "direction"], registry=r)
        self.cost = Counter("bastion_cost_usd", "Spend in USD", ["alias", "target"], registry=r)
        self.upstream_failures = Counter(
            "bastion_upstream_failures", "Failed upstream attempts",
            ["provider", "target", "error"], registry=r)
        self.fallbacks = Counter("bastion_fallbacks", "Requests served by a later target",
                                 ["alias"], registry=r)
        self.retries = Counter("bastion_retries", "Upstream retries", ["target"], registry=r)
        self.degraded = Counter("bastion_degraded", "Degraded answers", ["alias", "mode"],
                                registry=r)
        self.breaker_state = Gauge("bastion_breaker_state",
                                   "Circuit breaker state (0 closed, 1 half-open, 2 open)",
                                   ["target"], registry=r)
        self.queue_depth = Gauge("bastion_queue_depth", "Requests waiting for capacity",
                                 ["target"], registry=r)
        self.queue_wait = Histogram("bastion_queue_wait_seconds", "Time spent in the queue",
                                    ["target"], buckets=LATENCY_BUCKETS, registry=r)
        self.breaker_transitions = Counter(
            "bastion_breaker_transitions", "Circuit breaker state changes",
            ["target", "state"], registry=r)
        self.breaker_rejections = Counter(
            "bastion_breaker_rejections", "Attempts skipped because the breaker was open",
            ["target"], registry=r)
        self.upstream_latency = Histogram(
            "bastion_upstream_seconds", "Upstream attempt latency (to the answer or first chunk)",
            ["target", "outcome"], buckets=LATENCY_BUCKETS, registry=r)
        self.retry_budget_exhausted = Counter(
            "bastion_retry_budget_exhausted", "Retries not made because the budget was spent",
            ["target"], registry=r)
        self.stream_breaks = Counter(
            "bastion_stream_breaks", "Streams ended with an error after their first chunk",
            ["target", "reason"], registry=r)
        self.genai_duration = Histogram(
            "gen_ai_client_operation_duration_seconds", "GenAI operation duration (per "
            "upstream attempt; streams to their end)", [*_GENAI, "error_type"],
            buckets=GENAI_DURATION_BUCKETS, registry=r)
        self.genai_tokens = Histogram(
            "gen_ai_client_token_usage", "Tokens per GenAI operation", [*_GENAI,
                                                                        "gen_ai_token_type"],
            buckets=GENAI_TOKEN_BUCKETS, registry=r)
        self.genai_ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds", "Time to the first streamed chunk",
            _GENAI, buckets=GENAI_TTFT_BUCKETS, registry=r)
        # Routing (bastion.routing): the target each request's strategy chose first, the
        # arms of A/B experiments, the share of prompt tokens the provider served from
        # its prompt cache (cumulative in this process; tokens{direction="cached"} too).
        self.routed = Counter("bastion_routed", "Requests by the target routing chose first",
                              ["alias", "target", "strategy"], registry=r)
        self.experiment_requests = Counter(
            "bastion_experiment_requests", "Requests of an A/B experiment by arm",
            ["alias", "experiment", "arm"], registry=r)
        self.cached_share = Gauge(
            "bastion_cached_token_share",
            "Share of prompt tokens read from the provider's prompt cache", ["alias"],
            registry=r)
        self.usage_dropped = Counter("bastion_usage_rows_dropped",
                                     "Usage rows dropped because the writer fell behind",
                                     registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

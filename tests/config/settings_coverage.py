"""Which test proves each setting changes behaviour: the settings-coverage registry.

Every field of :class:`bastion.config.settings.Settings` (``*`` for a mapping's
entries, ``[]`` for a list's items) is in exactly one of:

* ``PROVEN``: the test (``file::function``) that shows the field changes behaviour;
* ``PENDING``: fields whose behaviour an open issue (the number) is building now;
* ``GAPS``: fields that do something but have no proving test yet: debt to pay, never
  to grow (``test_settings_coverage.py`` fails on a new field in no list).

A new setting gets its proving test and a ``PROVEN`` entry in the same change.
"""

from __future__ import annotations

PROVEN: dict[str, str] = {
    "admin.master_key":
        "tests/core/test_keys.py::test_admin_without_a_configured_master_key_refuses_everything",
    "state.database":
        "tests/stores/test_migrations.py::test_without_auto_migrate_a_behind_database_is_refused_until_upgraded",
    "state.redis":
        "tests/cache/test_cache_redis.py::test_two_gateways_share_one_redis_cache",
    "state.key_cache_ttl_s":
        "tests/core/test_cli.py::test_cli_keys_work_on_the_gateway_and_rotate",
    "state.auto_migrate":
        "tests/stores/test_migrations.py::test_without_auto_migrate_a_behind_database_is_refused_until_upgraded",
    "server.max_body_bytes":
        "tests/api/test_openai_door.py::test_oversized_body_gets_413",
    "providers.*.type":
        "tests/providers/test_openai_adapter.py::test_unreadable_key_falls_back",
    "providers.*.base_url":
        "tests/providers/test_openai_adapter.py::test_unreadable_key_falls_back",
    "providers.*.api_key":
        "tests/providers/test_openai_adapter.py::test_unreadable_key_falls_back",
    "providers.*.api_version":
        "tests/providers/test_anthropic_adapter.py::test_api_version_and_extra_headers",
    "providers.*.headers":
        "tests/providers/test_anthropic_adapter.py::test_api_version_and_extra_headers",
    "providers.*.limits.rpm":
        "tests/traffic/test_traffic_tiers.py::test_capacities_from_config",
    "providers.*.limits.tpm":
        "tests/traffic/test_traffic_tiers.py::test_capacities_from_config",
    "providers.*.limits.tier":
        "tests/traffic/test_traffic_tiers.py::test_capacities_from_config",
    "providers.*.timeout_ms.connect":
        "tests/resilience/test_resilience_route.py::test_hanging_primary_answers_from_the_secondary_within_the_first_byte_timeout",
    "providers.*.timeout_ms.first_byte":
        "tests/resilience/test_resilience_route.py::test_advice_longer_than_the_deadline_fails_fast",
    "providers.*.timeout_ms.total":
        "tests/resilience/test_resilience_route.py::test_advice_longer_than_the_deadline_fails_fast",
    "providers.*.key_ttl_s":
        "tests/config/test_config_key_rotation.py::test_file_secret_rotates_after_ttl",
    "providers.*.region":
        "tests/providers/test_bedrock_adapter.py::test_region_scopes_the_signature_and_the_endpoint",
    "providers.*.aws_access_key_id":
        "tests/providers/test_bedrock_adapter.py::test_session_token_reference",
    "providers.*.aws_secret_access_key":
        "tests/providers/test_bedrock_adapter.py::test_wrong_secret_is_refused_by_the_signature_check",
    "providers.*.aws_session_token":
        "tests/providers/test_bedrock_adapter.py::test_session_token_reference",
    "providers.*.project":
        "tests/providers/test_vertex_adapter.py::test_project_and_location_make_the_url",
    "providers.*.location":
        "tests/providers/test_vertex_adapter.py::test_project_and_location_make_the_url",
    "providers.*.credentials":
        "tests/providers/test_vertex_adapter.py::test_a_key_google_does_not_know_is_refused",
    "telemetry.capture_content":
        "tests/observe/test_tracing_otlp.py::test_genai_content_only_when_the_operator_opts_in",
    "telemetry.content_max_chars":
        "tests/observe/test_tracing_otlp.py::test_genai_content_only_when_the_operator_opts_in",
    "providers.*.fake.chunk_chars":
        "tests/api/test_responses.py::test_stream_broken_midway_ends_with_response_failed",
    "providers.*.fake.faults[].kind":
        "tests/api/test_responses.py::test_stream_broken_midway_ends_with_response_failed",
    "models.*.targets[].target":
        "tests/api/test_moderations.py::test_timeout_ms_bounds_the_provider_call",
    "models.*.targets[].price.input_per_mtok":
        "tests/traffic/test_traffic_budget.py::test_two_hundred_concurrent_requests_never_overspend",
    "models.*.targets[].price.output_per_mtok":
        "tests/traffic/test_traffic_budget.py::test_two_hundred_concurrent_requests_never_overspend",
    "models.*.targets[].timeout_ms.connect":
        "tests/resilience/test_resilience_route.py::test_hanging_primary_answers_from_the_secondary_within_the_first_byte_timeout",
    "models.*.targets[].timeout_ms.first_byte":
        "tests/resilience/test_resilience_route.py::test_advice_longer_than_the_deadline_fails_fast",
    "models.*.targets[].timeout_ms.total":
        "tests/resilience/test_resilience_route.py::test_advice_longer_than_the_deadline_fails_fast",
    "models.*.targets[].limits.rpm":
        "tests/traffic/test_traffic_tiers.py::test_capacities_from_config",
    "models.*.targets[].limits.tpm":
        "tests/traffic/test_traffic_tiers.py::test_capacities_from_config",
    "models.*.targets[].limits.tier":
        "tests/traffic/test_traffic_tiers.py::test_capacities_from_config",
    "models.*.timeout_ms.connect":
        "tests/resilience/test_resilience_route.py::test_hanging_primary_answers_from_the_secondary_within_the_first_byte_timeout",
    "models.*.timeout_ms.first_byte":
        "tests/resilience/test_resilience_route.py::test_advice_longer_than_the_deadline_fails_fast",
    "models.*.timeout_ms.total":
        "tests/resilience/test_resilience_route.py::test_advice_longer_than_the_deadline_fails_fast",
    "models.*.kind":
        "tests/api/test_openai_door.py::test_alias_kind_must_match_the_endpoint",
    "models.*.traffic.queue_timeout_ms":
        "tests/traffic/test_traffic_capacity.py::test_burst_of_three_times_rpm_never_exceeds_the_provider_limit",
    "models.*.cache.enabled":
        "tests/cache/test_cache_exact.py::test_alias_settings_on_and_off",
    "models.*.cache.ttl_s":
        "tests/cache/test_cache_exact.py::test_stale_answer_when_every_target_fails",
    "models.*.cache.stale_ttl_s":
        "tests/cache/test_cache_exact.py::test_stale_answer_when_every_target_fails",
    "models.*.cache.scope":
        "tests/cache/test_cache_exact.py::test_key_scope_and_global_scope",
    "models.*.cache.semantic.threshold":
        "tests/cache/test_cache_semantic.py::test_local_model_paraphrase_and_negation",
    "models.*.cache.semantic.guard":
        "tests/cache/test_cache_semantic.py::test_without_the_guard_near_misses_would_hit",
    "models.*.resilience.retry.attempts_before_fallback":
        "tests/resilience/test_resilience_policies.py::test_policy_retries_only_what_is_worth_it",
    "models.*.resilience.degrade":
        "tests/cache/test_cache_exact.py::test_stale_answer_when_every_target_fails",
    "models.*.resilience.local_fallback":
        "tests/resilience/test_resilience_route.py::test_local_model_answers_when_the_cloud_is_down",
    "models.*.resilience.stream_idle_timeout_ms":
        "tests/api/test_client_disconnect.py::test_client_leaving_mid_stream_releases_everything",
    "traffic.window_s":
        "tests/traffic/test_traffic_capacity.py::test_burst_of_three_times_rpm_never_exceeds_the_provider_limit",
    "traffic.defaults.key.daily_tokens":
        "tests/traffic/test_traffic_budget.py::test_team_rpm_is_shared_by_its_keys_and_user_daily_tokens",
    "traffic.defaults.key.priority":
        "tests/traffic/test_traffic_capacity.py::test_priority_then_fifo",
    "traffic.defaults.user.daily_tokens":
        "tests/traffic/test_traffic_budget.py::test_team_rpm_is_shared_by_its_keys_and_user_daily_tokens",
    "traffic.defaults.user.priority":
        "tests/traffic/test_traffic_capacity.py::test_priority_then_fifo",
    "traffic.defaults.team.daily_tokens":
        "tests/traffic/test_traffic_budget.py::test_team_rpm_is_shared_by_its_keys_and_user_daily_tokens",
    "traffic.users.*.rpm":
        "tests/traffic/test_traffic_capacity.py::test_priority_then_fifo",
    "traffic.users.*.daily_tokens":
        "tests/traffic/test_traffic_budget.py::test_team_rpm_is_shared_by_its_keys_and_user_daily_tokens",
    "traffic.users.*.priority":
        "tests/traffic/test_traffic_capacity.py::test_priority_then_fifo",
    "traffic.teams.*.rpm":
        "tests/traffic/test_traffic_budget.py::test_team_rpm_is_shared_by_its_keys_and_user_daily_tokens",
    "traffic.teams.*.daily_tokens":
        "tests/traffic/test_traffic_budget.py::test_team_rpm_is_shared_by_its_keys_and_user_daily_tokens",
    "traffic.alerts.fraction":
        "tests/traffic/test_traffic_budget.py::test_budget_alert_fires_once",
    "traffic.alerts.webhook_url":
        "tests/traffic/test_traffic_budget.py::test_budget_alert_fires_once",
    "traffic.queue.max_depth":
        "tests/traffic/test_traffic_capacity.py::test_full_queue_and_hopeless_deadline_fail_fast",
    "traffic.redis_prefix":
        "tests/traffic/test_traffic_budget.py::test_two_hundred_concurrent_requests_never_overspend",
    "traffic.on_redis_error.budgets":
        "tests/traffic/test_traffic_redis_down.py::test_local_budgets_when_configured",
    "traffic.on_redis_error.timeout_ms":
        "tests/traffic/test_traffic_redis_down.py::test_a_hung_redis_costs_a_short_timeout_not_a_hang",
    "traffic.on_redis_error.retry_s":
        "tests/traffic/test_traffic_redis_down.py::test_a_hung_redis_costs_a_short_timeout_not_a_hang",
    "cache.backend":
        "tests/cache/test_cache_redis.py::test_two_gateways_share_one_redis_cache",
    "cache.max_entries":
        "tests/cache/test_cache_parts.py::test_memory_backend_bounds_and_ttl",
    "cache.max_bytes":
        "tests/cache/test_cache_parts.py::test_memory_backend_bounds_and_ttl",
    "cache.namespace":
        "tests/cache/test_cache_redis.py::test_two_gateways_share_one_redis_cache",
    "cache.postgres_url":
        "tests/cache/test_cache_semantic.py::test_pgvector_store_and_postgres_backend",
    "cache.semantic_store":
        "tests/cache/test_cache_semantic.py::test_pgvector_store_and_postgres_backend",
    "resilience.retry.attempts_before_fallback":
        "tests/resilience/test_resilience_policies.py::test_policy_retries_only_what_is_worth_it",
    "resilience.breaker.failure_threshold":
        "tests/resilience/test_resilience_route.py::test_failing_primary_opens_its_breaker_and_traffic_returns_after_recovery",
    "resilience.breaker.failure_rate":
        "tests/resilience/test_resilience_policies.py::test_breaker_failure_rate_over_the_window",
    "resilience.breaker.min_requests":
        "tests/resilience/test_resilience_policies.py::test_breaker_failure_rate_over_the_window",
    "resilience.breaker.window_s":
        "tests/resilience/test_resilience_policies.py::test_breaker_failure_rate_over_the_window",
    "resilience.breaker.cooldown_ms":
        "tests/resilience/test_resilience_route.py::test_failing_primary_opens_its_breaker_and_traffic_returns_after_recovery",
    "resilience.breaker.half_open_probes":
        "tests/resilience/test_resilience_policies.py::test_breaker_opens_on_consecutive_failures_and_recovers_through_a_probe",
    "resilience.stream_idle_timeout_ms":
        "tests/api/test_client_disconnect.py::test_client_leaving_mid_stream_releases_everything",
    "resilience.redis_prefix":
        "tests/resilience/test_resilience_breaker_redis.py::test_two_gateways_share_a_breaker_through_redis",
    "moderations.target":
        "tests/api/test_moderations.py::test_forwarded_to_the_configured_provider",
    "moderations.timeout_ms":
        "tests/api/test_moderations.py::test_timeout_ms_bounds_the_provider_call",
}

PENDING: dict[str, int] = {
    "guards.injection": 10,
    "guards.output": 10,
    "guards.pii": 11,
    "models.*.system_prompt": 10,
    "models.*.guards.injection": 10,
    "models.*.guards.output": 10,
    "models.*.guards.pii": 11,
    "models.*.review.min_confidence": 13,
    "models.*.review.action": 13,
    "providers.*.compliance.dpa": 11,
    "providers.*.compliance.baa": 11,
    "providers.*.compliance.trains_on_data": 11,
    "providers.*.compliance.retention_days": 11,
    "providers.*.compliance.regions": 11,
}

GAPS: frozenset[str] = frozenset({
    "resilience.breaker.enabled",
    "resilience.retry.max_attempts",
    "models.*.resilience.retry.max_attempts",
    "traffic.defaults.team.budget_usd",
    "traffic.defaults.team.tpm",
    "traffic.defaults.team.rpm",
    "traffic.defaults.user.budget_usd",
    "traffic.defaults.user.tpm",
    "traffic.defaults.user.rpm",
    "traffic.defaults.key.budget_usd",
    "traffic.defaults.key.tpm",
    "traffic.defaults.key.rpm",
    "server.port",
    "server.host",
    "state.replicas",
    "server.workers",
    "server.body_timeout_s",
    "logging.level",
    "logging.log_prompts",
    "logging.format",
    "providers.*.max_connections",
    "providers.*.fake.reply",
    "providers.*.fake.latency_ms",
    "providers.*.fake.faults[].status",
    "providers.*.fake.faults[].retry_after_s",
    "providers.*.fake.faults[].delay_ms",
    "providers.*.fake.faults[].times",
    "providers.*.fake.faults[].rate",
    "providers.*.fake.seed",
    "models.*.fallback_message",
    "models.*.traffic.default_output_tokens",
    "models.*.cache.semantic.embedder",
    "models.*.cache.semantic.max_chars",
    "models.*.resilience.retry.base_delay_ms",
    "models.*.resilience.retry.max_delay_ms",
    "models.*.resilience.retry.max_retry_after_ms",
    "traffic.enabled",
    "traffic.default_output_tokens",
    "traffic.key_budget_period",
    "traffic.defaults.key.monthly_tokens",
    "traffic.defaults.key.budget_period",
    "traffic.defaults.user.monthly_tokens",
    "traffic.defaults.user.budget_period",
    "traffic.defaults.team.monthly_tokens",
    "traffic.defaults.team.budget_period",
    "traffic.defaults.team.priority",
    "traffic.users.*.tpm",
    "traffic.users.*.monthly_tokens",
    "traffic.users.*.budget_usd",
    "traffic.users.*.budget_period",
    "traffic.teams.*.tpm",
    "traffic.teams.*.monthly_tokens",
    "traffic.teams.*.budget_usd",
    "traffic.teams.*.budget_period",
    "traffic.teams.*.priority",
    "traffic.alerts.webhook_timeout_ms",
    "traffic.queue.poll_ms",
    "traffic.on_redis_error.rate_limits",
    "traffic.tokenize_in_thread_chars",
    "traffic.estimate_over_chars",
    "traffic.hold_s",
    "cache.max_entry_bytes",
    "cache.redis_timeout_ms",
    "cache.semantic_max_entries",
    "resilience.retry.base_delay_ms",
    "resilience.retry.max_delay_ms",
    "resilience.retry.max_retry_after_ms",
    "resilience.retry.budget_ratio",
    "resilience.retry.budget_min_per_s",
    "resilience.breaker.max_open_ms",
    "resilience.redis_timeout_ms",
    "resilience.otlp_endpoint",
    "resilience.service_name",
})

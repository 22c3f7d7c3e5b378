"""One typed settings object, validated as a whole at start-up.

Every model forbids unknown keys; units are in key names; secrets are
references (``env:NAME``, ``file:/path``, ``aws-sm:name[#field]``,
``vault:path#field``), never literals.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from bastion.config.auth_settings import AuthSettings
from bastion.config.cache_settings import AliasCache, CacheSettings
from bastion.config.cloud_settings import CloudProviderFields
from bastion.config.cost_settings import AliasAuto, AliasContext, cost_problems
from bastion.config.guard_output_settings import (
    OutputGuard,
    ToolFirewall,
    moderation_provider_problems,
)
from bastion.config.guard_settings import (
    AliasInjection,
    ClientSystem,
    InjectionSettings,
    SystemPrompt,
    check_template,
)
from bastion.config.moderation_settings import ModerationSettings
from bastion.config.privacy_settings import AliasPrivacy, PrivacySettings
from bastion.config.resilience_settings import AliasResilience, ResilienceSettings
from bastion.config.review_settings import DashboardSettings, ReviewSettings
from bastion.config.routing_settings import (
    EXPERIMENT_NAME,
    Capability,
    RoutingStrategy,
    StickyMode,
    routing_problem,
)
from bastion.config.security_settings import AliasClientParams, SecuritySettings
from bastion.config.telemetry_settings import TelemetrySettings
from bastion.config.traffic_settings import AliasTraffic, TrafficSettings
from bastion.config.usage_settings import UsageSettings

_SECRET_REF = re.compile(r"^(env|file|aws-sm|vault):\S+$")


def _check_secret_ref(v: str) -> str:
    if not _SECRET_REF.match(v):
        raise ValueError(
            "secrets are referenced, never written inline: use env:NAME, file:/path, "
            "aws-sm:secret-id[#field] or vault:path#field"
        )
    return v


SecretRef = Annotated[str, AfterValidator(_check_secret_ref)]


class SettingsError(ValueError):
    """A cross-field problem that knows where it sits (``loc``, relative to the model that
    raised it), so the loader can name the path and the line."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AdminSettings(Strict):
    master_key: SecretRef | None = "env:BASTION_MASTER_KEY"


class StateSettings(Strict):
    database: str = "sqlite:///bastion.db"
    redis: str | None = None
    # replica count: local limits are divided by it when Redis is unreachable
    replicas: int = Field(1, ge=1)
    key_cache_ttl_s: float = Field(5.0, ge=0)
    # HMAC secret of virtual keys: a reference, so it is kept apart from the database
    # (unset: BASTION_KEY_HASH_SECRET, else one kept in the database; docs/security.md)
    key_hash_secret: SecretRef | None = None
    # While the database is unreachable, a key's last good record is used this long
    # past its cache TTL (0: never); a revocation made meanwhile applies once it is back.
    key_stale_s: float = Field(300.0, ge=0)
    # Apply pending schema migrations at start-up (under a lock); off: refuse to start
    # until `bastion db upgrade` has run.
    auto_migrate: bool = True


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=256)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # A request body must arrive within this many seconds of the headers (slow or stalled
    # clients get 408 and the connection is closed, so they cannot hold a worker's sockets).
    body_timeout_s: float = Field(30.0, gt=0, le=3600)
    # On SIGTERM, requests in flight may finish for about this long; then the rest are
    # cut (streams end with an error event) and the worker exits within it.
    shutdown_timeout_s: float = Field(10.0, ge=1, le=3600)


class LoggingSettings(Strict):
    # Prompt and answer text are never logged (there is no switch for it; the logging
    # pipeline drops such fields wherever they appear).
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Compliance(Strict):
    dpa: bool = False
    baa: bool = False
    trains_on_data: bool = False
    retention_days: int | None = None
    regions: list[str] = Field(default_factory=list)


class Limits(Strict):
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    tier: str | None = None


class Timeouts(Strict):
    connect: int = Field(2000, ge=1)
    first_byte: int = Field(30000, ge=1)
    total: int = Field(120000, ge=1)


class Price(Strict):
    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)


class FakeFault(Strict):
    """A fault the fake provider injects; see :mod:`bastion.providers.fake`."""

    kind: Literal[
        "status", "hang", "slow_first_byte", "malformed_json", "cut_stream", "connection_error"
    ]
    status: int = 500
    retry_after_s: float | None = None
    delay_ms: int = 0
    times: int | None = None  # None: every call
    rate: float = Field(1.0, ge=0, le=1)


class FakeSettings(Strict):
    reply: str | None = None  # fixed answer; default echoes the last user message
    latency_ms: int = 0
    chunk_chars: int = Field(8, ge=1)
    faults: list[FakeFault] = Field(default_factory=list)
    seed: int = 0


ProviderType = Literal["openai", "azure_openai", "anthropic", "gemini", "openai_compatible",
                      "bedrock", "vertex", "fake"]


class ProviderSettings(Strict, CloudProviderFields):  # bedrock/vertex fields: cloud_settings.py
    type: ProviderType
    base_url: str | None = None
    api_key: SecretRef | None = None
    api_version: str | None = None  # Azure OpenAI and Anthropic
    headers: dict[str, str] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    compliance: Compliance = Field(default_factory=Compliance)
    timeout_ms: Timeouts | None = None
    key_ttl_s: float | None = Field(None, gt=0, description="re-read the key this often")
    # calls in flight to this provider from one worker (a stream holds one until it ends)
    max_connections: int = Field(10_000, ge=1)
    max_response_bytes: int = Field(128 * 1024 * 1024, ge=1024, description="a whole answer")
    max_event_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="one stream event")
    fake: FakeSettings | None = None


class TargetSettings(Strict):
    target: str = Field(pattern=r"^[^/\s]+/\S+$")
    price: Price | None = None
    timeout_ms: Timeouts | None = None
    limits: Limits | None = None
    weight: float = Field(1.0, ge=0, le=1_000_000)  # routing: weighted, sticky (routing.md)
    capabilities: list[Capability] | None = None  # None: serves every request

    @property
    def provider(self) -> str:
        return self.target.split("/", 1)[0]

    @property
    def model(self) -> str:
        return self.target.split("/", 1)[1]


GuardMode = Literal["block", "flag", "sanitize", "off"]
PIIMode = Literal["pseudonymize", "redact", "block", "allow"]


class GuardSettings(Strict):
    injection: InjectionSettings = Field(default_factory=InjectionSettings)
    pii: PIIMode = "pseudonymize"
    output: OutputGuard = Field(default_factory=OutputGuard)
    tools: ToolFirewall = Field(default_factory=ToolFirewall)
    client_system: ClientSystem = "keep"
    canary: bool = True
    system_prompts: dict[str, Annotated[str, AfterValidator(check_template)]] = Field(
        default_factory=dict)


class AliasGuards(Strict):
    injection: AliasInjection | None = None
    pii: PIIMode | None = None
    output: OutputGuard | None = None
    tools: ToolFirewall | None = None
    client_system: ClientSystem | None = None


class AliasSettings(Strict):
    targets: list[TargetSettings] = Field(default_factory=list)
    system_prompt: SystemPrompt | None = None
    timeout_ms: Timeouts = Field(default_factory=Timeouts)
    fallback_message: str | None = None
    guards: AliasGuards = Field(default_factory=AliasGuards)
    review: ReviewSettings | None = None
    kind: Literal["chat", "embeddings", "auto"] = "chat"  # auto: docs/cost-routing.md
    traffic: AliasTraffic = Field(default_factory=AliasTraffic)
    cache: AliasCache = Field(default_factory=AliasCache)
    resilience: AliasResilience = Field(default_factory=AliasResilience)
    client_params: AliasClientParams = Field(default_factory=AliasClientParams)
    auto: AliasAuto | None = None  # kind auto: the cheap and strong aliases it picks from
    context: AliasContext | None = None  # a prompt token budget (docs/cost-routing.md)
    routing: RoutingStrategy = "ordered"  # see docs/routing.md
    sticky: StickyMode = "none"
    experiment: str | None = Field(None, pattern=EXPERIMENT_NAME)

    @model_validator(mode="after")
    def _routing_does_something(self) -> AliasSettings:
        problem = routing_problem(self.routing, self.sticky, self.experiment, self.kind,
                                  self.targets)
        if problem is not None:
            raise SettingsError(*problem)
        return self
    privacy: AliasPrivacy = Field(default_factory=AliasPrivacy)

    @model_validator(mode="before")
    @classmethod
    def _targets_from_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("targets"), list):
            data = dict(data)
            data["targets"] = [
                {"target": t} if isinstance(t, str) else t for t in data["targets"]
            ]
        return data


def _check_system_prompt(alias: str, a: AliasSettings, guards: GuardSettings) -> None:
    sp = a.system_prompt
    try:
        if isinstance(sp, str):
            check_template(sp)
    except ValueError as e:
        raise SettingsError(("models", alias, "system_prompt"), str(e)) from None
    if sp is not None and not isinstance(sp, str) and sp.template not in guards.system_prompts:
        raise SettingsError(("models", alias, "system_prompt", "template"),
                            f"no template {sp.template!r} under guards.system_prompts")


class Settings(Strict):
    admin: AdminSettings = Field(default_factory=AdminSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    models: dict[str, AliasSettings] = Field(default_factory=dict)
    traffic: TrafficSettings = Field(default_factory=TrafficSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    moderations: ModerationSettings = Field(default_factory=ModerationSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)

    @model_validator(mode="after")
    def _targets_name_providers(self) -> Settings:
        problem = self.moderations.check({n: p.type for n, p in self.providers.items()})
        if problem:
            raise SettingsError(("moderations", "target"), problem)
        for loc, msg in cost_problems(self.models):
            raise SettingsError(loc, msg)
        for alias, a in self.models.items():
            _check_system_prompt(alias, a, self.guards)
            if not a.targets and a.kind != "auto":
                raise SettingsError(("models", alias, "targets"), "give at least one target")
            for i, t in enumerate(a.targets):
                if t.provider not in self.providers:
                    raise SettingsError(
                        ("models", alias, "targets", i),
                        f"target {t.target!r} names provider {t.provider!r}, which is not "
                        "under providers",
                    )
        for loc, msg in moderation_provider_problems(self.guards.output, self.models.items(),
                                                     self.providers):
            raise SettingsError(loc, msg)
        return self

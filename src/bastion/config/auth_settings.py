"""Settings of the identity part: caller JWTs from trusted issuers, admin accounts.

```yaml
auth:
  max_token_bytes: 6000          # a bigger bearer token is refused (401) unread
  token_cache_ttl_s: 60          # a verified token is trusted this long (never past exp)
  jwt:
    - issuer: https://login.example.com/
      audience: bastion          # or a list
      jwks_url: https://login.example.com/.well-known/jwks.json
      # public_key: file:/etc/bastion/idp.pem   (a static key instead of a JWKS)
      # shared_secret: env:JWT_SECRET           (HS256 only with this)
      algorithms: [RS256, ES256, EdDSA]
      clock_skew_s: 30
      required_claims: [exp]
      user_claim: sub
      team_claim: org_id         # optional
      models: [chat]             # aliases these users may call (absent: all)
      models_claim: null         # a claim listing aliases (narrows `models`)
      limits: {rpm: 20, tpm: 40000, budget_usd: 1.0}   # per user
      tier_claim: plan           # a claim naming a tier below
      tiers:
        pro: {limits: {rpm: 200, budget_usd: 20}, models: [chat, chat-large]}
      cors: {allow_origins: [https://app.example.com], max_age_s: 600}
      jwks_refresh_s: 600        # background refresh of the key set
      jwks_min_refresh_s: 30     # at most one fetch this often (unknown kid)
      jwks_timeout_ms: 2000      # one fetch; a request waits at most this long
  admin:
    session_ttl_s: 43200         # POST /admin/login sessions
    token_max_ttl_s: 31536000    # longest life of an admin API token
    password_hashing: {time_cost: 3, memory_kib: 65536, parallelism: 4}   # Argon2id
    oidc: []                     # issuers whose tokens are admin credentials
```

Algorithms are an allow-list per issuer; ``none`` is not a value the config
accepts, HS* needs ``shared_secret`` (and only HS* may use it), and RS/PS/ES/EdDSA
need ``jwks_url`` or ``public_key``. See ``docs/identity.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from bastion.config.extensions import _Strict

Algorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                    "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"]
Role = Literal["admin", "operator", "reviewer", "viewer"]
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})


def _public_default() -> list[Algorithm]:
    return ["RS256", "ES256", "EdDSA"]


def _check_ref(v: str) -> str:
    # Same rule as settings.SecretRef (not imported: settings imports this module).
    scheme, _, rest = v.partition(":")
    if scheme not in ("env", "file", "aws-sm", "vault") or not rest.strip():
        raise ValueError("keys are referenced, never written inline: use env:NAME, "
                         "file:/path, aws-sm:secret-id[#field] or vault:path#field")
    return v


KeyRef = Annotated[str, AfterValidator(_check_ref)]


class UserLimits(_Strict):
    """Limits of each user of an issuer, enforced like a virtual key's (shared on Redis)."""

    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    budget_usd: float | None = Field(None, ge=0)


class Tier(_Strict):
    """What a value of ``tier_claim`` grants: its own limits and, if set, its own aliases."""

    limits: UserLimits = Field(default_factory=UserLimits)
    models: list[str] | None = None


class CorsSettings(_Strict):
    """Browser origins that may call the gateway with this issuer's tokens."""

    allow_origins: list[str] = Field(min_length=1)
    max_age_s: int = Field(600, ge=0, le=86400)  # how long a browser caches a preflight


class JwtIssuer(_Strict):
    """One trusted issuer of caller tokens (see the module docstring)."""

    issuer: str = Field(min_length=1)
    audience: str | list[str]
    jwks_url: str | None = None
    public_key: KeyRef | None = None
    shared_secret: KeyRef | None = None
    algorithms: list[Algorithm] = Field(default_factory=_public_default, min_length=1)
    clock_skew_s: float = Field(30.0, ge=0, le=600)
    required_claims: list[str] = Field(default_factory=lambda: ["exp"])
    user_claim: str = "sub"
    team_claim: str | None = None
    models: list[str] | None = None
    models_claim: str | None = None
    limits: UserLimits = Field(default_factory=UserLimits)
    tier_claim: str | None = None
    tiers: dict[str, Tier] = Field(default_factory=dict)
    cors: CorsSettings | None = None
    jwks_refresh_s: float = Field(600.0, ge=1)
    jwks_min_refresh_s: float = Field(30.0, ge=0)
    jwks_timeout_ms: int = Field(2000, ge=1, le=60000)

    @model_validator(mode="after")
    def _keys_fit_algorithms(self) -> JwtIssuer:
        hmac = [a for a in self.algorithms if a in HMAC_ALGORITHMS]
        public = [a for a in self.algorithms if a not in HMAC_ALGORITHMS]
        if hmac and not self.shared_secret:
            raise ValueError(f"{', '.join(hmac)} needs `shared_secret` (a secret reference); "
                             "without one only public-key algorithms are allowed")
        if self.shared_secret and not hmac:
            raise ValueError("`shared_secret` is only used with HS256/HS384/HS512: list one "
                             "in `algorithms` or remove the secret")
        if public and not (self.jwks_url or self.public_key):
            raise ValueError(f"{', '.join(public)} needs `jwks_url` or `public_key`")
        if self.jwks_url and self.public_key:
            raise ValueError("give `jwks_url` or `public_key`, not both")
        if self.jwks_url and not self.jwks_url.startswith(("https://", "http://")):
            raise ValueError("`jwks_url` must be an http(s) URL")
        if self.tiers and not self.tier_claim:
            raise ValueError("`tiers` needs `tier_claim`, the claim that names the tier")
        return self


class AdminOidc(_Strict):
    """An identity provider whose tokens are admin credentials (dashboard single sign-on).

    ``roles`` maps values of ``role_claim`` (a string or a list, e.g. groups) to a
    role; a token with none of them is refused. ``actor_claim`` names the admin in
    the audit log (``sub`` by default).
    """

    issuer: str = Field(min_length=1)
    audience: str | list[str]
    jwks_url: str | None = None
    public_key: KeyRef | None = None
    algorithms: list[Algorithm] = Field(default_factory=_public_default, min_length=1)
    clock_skew_s: float = Field(30.0, ge=0, le=600)
    role_claim: str = "groups"
    roles: dict[str, Role] = Field(min_length=1)
    actor_claim: str = "sub"
    jwks_refresh_s: float = Field(600.0, ge=1)
    jwks_min_refresh_s: float = Field(30.0, ge=0)
    jwks_timeout_ms: int = Field(2000, ge=1, le=60000)

    @model_validator(mode="after")
    def _public_keys_only(self) -> AdminOidc:
        if any(a in HMAC_ALGORITHMS for a in self.algorithms):
            raise ValueError("admin sign-in takes public-key algorithms only")
        if bool(self.jwks_url) == bool(self.public_key):
            raise ValueError("give exactly one of `jwks_url` and `public_key`")
        return self


class PasswordHashing(_Strict):
    """Argon2id cost of admin passwords (stored hashes keep their own; a login with an
    older cost re-hashes). The defaults are argon2-cffi's (RFC 9106's second choice)."""

    time_cost: int = Field(3, ge=1, le=20)
    memory_kib: int = Field(65536, ge=8192, le=4 * 1024 * 1024)
    parallelism: int = Field(4, ge=1, le=16)


class AdminAuthSettings(_Strict):
    """Admin accounts, their sessions and API tokens."""

    session_ttl_s: float = Field(12 * 3600.0, ge=60, le=30 * 86400)
    token_max_ttl_s: float = Field(365 * 86400.0, ge=60)
    password_hashing: PasswordHashing = Field(default_factory=PasswordHashing)
    oidc: list[AdminOidc] = Field(default_factory=list)


class AuthSettings(_Strict):
    """The top-level `auth:` section."""

    jwt: list[JwtIssuer] = Field(default_factory=list)
    max_token_bytes: int = Field(6000, ge=256, le=8000)
    token_cache_ttl_s: float = Field(60.0, ge=0, le=3600)
    admin: AdminAuthSettings = Field(default_factory=AdminAuthSettings)

    @model_validator(mode="after")
    def _issuers_unique(self) -> AuthSettings:
        # Callers and admins are verified on different routes, so one identity provider
        # may appear in both lists; within a list, the token's `iss` picks one entry.
        for name, issuers in (("jwt", [j.issuer for j in self.jwt]),
                              ("admin.oidc", [o.issuer for o in self.admin.oidc])):
            dup = sorted({i for i in issuers if issuers.count(i) > 1})
            if dup:
                raise ValueError(f"auth.{name}: issuer {dup[0]!r} is listed twice")
        return self

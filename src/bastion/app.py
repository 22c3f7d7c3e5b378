"""Building the gateway from one settings object: stores, providers, the pipeline, routes."""

from __future__ import annotations

import asyncio
import copy
import functools
import hmac
import os
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web, web_response

from bastion.auth_guard import AuthThrottle, require_strong_master_key
from bastion.cache import build_steps as build_cache_steps
from bastion.config.secrets import SecretError, SecretSource, default_resolvers
from bastion.config.settings import AliasSettings, Settings, Timeouts
from bastion.core.drain import Drain
from bastion.core.errors import AdminAuthFailed
from bastion.core.pipeline import Pipeline, Step
from bastion.cost.build import build_cost_steps
from bastion.generation import Generation, Lasting
from bastion.guards import build_steps as build_guard_steps
from bastion.identity.build import build_admins, build_callers
from bastion.keys import KeyService, key_hash_source
from bastion.observe.genai import provider_name
from bastion.observe.logging import get_logger
from bastion.observe.metrics import Metrics
from bastion.observe.recorder import Recorder
from bastion.pricing import price_for
from bastion.privacy import build_privacy
from bastion.providers.base import CallTimeouts, Provider
from bastion.providers.moderation import build_moderator
from bastion.providers.registry import Refreshable, build_provider
from bastion.steps.authenticate import Authenticate
from bastion.steps.client_params import ClientParams
from bastion.steps.meter import Meter
from bastion.steps.output_guard import build_output_steps
from bastion.steps.route import AliasRoute, Route, Target
from bastion.stores.base import open_database
from bastion.stores.outage import Opener
from bastion.traffic import build_steps as build_traffic_steps

if TYPE_CHECKING:
    from bastion.identity.callers import Callers
    from bastion.privacy.build import PrivacyParts
    from bastion.reload import ConfigSource
    from bastion.review.service import Reviews

T = TypeVar("T")


def call_timeouts(t: Timeouts) -> CallTimeouts:
    return CallTimeouts(t.connect / 1000, t.first_byte / 1000, t.total / 1000)


def build_aliases(settings: Settings, providers: Mapping[str, Provider]) -> dict[str, AliasRoute]:
    out = {}
    for name, a in settings.models.items():
        if a.kind == "auto":
            continue  # no targets of its own: steps/auto_route.py picks another alias
        out[name] = AliasRoute(
            name=name, kind=a.kind, targets=tuple(_target(settings, a, t, providers)
                                                  for t in a.targets),
            total_timeout_s=a.timeout_ms.total / 1000, fallback_message=a.fallback_message,
        )
    return out


def _target(settings: Settings, alias: AliasSettings, t: object,
            providers: Mapping[str, Provider]) -> Target:
    from bastion.config.settings import TargetSettings

    assert isinstance(t, TargetSettings)
    ps = settings.providers[t.provider]
    timeouts = t.timeout_ms or ps.timeout_ms or alias.timeout_ms
    return Target(name=t.target, provider=providers[t.provider], model=t.model,
                  price=price_for(t.model, t.price), timeouts=call_timeouts(timeouts),
                  compliance=ps.compliance, system=provider_name(t.provider, ps.type))


async def _close_provider(made: tuple[Provider, list[Refreshable]]) -> None:
    await made[0].aclose()


class Gateway:
    """Everything one worker process runs, built from :class:`Settings`. No globals.

    What a config reload may change lives in the current :class:`Generation`
    (``self.generation``, swapped in one assignment; see :mod:`bastion.generation` and
    :mod:`bastion.reload`): providers, route, pipeline, admin key. ``settings``,
    ``route``, ``pipeline``, ``providers`` … read it. The rest (database, keys, metrics,
    recorder, Redis, tracer) is built once, from the settings the process started with.
    """

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env
        self.db = open_database(settings.state.database,
                                "upgrade" if settings.state.auto_migrate else "check")
        self.keys = KeyService(self.db, settings.state.key_cache_ttl_s, self.env,
                               key_hash_source(settings, self.env),
                               stale_s=settings.state.key_stale_s)
        self.db_opener = Opener(self.db, get_logger("bastion.server"),
                                after_open=self.keys.check_secret)
        self.metrics = Metrics()
        self.drain = Drain()  # requests in flight, for a clean shutdown
        self.close_timeout_s = 3.0  # how long close() may wait on a slow database
        self.recorder = Recorder(self.db, self.metrics, frozenset(settings.models), settings.usage)
        self.auth_throttle = AuthThrottle(settings.security.auth_throttle)
        # Shared state: one Redis client per worker when state.redis is set.
        # A blocking pool makes a burst wait its turn for a connection instead of failing;
        # short socket time-outs keep a hung Redis from hanging requests (each part
        # decides what a Redis failure means for it).
        self.redis: Any = None
        if settings.state.redis:
            from bastion.traffic.ledger_redis import connect

            self.redis = connect(settings.state.redis, timeout_s=1.0, max_connections=128)
        # Admin accounts and their audit belong to the process (auth.admin needs a
        # restart); their start/stop hooks run with the gateway's.
        self.process_start: list[Callable[[], Awaitable[None]]] = []
        self.process_close: list[Callable[[], Awaitable[None]]] = []
        self.admins = build_admins(settings, self.db, self.keys, default_resolvers(self.env),
                                   self.check_master_key, self.process_start,
                                   self.process_close)
        from bastion.observe.tracing import build_tracer

        self.tracer = build_tracer(settings.resilience.otlp_endpoint, self.env,
                                   settings.resilience.service_name)
        self.lasting = Lasting()
        self.retired: dict[Generation, asyncio.Task[None]] = {}  # closed when the task ends
        self.reload_lock = asyncio.Lock()
        self.config_source: ConfigSource | None = None  # what a reload re-reads
        self.reload_peers: Callable[[], None] | None = None  # set by a multi-worker server
        self.generation = self.build(Generation(settings, 1))

    # --- the current generation's parts -------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.generation.settings

    @property
    def providers(self) -> dict[str, Provider]:
        return self.generation.providers

    @property
    def secrets(self) -> list[Refreshable]:
        return self.generation.secrets

    @property
    def master_key(self) -> SecretSource | None:
        return self.generation.master_key

    @property
    def callers(self) -> Callers:
        return self.generation.callers

    @property
    def privacy(self) -> PrivacyParts:
        return self.generation.privacy

    @property
    def privacy_loading(self) -> Any:
        """The name model's loading, when an alias needs it (set by the privacy part)."""
        return self.generation.privacy_loading

    @privacy_loading.setter
    def privacy_loading(self, value: Any) -> None:
        self.generation.privacy_loading = value

    @property
    def reviews(self) -> Reviews:
        return self.generation.reviews

    @property
    def route(self) -> Route:
        return self.generation.route

    @property
    def pipeline(self) -> Pipeline:
        return self.generation.pipeline

    @pipeline.setter
    def pipeline(self, value: Pipeline) -> None:
        self.generation.pipeline = value

    @property
    def on_start(self) -> list[Callable[[], Awaitable[None]]]:
        """Start hooks of the parts (background tasks, pools), per generation."""
        return self.generation.on_start

    @property
    def on_close(self) -> list[Callable[[], Awaitable[None]]]:
        return self.generation.on_close

    def lasting_part(self, key: Hashable, make: Callable[[], T],
                     close: Callable[[T], Awaitable[None]] | None = None) -> T:
        """An object this generation shares with the others built with an equal ``key``
        (see :class:`~bastion.generation.Lasting`): counters, caches, pools."""
        return self.lasting.get(self.generation.number, key, make, close)

    def build(self, gen: Generation) -> Generation:
        """Build ``gen``'s parts (not started). They are built against a copy of this
        gateway pinned to ``gen``, so ``gw.settings`` (and everything else a builder reads)
        is the new configuration's, now and later. If this raises, the caller closes
        ``gen`` (``await gen.close(gw.lasting)``) to let go of what was built."""
        view = copy.copy(self)
        view.generation = gen
        view.assemble()
        return gen

    def assemble(self) -> None:
        """Build the config-dependent parts into ``self.generation`` (see :meth:`build`)."""
        settings = self.settings
        gen = self.generation
        resolvers = default_resolvers(self.env)
        for name, ps in settings.providers.items():
            provider, sources = self.lasting_part(
                ("provider", name, ps.model_dump_json()),
                functools.partial(build_provider, name, ps, resolvers, self.env), _close_provider)
            gen.providers[name] = provider
            gen.secrets.extend(sources)
        gen.master_key = (SecretSource(settings.admin.master_key, resolvers)
                          if settings.admin.master_key else None)
        gen.callers = build_callers(settings, self.keys, resolvers, gen.on_start, gen.on_close)
        from bastion.review.service import Reviews

        gen.reviews = Reviews(settings, self.db)  # per-alias review policies; the queue's DB
        gen.on_start.append(gen.reviews.start)
        gen.on_close.append(gen.reviews.close)
        # Resilience: retries, breakers (shared via Redis when set), fallbacks, tracing.
        from bastion.observe.tracing import trace_steps
        from bastion.resilience.build import build_route

        gen.route = build_route(self, build_aliases(settings, self.providers), self.tracer)
        auto_route, trim = build_cost_steps(self)
        gen.privacy = build_privacy(self)
        # The request's path, outermost first. Requests go down this list in order;
        # answers come back up it in reverse.
        steps: list[Step] = [
            Meter(self.recorder, self.drain),
            Authenticate(self.callers, self.auth_throttle, settings.models),
            *auto_route,  # an `auto` alias → its cheap or strong alias (before admission)
            ClientParams(settings.models),
            *self.reviews.steps(),  # ← confidence; flag or hold (sees the client's answer)
            *build_traffic_steps(self),
            *gen.privacy.steps,  # disclosure, privacy: before cache and output moderation
            *build_guard_steps(self),  # before the cache: a refused request is never cached
            *build_output_steps(self),  # before the cache: every answer is checked
            *trim,  # the context budget: after the guards, before the cache keys the request
            *build_cache_steps(self),
        ]
        gen.pipeline = Pipeline(trace_steps(steps, self.tracer), self.route)

    async def close_generation(self, gen: Generation) -> None:
        task = self.retired.pop(gen, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await gen.close(self.lasting)

    async def start(self) -> None:
        await require_strong_master_key(self.master_key, self.settings.admin.master_key)
        await self.db_opener.start()  # an unreachable database is retried, not fatal
        self.recorder.start()
        for hook in self.process_start:
            await hook()
        await self.generation.start()

    async def close(self) -> None:
        for gen in list(self.retired):
            await self.close_generation(gen)
        await self.close_generation(self.generation)
        for hook in reversed(self.process_close):
            await hook()
        await self.recorder.close(self.close_timeout_s)
        await self.db_opener.close()
        await self.tracer.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.close()

    def reload_secrets(self) -> None:
        """Forget cached provider keys so the next call re-reads them (SIGHUP, through
        :func:`bastion.reload.reload_config`, which also audits it)."""
        for s in self.secrets:
            s.invalidate()
        if self.master_key is not None:
            self.master_key.invalidate()

    async def check_master_key(self, request: web.Request) -> None:
        """Refuse ``request`` unless it carries the master key; failures are throttled
        per client address and logged (:mod:`bastion.auth_guard`)."""
        throttle = self.auth_throttle
        addr = throttle.address(request.remote, request.headers)
        await throttle.guard(addr, "master_key", request.path,
                             lambda: self._check_master_key(request))

    async def _check_master_key(self, request: web.Request) -> None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if self.master_key is None:
            raise AdminAuthFailed("The admin API is off: admin.master_key is not set. Set "
                                  "BASTION_MASTER_KEY (or admin.master_key) to use it.")
        if scheme.lower() != "bearer" or not token:
            raise AdminAuthFailed()
        try:
            expected = (await self.master_key.get()).reveal()
        except SecretError:
            raise AdminAuthFailed("No master key is configured on this gateway: set "
                                  "BASTION_MASTER_KEY (or admin.master_key) and restart "
                                  "to use the admin API.") from None
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise AdminAuthFailed()


def create_app(settings: Settings, env: Mapping[str, str] | None = None,
               config_source: ConfigSource | None = None) -> web.Application:
    """The aiohttp application for ``settings``; the gateway is ``app[GATEWAY]``.
    ``config_source`` is what a reload re-reads (none: reloads are refused)."""
    from bastion.api.admin import AdminRoutes
    from bastion.api.admin_identity import IdentityAdminRoutes
    from bastion.api.anthropic import AnthropicRoutes
    from bastion.api.completions import CompletionsRoutes
    from bastion.api.health import HealthRoutes
    from bastion.api.moderations import ModerationRoutes
    from bastion.api.openai import OpenAIRoutes
    from bastion.api.responses import ResponsesRoutes
    from bastion.identity.cors import Cors

    gw = Gateway(settings, env)
    gw.config_source = config_source
    from bastion.api.middleware import add_fallback

    # No version banner: aiohttp fills in "Server: Python/3.x aiohttp/3.y" on every
    # answer (its own protocol errors included) from this module attribute; naming the
    # product only costs nothing per response, unlike a response-prepare signal.
    setattr(web_response, "SERVER_SOFTWARE", "bastion")  # noqa: B010 - not re-exported

    # No middlewares: aiohttp builds a middleware chain per request; every handler is
    # guarded once at registration instead (api/middleware.py).
    app = web.Application(client_max_size=settings.server.max_body_bytes + 1024)
    app[GATEWAY] = gw
    OpenAIRoutes(gw).register(app)
    ResponsesRoutes(gw).register(app)
    CompletionsRoutes(gw).register(app)
    moderator = build_moderator(settings, default_resolvers(gw.env))
    if moderator is not None:
        gw.process_close.append(moderator.aclose)  # the process's, like the route using it
    ModerationRoutes(gw, moderator).register(app)
    AnthropicRoutes(gw).register(app)
    AdminRoutes(gw).register(app)
    from bastion.api.admin_resilience import ResilienceAdminRoutes

    ResilienceAdminRoutes(gw).register(app)
    IdentityAdminRoutes(gw).register(app)
    from bastion.api.admin_review import ReviewAdminRoutes
    from bastion.api.reviews import ReviewPollRoutes

    ReviewPollRoutes(gw).register(app)
    ReviewAdminRoutes(gw).register(app)
    from bastion.api.admin_reports import ReportAdminRoutes

    ReportAdminRoutes(gw).register(app)
    if settings.dashboard.enabled:
        from bastion.dashboard.routes import Dashboard

        Dashboard(gw).register(app)
    from bastion.api.admin_reload import ReloadAdminRoutes

    ReloadAdminRoutes(gw).register(app)
    HealthRoutes(gw).register(app)
    Cors(settings.auth).register(app)
    add_fallback(app, gw.recorder.route_line)  # last: unknown paths and wrong methods

    async def on_startup(_app: web.Application) -> None:
        await gw.start()

    async def on_cleanup(_app: web.Application) -> None:
        await gw.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


GATEWAY = web.AppKey("gateway", Gateway)

"""Config reload without restart: ``SIGHUP`` and ``POST /admin/reload``.

:func:`reload_config` re-reads the file the gateway was started from
(:class:`ConfigSource`) and validates it exactly as ``bastion check-config`` does.
A config that fails is refused with the same messages (logged as
``config_reload_refused``, answered as ``invalid_config``) and the running one
stays. A valid one becomes the next :class:`~bastion.generation.Generation`: it is
built and started beside the current one, then swapped in with one assignment;
requests already under way finish on the generation they started with, which is
closed once its longest time-out has passed. Models, targets, prices, limits,
guards, cache and resilience settings and provider credentials all take effect
for the next request.

What a running process cannot change (the listening address, workers, state
stores, logging, the usage log, the authentication throttle (``security``), the
dashboard, the tracer's endpoint, the moderations target, admin sign-in settings ``auth.admin``,
and the CORS rules registered at start-up) keeps its running value; a reload that
changes it says so (``restart_needed``) and logs it.
Every reload attempt, refused or not, is one ``config.reload`` audit entry.

With ``--workers N`` each worker reloads itself: the server forwards ``SIGHUP`` to
all of them, and a worker that reloads through the admin API asks the server to
forward one (``Gateway.reload_peers``); a worker whose config is already the file's
does nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bastion.config.loader import ConfigError, load_settings
from bastion.config.settings import Settings
from bastion.core.errors import ConfigRejected, NotConfigured
from bastion.generation import Generation, grace_s
from bastion.observe.logging import get_logger

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.identity.roles import Actor

SIGNAL_ACTOR = "system:signal"  # who reloads on SIGHUP, in the log and the audit
# Sections a running process keeps (see the module docstring).
RESTART_ONLY = ("state", "server", "logging", "moderations", "usage", "security",
                "dashboard")
RESTART_ONLY_RESILIENCE = ("otlp_endpoint", "service_name")


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the settings come from: a file (``None``: ``bastion.yaml`` if present, else
    the defaults and the environment), with command-line overrides of ``server``."""

    path: Path | None = None
    server: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] | None = None

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "the built-in defaults"

    def load(self) -> Settings:
        """The settings now; raises :class:`ConfigError` like ``check-config``."""
        settings = load_settings(self.path, self.env)
        if self.server:
            settings = settings.model_copy(update={
                "server": settings.server.model_copy(update=dict(self.server))})
        return settings


@dataclass(frozen=True, slots=True)
class ReloadResult:
    status: Literal["reloaded", "unchanged"]
    generation: int
    restart_needed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "generation": self.generation,
                "restart_needed": list(self.restart_needed)}


def keep_running_parts(old: Settings, new: Settings) -> tuple[Settings, tuple[str, ...]]:
    """``new`` with the restart-only parts of ``old``, and the names of those that differ."""
    differ = [name for name in RESTART_ONLY if getattr(old, name) != getattr(new, name)]
    differ += [f"resilience.{name}" for name in RESTART_ONLY_RESILIENCE
               if getattr(old.resilience, name) != getattr(new.resilience, name)]
    if old.auth.admin != new.auth.admin:
        differ.append("auth.admin")
    if [(j.issuer, j.cors) for j in old.auth.jwt] != [(j.issuer, j.cors) for j in new.auth.jwt]:
        differ.append("auth.jwt[].cors")  # the preflight routes are registered at start-up
    resilience = new.resilience.model_copy(update={
        name: getattr(old.resilience, name) for name in RESTART_ONLY_RESILIENCE})
    auth = new.auth.model_copy(update={"admin": old.auth.admin})
    kept = new.model_copy(update={**{name: getattr(old, name) for name in RESTART_ONLY},
                                  "resilience": resilience, "auth": auth})
    return kept, tuple(differ)


def current_settings(source: ConfigSource, running: Settings) -> Settings:
    """The file's settings now, with ``running``'s restart-only parts (a worker restarted
    after a reload starts like its siblings); ``running`` when the file is not valid."""
    try:
        return keep_running_parts(running, source.load())[0]
    except ConfigError as e:
        get_logger("bastion.config").warning(
            "config_reload_refused", source=source.name, actor="worker-start",
            pid=os.getpid(), problems=[str(p) for p in e.problems])
        return running


async def _retire(gw: Gateway, gen: Generation, after_s: float) -> None:
    await asyncio.sleep(after_s)
    await gw.close_generation(gen)


async def apply(gw: Gateway, settings: Settings) -> ReloadResult:
    """Make ``settings`` the gateway's configuration for the next request (see the
    module docstring). Raises :class:`ConfigRejected` when its parts cannot be built."""
    async with gw.reload_lock:
        current = gw.generation
        settings, restart = keep_running_parts(current.settings, settings)
        if settings == current.settings:
            return ReloadResult("unchanged", current.number, restart)
        gen = Generation(settings, current.number + 1)
        try:
            gw.build(gen)
            await gen.start()
        except (ValueError, LookupError) as e:  # a part refused the settings
            await gen.close(gw.lasting)
            raise ConfigRejected(f"The new configuration was refused; the running one "
                                 f"stays: {e}") from None
        except BaseException:
            await gen.close(gw.lasting)
            raise
        gw.generation = gen  # the one swap: new requests use ``gen`` from here on
        gw.recorder.aliases = frozenset(settings.models)
        gw.retired[current] = asyncio.get_running_loop().create_task(
            _retire(gw, current, grace_s(current.settings)))
        return ReloadResult("reloaded", gen.number, restart)


async def _audit(gw: Gateway, actor: Actor | str, source: str | None, **detail: Any) -> None:
    where = gw.config_source.name if gw.config_source is not None else None
    await gw.admins.audit.record(actor, "config.reload", where, source=source,
                                 pid=os.getpid(), **detail)


async def reload_config(gw: Gateway, actor: Actor | str,
                        source: str | None = None) -> ReloadResult:
    """Re-read the gateway's config file and apply it (see the module docstring).
    ``actor`` is who asked (an admin, ``system:signal``), for the log and the audit."""
    log = get_logger("bastion.config")
    who = actor if isinstance(actor, str) else actor.id
    gw.reload_secrets()
    if gw.config_source is None:
        await _audit(gw, actor, source, result="credentials_only")
        raise NotConfigured("This gateway was not started from a configuration it can "
                            "re-read (bastion serve reads one): provider keys were re-read, "
                            "nothing else changed.")
    where = gw.config_source.name
    try:
        settings = await asyncio.to_thread(gw.config_source.load)
        result = await apply(gw, settings)
    except ConfigError as e:
        problems = [str(p) for p in e.problems]
        log.warning("config_reload_refused", source=where, actor=who, pid=os.getpid(),
                    problems=problems)
        await _audit(gw, actor, source, result="refused", problems=problems)
        raise ConfigRejected(f"The configuration in {where} was refused; the running one "
                             "stays. " + "; ".join(problems)) from None
    except ConfigRejected as e:
        log.warning("config_reload_refused", source=where, actor=who, pid=os.getpid(),
                    problems=[e.message])
        await _audit(gw, actor, source, result="refused", problems=[e.message])
        raise
    log.info("config_reloaded", source=where, actor=who, pid=os.getpid(), **result.as_dict())
    if result.restart_needed:
        log.warning("config_needs_restart", source=where, sections=list(result.restart_needed))
    await _audit(gw, actor, source, result=result.status, generation=result.generation,
                 restart_needed=list(result.restart_needed))
    return result


def on_sighup(gw: Gateway) -> None:
    """The SIGHUP handler: reload in the background (failures are logged, never raised)."""

    async def run() -> None:
        try:
            await reload_config(gw, SIGNAL_ACTOR, "local")
        except (ConfigRejected, NotConfigured):
            pass  # logged (or nothing to reload: the keys were re-read all the same)
        except Exception:  # noqa: BLE001 - a signal handler's task: log, never crash
            get_logger("bastion.config").exception("config_reload_failed")

    task = asyncio.get_running_loop().create_task(run())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()  # keeps running reloads referenced

"""Running the gateway: uvloop, N worker processes sharing the port, signals, shutdown.

Each worker is a separate process with its own event loop, built from the same
settings; they share the listening port through ``SO_REUSEPORT``. With more than
one worker a supervisor process starts, watches and restarts them
(:mod:`bastion.supervisor`). SIGHUP makes every worker re-read provider keys and
the config file (:mod:`bastion.reload`); SIGTERM/SIGINT stop them gracefully:

1. the worker stops accepting connections and closes idle keep-alive ones;
2. requests in flight may finish until ``server.shutdown_timeout_s`` is nearly
   over (a short reserve is kept for the next steps);
3. whatever is still running is cut (:mod:`bastion.core.drain`): a stream ends
   with an error event in the client's dialect, a whole answer with a 503, and the
   usage log records it as ``cut`` with what was delivered;
4. the stores are closed (queued usage written, or spilled if the database is down).

The start-up banner is printed once the port is really listened on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

from aiohttp import web

from bastion.app import GATEWAY, create_app
from bastion.config.check import master_key_problem, secret_warnings
from bastion.config.settings import Settings
from bastion.observe.logging import configure_logging, get_logger
from bastion.reload import ConfigSource, on_sighup


def install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _where_state(settings: Settings) -> str:
    db = settings.state.database
    if "@" in db:  # postgresql://user:password@host/db: never print the credentials
        scheme, _, rest = db.partition("://")
        db = f"{scheme}://…@{rest.rsplit('@', 1)[1]}"
    redis = "Redis (shared counters, breakers, cache)" if settings.state.redis else (
        "no Redis (counters, breakers and cache in this process's memory)")
    return f"State: {db}; {redis}"


def _admin_line(settings: Settings) -> str:
    problem = master_key_problem(settings)
    if problem is None:
        return f"Admin API: enabled under /admin/ (master key from {settings.admin.master_key})"
    return (f"Admin API: disabled ({problem}). Set BASTION_MASTER_KEY (or admin.master_key) "
            "and restart to enable it.")


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (a quick probe before the real bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # as the real listener does (asyncio sets it): connections of a process that just
        # died linger in TIME_WAIT, and they must not stop its restart
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def banner(settings: Settings) -> str:
    lines = [f"Bastion listening on http://{settings.server.host}:{settings.server.port}",
             _where_state(settings), _admin_line(settings)]
    if all(p.type == "fake" for p in settings.providers.values()):
        lines.append("No provider key found in the environment: serving the built-in FAKE "
                     "provider (answers are canned, nothing leaves this machine). Set "
                     "OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, or write "
                     "bastion.yaml, to use a real provider.")
    lines.append("Models: " + ", ".join(sorted(settings.models)))
    return "\n".join(lines)


def shutdown_plan(timeout_s: float) -> tuple[float, float]:
    """``(drain_s, reserve_s)``: how long requests may finish on their own, and what is
    kept after that for cutting the rest and closing the stores."""
    reserve = min(2.0, timeout_s * 0.3)
    return timeout_s - reserve, reserve


async def _serve(settings: Settings, reuse_port: bool,
                 on_listening: Callable[[], None] | None = None,
                 source: ConfigSource | None = None) -> None:
    app = create_app(settings, config_source=source)
    # handler_cancellation: a client that leaves cancels its request, so the upstream
    # call (and its cost) stops too, streams waiting on a silent provider included.
    # keepalive_timeout also bounds a connection that never completes its headers
    # (aiohttp's default is an hour): a slowloris client cannot hold sockets for long.
    # shutdown_timeout: by the time aiohttp's own shutdown runs, every request has
    # finished or been cut (see the module docstring), so it has little to wait for.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           handler_cancellation=True, keepalive_timeout=75.0,
                           shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port,
                       reuse_port=reuse_port, backlog=2048)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise SystemExit(f"bastion: cannot listen on {settings.server.host}:"
                         f"{settings.server.port}: {e.strerror or e}") from None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    gw = app[GATEWAY]
    loop.add_signal_handler(signal.SIGHUP, on_sighup, gw)
    if reuse_port:  # one of several workers: a reload through the admin API reaches all
        gw.reload_peers = functools.partial(os.kill, os.getppid(), signal.SIGHUP)
    log = get_logger("bastion.server")
    log.info("worker_started", pid=os.getpid(), port=settings.server.port)
    if on_listening is not None:
        on_listening()
    await stop.wait()
    started = time.monotonic()
    drain_s, reserve_s = shutdown_plan(settings.server.shutdown_timeout_s)
    await site.stop()  # no new connections
    if runner.server is not None:
        runner.server.pre_shutdown()  # idle keep-alive connections close now
    log.info("worker_stopping", pid=os.getpid(), in_flight=gw.drain.count,
             shutdown_timeout_s=settings.server.shutdown_timeout_s)
    if not await gw.drain.wait_idle(started + drain_s):
        cut = gw.drain.cut()
        log.warning("requests_cut_at_shutdown", pid=os.getpid(), requests=cut)
        await gw.drain.wait_idle(started + drain_s + reserve_s / 2)
    gw.close_timeout_s = max(0.1, reserve_s / 2 - 0.5)
    await runner.cleanup()
    log.info("worker_stopped", pid=os.getpid(), took_s=round(time.monotonic() - started, 2))


def run_worker(settings: Settings, reuse_port: bool,
               on_listening: Callable[[], None] | None = None,
               source: ConfigSource | None = None) -> None:
    """One worker process's life: logging, uvloop, serve until SIGTERM/SIGINT.
    ``source`` is what SIGHUP and ``POST /admin/reload`` re-read."""
    configure_logging(settings.logging.level, settings.logging.format)
    install_uvloop()
    asyncio.run(_serve(settings, reuse_port, on_listening, source))


class PortInUse(Exception):
    """The configured port is taken; the message says which and how to choose another."""


def refuse_weak_master_key(settings: Settings) -> None:
    """Exit with a clear message (status 2) when the master key is too short, before any
    worker starts (each worker checks again, :meth:`Gateway.start`)."""
    from bastion.auth_guard import WeakMasterKey, require_strong_master_key
    from bastion.config.secrets import SecretSource, default_resolvers

    ref = settings.admin.master_key
    if not ref:
        return
    try:
        asyncio.run(require_strong_master_key(
            SecretSource(ref, default_resolvers(os.environ)), ref))
    except WeakMasterKey as e:
        print(f"bastion: refusing to start: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def serve(settings: Settings, source: ConfigSource | None = None) -> None:
    """Run the gateway in the foreground until SIGTERM/SIGINT. Raises :class:`PortInUse`
    (before printing anything) when the port is taken. ``source`` is what SIGHUP and
    ``POST /admin/reload`` re-read."""
    refuse_weak_master_key(settings)
    host, port = settings.server.host, settings.server.port
    if port and not port_free(host, port):
        raise PortInUse(f"Port {port} on {host} is already in use. Stop what is using it, "
                        "or choose another port with --port (or server.port in the config).")
    for warning in secret_warnings(settings):
        print(f"Warning: {warning}", file=sys.stderr, flush=True)
    if settings.server.workers == 1:
        def listening() -> None:
            print(banner(settings), file=sys.stderr, flush=True)

        run_worker(settings, reuse_port=False, on_listening=listening, source=source)
        return
    from bastion.supervisor import Supervisor

    raise SystemExit(Supervisor(settings, source).run())

"""Running the gateway: uvloop, N worker processes sharing the port, signals.

Each worker is a separate process with its own event loop, built from the same
settings; they share the listening port through ``SO_REUSEPORT``. SIGHUP makes
every worker re-read provider keys and the config file (see :mod:`bastion.reload`);
SIGTERM/SIGINT stop them gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import os
import signal
import socket
import sys

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


async def _serve(settings: Settings, reuse_port: bool, announce: bool = False,
                 source: ConfigSource | None = None) -> None:
    app = create_app(settings, config_source=source)
    gw = app[GATEWAY]
    if reuse_port:  # one of several workers: a reload through the admin API reaches all
        gw.reload_peers = functools.partial(os.kill, os.getppid(), signal.SIGHUP)
    # handler_cancellation: a client that leaves cancels its request, so the upstream
    # call (and its cost) stops too, streams waiting on a silent provider included.
    # keepalive_timeout also bounds a connection that never completes its headers
    # (aiohttp's default is an hour): a slowloris client cannot hold sockets for long.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           handler_cancellation=True, keepalive_timeout=75.0,
                           shutdown_timeout=10.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port,
                       reuse_port=reuse_port, backlog=2048)
    await site.start()
    if announce:  # only once the port is bound: "listening" is then true
        print(banner(settings), file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_sighup, gw)
    get_logger("bastion.server").info("worker_started", pid=os.getpid(),
                                      port=settings.server.port)
    await stop.wait()
    await runner.cleanup()


def _worker(settings: Settings, reuse_port: bool, announce: bool = False,
            source: ConfigSource | None = None) -> None:
    configure_logging(settings.logging.level, settings.logging.log_prompts,
                      settings.logging.format)
    install_uvloop()
    asyncio.run(_serve(settings, reuse_port, announce, source))


class PortInUse(Exception):
    """The configured port is taken; the message says which and how to choose another."""


def serve(settings: Settings, source: ConfigSource | None = None) -> None:
    """Run the gateway in the foreground until SIGTERM/SIGINT. Raises :class:`PortInUse`
    (before printing anything) when the port is taken. ``source`` is what SIGHUP and
    ``POST /admin/reload`` re-read."""
    host, port = settings.server.host, settings.server.port
    if port and not port_free(host, port):
        raise PortInUse(f"Port {port} on {host} is already in use. Stop what is using it, "
                        "or choose another port with --port (or server.port in the config).")
    for warning in secret_warnings(settings):
        print(f"Warning: {warning}", file=sys.stderr, flush=True)
    workers = settings.server.workers
    if workers == 1:
        _worker(settings, reuse_port=False, announce=True, source=source)
        return
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(settings, True, i == 0, source), daemon=False)
             for i in range(workers)]
    for p in procs:
        p.start()

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    for p in procs:
        p.join()

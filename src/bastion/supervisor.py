"""The parent of ``bastion serve --workers N``: starts the workers, watches, restarts.

* Workers are forked; each tells the supervisor once it listens (a pipe), and the
  start-up banner is printed when all of them do. A worker that dies before it
  listens (a port in use, a bad config) stops the start-up: the supervisor exits 1.
* A worker that dies later (killed, out of memory, a crash) is logged
  (``worker_exited``, with its exit code or signal) and restarted. More than
  :data:`MAX_RESTARTS` restarts within :data:`RESTART_WINDOW_S` means something is
  wrong with every start: the supervisor stops all workers and exits 1, so the
  orchestrator (systemd, Kubernetes) sees it.
* Without ``state.redis``, limits and budgets are kept by one ledger process that
  every worker asks over a Unix socket (:mod:`bastion.traffic.ledger_socket`), so
  ``--workers N`` does not multiply them by N. It is supervised like a worker.
* SIGTERM/SIGINT are passed to every child, which shuts down within
  ``server.shutdown_timeout_s``; a child still alive a few seconds after that is
  killed. SIGHUP is passed on (workers re-read provider keys and the config file,
  :mod:`bastion.reload`); a worker started again reads the file as it is then.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

from bastion.config.settings import Settings
from bastion.observe.logging import configure_logging, get_logger
from bastion.reload import ConfigSource, current_settings
from bastion.server import banner, run_worker
from bastion.traffic.ledger_socket import LEDGER_SOCKET_ENV

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
STARTUP_TIMEOUT_S = 120.0
LEDGER = "ledger"


def _reset_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _worker_main(settings: Settings, slot: int, ready_fd: int,
                 source: ConfigSource | None = None) -> None:
    _reset_signals()

    def listening() -> None:
        os.write(ready_fd, f"{slot}\n".encode())

    if source is not None:  # a restarted worker starts on the file as it is now
        settings = current_settings(source, settings)
    run_worker(settings, reuse_port=True, on_listening=listening, source=source)


def _ledger_main(settings: Settings, path: str, ready_fd: int) -> None:
    _reset_signals()
    from bastion.traffic.ledger_socket import run_ledger_server

    run_ledger_server(settings, path, lambda: os.write(ready_fd, f"{LEDGER}\n".encode()))


def describe_exit(code: int | None) -> dict[str, Any]:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return {"signal": signal.Signals(-code).name}
        return {"signal": -code}
    return {"exit_code": code}


class Supervisor:
    """See the module docstring. ``run()`` returns the process's exit code."""

    def __init__(self, settings: Settings, source: ConfigSource | None = None) -> None:
        self.settings = settings
        self.source = source
        self.workers = settings.server.workers
        self.log = get_logger("bastion.supervisor")
        self._mp = mp.get_context("fork")
        self._procs: dict[int | str, BaseProcess] = {}
        self._listening: set[int | str] = set()
        self._restarts: deque[float] = deque()
        self._stop_signal: int | None = None
        self._ready_r, self._ready_w = os.pipe()
        self._dir: str | None = None
        self._ledger_path: str | None = None
        if not settings.state.redis and settings.traffic.enabled:
            self._dir = tempfile.mkdtemp(prefix="bastion-")
            self._ledger_path = os.path.join(self._dir, "ledger.sock")

    # --- children ---

    def _start(self, slot: int | str) -> None:
        if slot == LEDGER:
            assert self._ledger_path is not None
            p = self._mp.Process(target=_ledger_main, name="bastion-ledger", daemon=False,
                                 args=(self.settings, self._ledger_path, self._ready_w))
        else:
            p = self._mp.Process(target=_worker_main, name=f"bastion-worker-{slot}",
                                 daemon=False,
                                 args=(self.settings, slot, self._ready_w, self.source))
        p.start()
        self._procs[slot] = p

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            self._signal_all_of(list(self._procs.values()), signal.SIGHUP)
            return
        self._stop_signal = signum

    def _read_ready(self) -> None:
        data = os.read(self._ready_r, 4096).decode()
        for word in data.split():
            self._listening.add(LEDGER if word == LEDGER else int(word))

    # --- the life of the supervisor ---

    def run(self) -> int:
        s = self.settings
        configure_logging(s.logging.level, s.logging.format)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        if self._ledger_path is not None:
            os.environ[LEDGER_SOCKET_ENV] = self._ledger_path  # inherited by the workers
            self._start(LEDGER)
        try:
            for slot in range(self.workers):
                self._start(slot)
            if not self._await_listening():  # a worker failed, or we were told to stop
                return self._stop(0 if self._stop_signal is not None else 1)
            print(banner(s), file=sys.stderr, flush=True)
            self.log.info("supervisor_started", pid=os.getpid(), workers=self.workers,
                          ledger="process" if self._ledger_path else "redis")
            return self._watch()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)

    def _await_listening(self) -> bool:
        want = set(self._procs)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while self._listening < want:
            if self._stop_signal is not None:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                self.log.error("workers_did_not_start", waited_s=STARTUP_TIMEOUT_S)
                return False
            ready = wait([self._ready_r, *(p.sentinel for p in self._procs.values())],
                         timeout=min(left, 0.5))
            if self._ready_r in ready:
                self._read_ready()
            for slot, p in self._procs.items():
                if p.exitcode is not None and slot not in self._listening:
                    self.log.error("worker_failed_to_start", slot=slot, pid=p.pid,
                                   **describe_exit(p.exitcode))
                    return False
        return True

    def _watch(self) -> int:
        while self._stop_signal is None:
            sentinels = {p.sentinel: slot for slot, p in self._procs.items()}
            ready = wait([self._ready_r, *sentinels], timeout=0.5)
            if self._ready_r in ready:
                self._read_ready()
            for sentinel in ready:
                slot = sentinels.get(sentinel) if isinstance(sentinel, int) else None
                if slot is None or self._stop_signal is not None:
                    continue
                if not self._restart(slot):
                    return self._stop(1)
        return self._stop(0)

    def _restart(self, slot: int | str) -> bool:
        p = self._procs[slot]
        p.join(5)  # it is gone (its sentinel fired): this only reaps it
        self.log.error("worker_exited", slot=slot, pid=p.pid, **describe_exit(p.exitcode),
                       action="restarting")
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and self._restarts[0] < now - RESTART_WINDOW_S:
            self._restarts.popleft()
        if len(self._restarts) > MAX_RESTARTS:
            self.log.error("workers_crash_looping", restarts=len(self._restarts),
                           window_s=RESTART_WINDOW_S, action="stopping")
            return False
        self._listening.discard(slot)
        self._start(slot)
        return True

    def _stop(self, code: int) -> int:
        """Stop every child (the ledger last: workers settle on it while they drain)."""
        workers = [p for slot, p in self._procs.items() if slot != LEDGER]
        self._signal_all_of(workers, signal.SIGTERM)
        self._join(workers, self.settings.server.shutdown_timeout_s + 5)
        rest = [p for slot, p in self._procs.items() if slot == LEDGER]
        self._signal_all_of(rest, signal.SIGTERM)
        self._join(rest, 5)
        self.log.info("supervisor_stopped", exit_code=code)
        return code

    @staticmethod
    def _signal_all_of(procs: list[BaseProcess], sig: int) -> None:
        for p in procs:
            if p.pid is not None and p.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, sig)

    @staticmethod
    def _join(procs: list[BaseProcess], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.exitcode is None and p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                p.join(5)

"""PostgreSQL and Redis servers a test owns: started on free loopback ports, stopped,
restarted and thrown away by the test itself.

Tests that inject outages use these, never the machine's shared services (other
developers' tests use those at the same moment). The fixtures ``private_postgres``
and ``private_redis`` (in ``tests/conftest.py``) hand out one running server each;
a test may ``stop()`` and ``start()`` it (same port, same data) as often as it likes.

PostgreSQL runs from ``/usr/lib/postgresql/15/bin`` (or ``BASTION_TEST_PG_BIN``),
as the ``postgres`` user when the tests run as root (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("BASTION_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait(port: int, up: bool, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if answers(port) == up:
            return
        time.sleep(0.02)
    raise TimeoutError(f"port {port} still {'closed' if up else 'open'} after {within_s} s")


class PrivateRedis:
    """``redis-server`` on a free port, in memory only (no RDB, no AOF)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        if self._proc is None:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",  # noqa: S607
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait(self.port, up=True, within_s=10)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None
            _wait(self.port, up=False, within_s=5)

    def restart(self) -> None:
        self.stop()
        self.start()


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (trust auth, user ``postgres``, database
    ``postgres``) on a free port; data survives :meth:`stop`/:meth:`start`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bastion-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0
        self._initialised = False

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        cmd = [str(PG_BIN / argv[0]), *argv[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True)  # noqa: S603

    def _init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self._initialised = True

    def start(self) -> PrivatePostgres:
        if not self._initialised:
            self._init()
        if answers(self.port):
            return self
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                "-c full_page_writes=off -c shared_buffers=16MB "
                "-c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")
        _wait(self.port, up=True, within_s=10)
        return self

    def stop(self) -> None:
        """An immediate stop: clients see their connections drop, as in an outage."""
        if answers(self.port):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            _wait(self.port, up=False, within_s=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

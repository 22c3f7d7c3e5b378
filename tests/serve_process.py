"""``bastion serve`` as a real process: workers, signals, start-up and shutdown as an
operator sees them. Logs (stderr) go to a file the test reads."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bastion.testing.server import MASTER_KEY

from .private_services import free_port


class ServeProcess:
    """Run ``python -m bastion.cli serve`` with ``config`` (a dict, written as YAML)."""

    def __init__(self, config: dict[str, Any], tmp_path: Path, *, workers: int = 1,
                 env: dict[str, str] | None = None, name: str = "gw") -> None:
        self.port = free_port()
        self.config = config
        self.dir = tmp_path
        self.workers = workers
        self.config_path = tmp_path / f"{name}.yaml"
        self.log_path = tmp_path / f"{name}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION")}
        self.env.update({"BASTION_MASTER_KEY": MASTER_KEY, **(env or {})})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def start(self, wait: str | None = "banner", within_s: float = 30) -> ServeProcess:
        """Start; with ``wait="banner"`` return once the banner is printed, with
        ``"healthz"`` once ``/healthz`` answers, with None at once."""
        self.config_path.write_text(yaml.safe_dump(self.config))
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter and our module
            [sys.executable, "-m", "bastion.cli", "serve", "--config", str(self.config_path),
             "--port", str(self.port), "--workers", str(self.workers)],
            stdout=self._log, stderr=self._log, env=self.env, cwd=self.dir,
            start_new_session=True)
        if wait == "banner":
            self.wait_for(lambda: "Bastion listening" in self.logs(), within_s, "the banner")
        elif wait == "healthz":
            self.wait_for(self.healthy, within_s, "/healthz")
        return self

    def wait_for(self, cond: Any, within_s: float, what: str) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if cond():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"bastion serve exited ({self.proc.returncode}) before "
                                     f"{what}:\n{self.logs()[-4000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {within_s} s:\n{self.logs()[-4000:]}")

    def healthy(self) -> bool:
        try:
            return httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> int:
        return httpx.get(self.base_url + "/readyz", timeout=5).status_code

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON lines of the log (other lines are left out)."""
        out = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, self.base_url + path, json=body, timeout=10,
                             headers={"Authorization": f"Bearer {MASTER_KEY}"})

    def create_key(self, **spec: Any) -> tuple[str, str]:
        """``(id, key)`` of a new virtual key, made through the admin API."""
        r = self.admin("POST", "/admin/keys", {"name": "test", **spec})
        assert r.status_code == 201, r.text
        return r.json()["id"], r.json()["key"]

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        code = self.proc.returncode
        with contextlib.suppress(ProcessLookupError):  # workers a test orphaned
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def children(self) -> list[int]:
        """The pids of the server's child processes (its workers)."""
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

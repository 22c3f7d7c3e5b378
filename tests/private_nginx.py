"""nginx (Debian's package) as a test's own load balancer: the shipped
``deploy/compose/nginx.conf`` on a free loopback port, in front of replicas on loopback.

The server block is the shipped one, unchanged; only its ``listen`` port and the
``upstream`` servers are replaced, and it is wrapped in a main config of the test's
own (pid file, logs and temporary files in a temporary directory; an access log that
names every replica a request was tried on). Never the system's nginx service.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .private_services import _wait, free_port

NGINX = Path(os.environ.get("BASTION_TEST_NGINX", "/usr/sbin/nginx"))
SHIPPED = Path(__file__).resolve().parents[1] / "deploy" / "compose" / "nginx.conf"
_SERVER_LINE = re.compile(r"^\s*server\s+gateway-\d+:\d+([^;]*);\s*$", re.MULTILINE)
_LISTEN = re.compile(r"^(\s*)listen\s+8080;", re.MULTILINE)


def nginx_available() -> bool:
    return NGINX.exists() or shutil.which("nginx") is not None


def site_config(replica_ports: list[int], port: int) -> str:
    """The shipped site config with ``replica_ports`` as its replicas, listening on ``port``."""
    text = SHIPPED.read_text()
    params = _SERVER_LINE.findall(text)
    assert params, "no `server gateway-N:8787 ...;` lines in the shipped nginx.conf"
    servers = "".join(f"    server 127.0.0.1:{p}{params[0]};\n" for p in replica_ports)
    text = _SERVER_LINE.sub("", text, count=len(params))
    text = text.replace("upstream bastion {\n", "upstream bastion {\n" + servers, 1)
    text, n = _LISTEN.subn(rf"\1listen 127.0.0.1:{port};", text)
    assert n == 1, "no `listen 8080;` in the shipped nginx.conf"
    return text


class PrivateNginx:
    """nginx with the shipped site config in front of ``replica_ports``."""

    def __init__(self, replica_ports: list[int]) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bastion-nginx-"))
        self.dir.chmod(0o777)  # nginx's workers (nobody, when run as root) write temp files here
        self.replica_ports = replica_ports
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    def start(self) -> PrivateNginx:
        d = self.dir
        (d / "site.conf").write_text(site_config(self.replica_ports, self.port))
        (d / "nginx.conf").write_text(
            f"worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\n"
            f"error_log {d}/error.log info;\nevents {{ worker_connections 4096; }}\n"
            "http {\n"
            "  log_format tried '$status|$upstream_addr|$upstream_status';\n"
            f"  access_log {d}/access.log tried;\n"
            + "".join(f"  {kind}_temp_path {d}/{kind};\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"  include {d}/site.conf;\n}}\n")
        binary = str(NGINX) if NGINX.exists() else "nginx"
        check = subprocess.run([binary, "-t", "-q", "-p", str(d), "-c", str(d / "nginx.conf")],  # noqa: S603
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, f"nginx refused the config:\n{check.stderr}"
        self._proc = subprocess.Popen([binary, "-p", str(d), "-c", str(d / "nginx.conf")],  # noqa: S603
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self.port, up=True, within_s=10)
        return self

    def workers(self) -> set[int]:
        assert self._proc is not None
        path = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        return {int(p) for p in path.read_text().split()} if path.exists() else set()

    def reload(self, within_s: float = 10) -> None:
        """Re-read the config with fresh workers, which forget which replicas failed
        (a replica that was restarted gets traffic at once, not after ``fail_timeout``)."""
        assert self._proc is not None
        old = self.workers()
        self._proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + within_s
        while self.workers() & old or not self.workers():
            assert time.monotonic() < deadline, "nginx did not reload"
            time.sleep(0.02)

    def tried(self) -> list[tuple[int, list[str]]]:
        """Per request logged so far: the final status and the replicas tried, in order."""
        out = []
        for line in self.access_log.read_text().splitlines():
            status, addrs, _ = line.split("|")
            tried = [a.strip() for a in addrs.replace(" : ", ", ").split(",")]
            out.append((int(status), [a for a in tried if a and a != "-"]))
        return out

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGQUIT)  # graceful: let the worker finish
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

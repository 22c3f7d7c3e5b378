"""Supply chain (issue 9, finding 15): the tools the Makefile installs are pinned with
hashes, and CI audits the locks, saying so plainly when it cannot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_install_in_the_makefile_is_hashed() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [ln for ln in makefile.splitlines() if "pip install" in ln]
    assert installs
    for line in installs:
        assert "--require-hashes" in line or "--no-deps -e ." in line.replace(
            " --no-build-isolation", ""), line
    lock = (ROOT / "requirements-tools.lock").read_text()
    for tool in ("uv", "pip-audit"):
        pin = re.search(rf"^{tool}==[\w.]+ \\\n(\s+--hash=sha256:[0-9a-f]{{64}}.*\n)+", lock,
                        re.MULTILINE)
        assert pin, f"{tool} is not pinned with hashes"
    assert "uv pip compile" in makefile
    assert "$(TOOLS)/bin/uv pip compile" in makefile


def test_ci_runs_the_audit() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert "make audit" in run
    assert "audit: $(TOOLSTAMP)" in (ROOT / "Makefile").read_text()


class _Index(BaseHTTPRequestHandler):
    answer: tuple[int, bytes] = (404, b"")

    def do_GET(self) -> None:
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[tuple[str, type[_Index]]]:
    handler = type("Index", (_Index,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pypi", handler
    server.shutdown()


def audit(index_url: str, tool: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BASTION_AUDIT_INDEX": index_url,
           "PIP_AUDIT": str(tool or "/nonexistent/pip-audit")}
    return subprocess.run([sys.executable, str(ROOT / ".ci" / "audit.py")],  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_an_unreachable_database_is_said_and_does_not_fail() -> None:
    r = audit("http://127.0.0.1:9/pypi")  # nothing listens on the discard port
    assert r.returncode == 0
    assert "vulnerability audit SKIPPED" in r.stderr
    assert "NOT checked" in r.stderr


def test_a_database_without_our_versions_is_a_skip_not_a_pass(
        index: tuple[str, type[_Index]]) -> None:
    url, handler = index
    handler.answer = (404, b"{}")
    r = audit(url)
    assert r.returncode == 0
    assert "SKIPPED" in r.stderr
    assert "passed" not in r.stdout


def _fake_pip_audit(tmp_path: Path, deps: list[dict[str, object]]) -> Path:
    """Stands in for pip-audit (an external tool): writes the report it was asked for."""
    tool = tmp_path / "pip-audit"
    report = json.dumps({"dependencies": deps})
    tool.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"out = sys.argv[sys.argv.index('-o') + 1]\n"
                    f"open(out, 'w').write({report!r})\n"
                    f"sys.exit(1 if 'vulns\": [{{' in {report!r} else 0)\n")
    tool.chmod(0o755)
    return tool


def test_a_known_vulnerability_fails_the_build(index: tuple[str, type[_Index]],
                                               tmp_path: Path) -> None:
    url, handler = index
    handler.answer = (200, b'{"info": {}, "vulnerabilities": []}')
    tool = _fake_pip_audit(tmp_path, [
        {"name": "aiohttp", "version": "3.0.0", "vulns": [
            {"id": "GHSA-xxxx", "fix_versions": ["3.9.4"]}]},
        {"name": "msgspec", "version": "0.22.0", "vulns": []}])
    r = audit(url, tool)
    assert r.returncode == 1
    assert "VULNERABLE aiohttp 3.0.0: GHSA-xxxx (fixed in 3.9.4)" in r.stdout
    clean = _fake_pip_audit(tmp_path, [{"name": "msgspec", "version": "0.22.0", "vulns": []}])
    ok = audit(url, clean)
    assert ok.returncode == 0
    assert "vulnerability audit passed: 1 locked packages" in ok.stdout

"""Acceptance: a canary provider key placed in the environment never appears in any
response, any log line or any error, whatever the upstream does (401, 403, 429, 5xx,
a 400 that echoes the key, malformed JSON, cut and hanging streams, resets); the
provider's server does receive it; the client's virtual key never reaches the
provider. Also: SIGHUP makes a running gateway re-read a rotated key file.

The gateway runs as a real subprocess (``python -m bastion.cli serve``) with a
config file pointing at one FakeUpstream that speaks both OpenAI and Gemini; its
stdout and stderr (where the structured logs go, at debug level) are read back.
The canaries are deliberately not key-shaped (dots, short hex), so the log and
message redactors' patterns cannot be what saves them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bastion.testing import Behavior, FakeUpstream
from bastion.testing.upstream import OPENAI_ROUTES
from bastion.testing.upstream_gemini import GEMINI_ROUTES, gemini_error_body

MASTER = "canary-test-master-key-000111222333444"
TIMEOUTS = {"connect": 1000, "first_byte": 600, "total": 3000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    base: str
    proc: subprocess.Popen[bytes]
    logs: Path
    up: FakeUpstream
    canaries: dict[str, str]
    key_file: Path
    seen: list[str] = field(default_factory=list)  # every response, headers and body
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    def call(self, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        r = self.http.request(method, self.base + path, json=body,
                              headers={"Authorization": f"Bearer {token}"})
        self.seen.append(f"{r.status_code} {dict(r.headers)} {r.text}")
        return r


def _config(up: FakeUpstream, key_file: Path, port: int) -> dict[str, Any]:
    return {
        "admin": {"master_key": "env:BASTION_MASTER_KEY"},
        "state": {"database": "memory://"},
        "server": {"host": "127.0.0.1", "port": port},
        "logging": {"level": "debug", "format": "json"},
        "providers": {
            "oa": {"type": "openai", "base_url": up.base_url + "/v1",
                   "api_key": "env:OPENAI_API_KEY"},
            "gem": {"type": "gemini", "base_url": up.base_url, "api_key": "env:GEMINI_API_KEY"},
            "rot": {"type": "openai", "base_url": up.base_url + "/v1",
                    "api_key": f"file:{key_file}"},
        },
        "models": {
            "oa": {"targets": ["oa/gpt-4o-mini"], "timeout_ms": TIMEOUTS},
            "gem": {"targets": ["gem/gemini-2.5-flash"], "timeout_ms": TIMEOUTS},
            "rot": {"targets": ["rot/gpt-4o-mini"], "timeout_ms": TIMEOUTS},
            "oa-embed": {"targets": ["oa/text-embedding-3-small"], "kind": "embeddings"},
            "gem-embed": {"targets": ["gem/text-embedding-004"], "kind": "embeddings"},
        },
        "resilience": {"retry": {"max_attempts": 1}, "breaker": {"enabled": False}},
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("canary")
    canaries = {"OPENAI_API_KEY": f"canary.openai.{secrets.token_hex(8)}",
                "GEMINI_API_KEY": f"canary.gemini.{secrets.token_hex(8)}"}
    key_file = tmp / "rot.key"
    key_file.write_text("rot.old.key.0001\n")
    port = free_port()
    with FakeUpstream(routes={**OPENAI_ROUTES, **GEMINI_ROUTES}) as up:
        cfg = tmp / "bastion.yaml"
        cfg.write_text(yaml.safe_dump(_config(up, key_file, port)))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BASTION") and not k.endswith("_API_KEY")}
        env.update(canaries, BASTION_MASTER_KEY=MASTER)
        logs = tmp / "gateway.log"
        with logs.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "bastion.cli", "serve", "--config", str(cfg),
                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
        s = Served(f"http://127.0.0.1:{port}", proc, logs, up, canaries, key_file)
        try:
            _wait_ready(s)
            yield s
        finally:
            s.http.close()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_ready(s: Served) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if s.proc.poll() is not None:
            pytest.fail(f"the gateway exited: {s.logs.read_text()[-2000:]}")
        try:
            if s.http.get(s.base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("the gateway did not become ready in 30 s")


def _chat(s: Served, vkey: str, alias: str, stream: bool = False, **extra: Any) -> int:
    body = {"model": alias, "messages": [{"role": "user", "content": "tell me a long story"}],
            "stream": stream, **extra}
    return s.call("POST", "/v1/chat/completions", vkey, body).status_code


def _echo_400(alias: str, canary: str) -> Behavior:
    msg = f"Invalid request for key {canary}: something is off"
    if alias == "gem":
        return Behavior(kind="status", status=400, body=gemini_error_body(400, msg))
    return Behavior(kind="status", status=400,
                    body=json.dumps({"error": {"message": msg, "type": "x"}}).encode())


FAULTS: list[tuple[str, Behavior]] = [
    ("401", Behavior(kind="status", status=401)),
    ("403", Behavior(kind="status", status=403)),
    ("429", Behavior(kind="status", status=429, retry_after="1")),
    ("500", Behavior(kind="status", status=500)),
    ("503", Behavior(kind="status", status=503)),
    ("malformed", Behavior(kind="malformed")),
    ("reset", Behavior(kind="reset")),
    ("hang", Behavior(kind="hang", delay_s=1.2)),
]


def test_canary_never_leaks(served: Served) -> None:
    s, up = served, served.up
    vkey = s.call("POST", "/admin/keys", MASTER, {"name": "canary"}).json()["key"]
    for alias, var in (("oa", "OPENAI_API_KEY"), ("gem", "GEMINI_API_KEY")):
        assert _chat(s, alias=alias, vkey=vkey) == 200
        assert _chat(s, alias=alias, vkey=vkey, stream=True) == 200
        assert _chat(s, vkey, alias, tools=[{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {
                "q": {"type": "string"}}}}}]) == 200
        s.call("POST", "/v1/embeddings", vkey, {"model": f"{alias}-embed", "input": "x"})
        for name, b in [*FAULTS, ("echo", _echo_400(alias, s.canaries[var]))]:
            up.push(b)
            status = _chat(s, vkey, alias)
            assert status >= 400, (alias, name)
        for kind in ("cut_stream", "malformed", "hang"):
            up.push(Behavior(kind=kind, delay_s=1.2))  # type: ignore[arg-type]
            _chat(s, vkey, alias, stream=True)
        up.push(Behavior(kind="status", status=500))
        assert s.call("POST", "/v1/embeddings", vkey,
                      {"model": f"{alias}-embed", "input": "x"}).status_code == 503
    up.push(_echo_400("gem", s.canaries["GEMINI_API_KEY"]))
    up.script[-1].body = gemini_error_body(400, f"API key not valid: "
                                           f"{s.canaries['GEMINI_API_KEY']}", "API_KEY_INVALID")
    assert _chat(s, vkey, "gem") == 503
    for path in ("/metrics", "/readyz", "/v1/models", "/admin/keys"):
        s.call("GET", path, MASTER if path.startswith("/admin") else vkey)

    # the provider received its key, and only its key
    oa = [r for r in up.received if r.path.startswith("/v1/chat") or r.path == "/v1/embeddings"]
    gem = [r for r in up.received if r.path.startswith("/v1beta/")]
    assert oa
    assert gem
    assert {r.headers.get("Authorization") for r in oa} >= {
        f"Bearer {s.canaries['OPENAI_API_KEY']}"}
    assert {r.headers.get("x-goog-api-key") for r in gem} == {s.canaries["GEMINI_API_KEY"]}
    for r in up.received:
        sent = json.dumps(r.headers) + json.dumps(r.body) + r.path
        assert vkey not in sent
        assert MASTER not in sent

    # structlog's writer flushes every line: the file holds all the gateway said so far
    time.sleep(0.2)
    logs = s.logs.read_text()
    assert logs.count("upstream_failure") >= 10, "the failures were not logged: " + logs[-1500:]
    everything = "\n".join(s.seen) + "\n" + logs
    for canary in s.canaries.values():
        hex_part = canary.rsplit(".", 1)[1]
        for needle in (canary, hex_part, hex_part[:8], hex_part[-8:]):
            assert needle not in everything, f"{canary} leaked"
    assert vkey not in logs


def test_sighup_rereads_rotated_key(served: Served) -> None:
    s = served
    vkey = s.call("POST", "/admin/keys", MASTER, {"name": "rot"}).json()["key"]
    assert _chat(s, vkey, "rot") == 200
    assert s.up.received[-1].headers["Authorization"] == "Bearer rot.old.key.0001"
    s.key_file.write_text("rot.new.key.0002\n")
    assert _chat(s, vkey, "rot") == 200
    assert s.up.received[-1].headers["Authorization"] == "Bearer rot.old.key.0001"
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert _chat(s, vkey, "rot") == 200
        if s.up.received[-1].headers["Authorization"] == "Bearer rot.new.key.0002":
            return
        time.sleep(0.1)
    pytest.fail("the gateway kept the old key after SIGHUP")

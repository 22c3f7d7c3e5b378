"""Hot-path benchmark: Bastion's CPU per request against a plain aiohttp pass-through.

Runs, on this machine only (loopback):
  * an upstream that answers a canned OpenAI chat completion (core 1),
  * the system under test on core 0: a plain aiohttp+uvloop pass-through, then
    ``bastion serve`` (auth + meter + route + the OpenAI adapter, no guards),
  * ``wrk`` (Debian package) on core 1 as the load generator.
It reports requests/s and CPU milliseconds per request of the process on core 0
(from /proc/<pid>/stat), non-stream and stream.

    python bench/hotpath.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

CHAT = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! " * 20},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 60},
}
BODY = {"model": "chat", "messages": [{"role": "user", "content": "Say hello to me. " * 10}]}


TASKSET = shutil.which("taskset") or "/usr/bin/taskset"
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_upstream(port: int) -> None:
    import uvloop
    from aiohttp import web

    body = json.dumps(CHAT).encode()
    chunk = dict(CHAT, object="chat.completion.chunk")
    chunk["choices"] = [{"index": 0, "delta": {"content": "Hello! "}, "finish_reason": None}]
    frame = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    usage = {**chunk, "choices": [], "usage": CHAT["usage"]}
    tail = b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        req = await request.json()
        if not req.get("stream"):
            return web.Response(body=body, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(20):  # one token at a time, as a model sends them
            await resp.write(frame)
            await asyncio.sleep(0.001)
        await resp.write(tail)
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def run_passthrough(port: int, upstream: int) -> None:
    import aiohttp
    import uvloop
    from aiohttp import web

    async def make() -> web.Application:
        session = aiohttp.ClientSession()
        url = f"http://127.0.0.1:{upstream}/v1/chat/completions"

        async def proxy(request: web.Request) -> web.StreamResponse:
            data = await request.read()
            async with session.post(url, data=data,
                                    headers={"Content-Type": "application/json"}) as up:
                if up.content_type != "text/event-stream":
                    return web.Response(body=await up.read(), content_type="application/json")
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                return resp

        app = web.Application()
        app.router.add_post("/v1/chat/completions", proxy)
        return app

    uvloop.install()
    web.run_app(make(), host="127.0.0.1", port=port, print=None, access_log=None)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int, timeout: float = 20.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def wrk(port: int, key: str, body: dict[str, object], seconds: int, conns: int) -> float:
    script = textwrap.dedent(f"""
        wrk.method = "POST"
        wrk.body = {json.dumps(json.dumps(body))}
        wrk.headers["Content-Type"] = "application/json"
        wrk.headers["Authorization"] = "Bearer {key}"
    """)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(  # noqa: S603 - fixed argv, local tool
        [TASKSET, "-c", "1", WRK, "-t1", f"-c{conns}", f"-d{seconds}s", "-s", f.name,
         f"http://127.0.0.1:{port}/v1/chat/completions"],
        capture_output=True, text=True, check=True).stdout
    errors = [ln for ln in out.splitlines() if "Non-2xx" in ln or "Socket errors" in ln]
    if errors:
        print("   wrk:", "; ".join(errors))
    total = next(ln for ln in out.splitlines() if "requests in" in ln)
    return float(total.split()[0])


def settle(pid: int, cpu: Callable[[int], float] = cpu_seconds, timeout: float = 120.0) -> None:
    """Wait until ``pid`` is idle (under 5% of a core for 0.5 s).

    A slow server is still working on the requests wrk abandoned when it stopped;
    that CPU must not be billed to the next measurement.
    """
    end = time.time() + timeout
    last = cpu(pid)
    while time.time() < end:
        time.sleep(0.5)
        now = cpu(pid)
        if now - last < 0.025:
            return
        last = now


def measure(pid: int, port: int, key: str, body: dict[str, object], seconds: int,
            conns: int, cpu: Callable[[int], float] = cpu_seconds) -> tuple[float, float]:
    """Warm up 2 s, then return (requests/s, CPU ms/request as read by ``cpu(pid)``)."""
    wrk(port, key, body, 2, conns)  # warm-up
    settle(pid, cpu)
    c0 = cpu(pid)
    n = wrk(port, key, body, seconds, conns)
    c1 = cpu(pid)
    return n / seconds, (c1 - c0) / n * 1000


def listening(proc: subprocess.Popen[bytes], port: int) -> subprocess.Popen[bytes]:
    """Wait until ``proc`` listens on ``port``; stop it if it never does."""
    try:
        wait_port(port)
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    return proc


def start_upstream(port: int) -> subprocess.Popen[bytes]:
    """Start the canned upstream on core 1 and wait until it listens."""
    return listening(subprocess.Popen([TASKSET, "-c", "1", sys.executable,  # noqa: S603
                                       __file__, "--upstream", str(port)],
                                      stderr=subprocess.DEVNULL), port)


def start_bastion(tmp: Path, up_port: int, port: int,
                  extra: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """Start ``bastion serve`` on core 0 (config and database in ``tmp``); return it and a key.
    ``extra`` is more top-level YAML for the config (e.g. a ``guards:`` section)."""
    py = sys.executable
    cfg = tmp / "bastion.yaml"
    cfg.write_text(textwrap.dedent(f"""
        state: {{database: "sqlite:///{tmp}/b.db"}}
        logging: {{level: warning}}
        providers:
          up: {{type: openai, base_url: "http://127.0.0.1:{up_port}/v1",
                api_key: "env:UP_KEY"}}
        models:
          chat: {{targets: [up/gpt-4o-mini]}}
    """) + extra)
    env = {**os.environ, "UP_KEY": "sk-bench", "BASTION_KEY_HASH_SECRET": "bench"}
    key = subprocess.run(  # noqa: S603
        [py, "-m", "bastion.cli", "keys", "create", "--name", "bench", "--config", str(cfg)],
        env=env, capture_output=True, text=True, check=True).stdout.strip()
    gw = subprocess.Popen([TASKSET, "-c", "0", py, "-m", "bastion.cli", "serve",  # noqa: S603
                           "--config", str(cfg), "--port", str(port)], env=env,
                          stderr=subprocess.DEVNULL)
    return listening(gw, port), key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=128)
    args = ap.parse_args()
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("wrk and taskset are needed: apt-get install wrk util-linux")
    py = sys.executable
    up_port, pt_port, gw_port = free_port(), free_port(), free_port()
    quiet = {"stderr": subprocess.DEVNULL}
    procs = [start_upstream(up_port)]
    tmp = Path(tempfile.mkdtemp())
    results: list[tuple[str, float, float]] = []
    try:
        pt = subprocess.Popen([TASKSET, "-c", "0", py, __file__, "--passthrough",  # noqa: S603
                               str(pt_port), str(up_port)], **quiet)
        procs.append(pt)
        wait_port(pt_port)
        stream_body = {**BODY, "stream": True}
        results.append(("aiohttp pass-through",
                        *measure(pt.pid, pt_port, "x", BODY, args.seconds, args.connections)))
        results.append(("aiohttp pass-through, stream",
                        *measure(pt.pid, pt_port, "x", stream_body, args.seconds,
                                 args.connections)))
        pt.terminate()
        pt.wait()
        gw, key = start_bastion(tmp, up_port, gw_port)
        procs.append(gw)
        results.append(("bastion", *measure(gw.pid, gw_port, key, BODY, args.seconds,
                                            args.connections)))
        results.append(("bastion, stream", *measure(gw.pid, gw_port, key, stream_body,
                                                    args.seconds, args.connections)))
    finally:
        for p in procs:
            p.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{'system (core 0)':32} {'req/s':>9} {'CPU ms/req':>11}")
    for name, rps, cpu in results:
        print(f"{name:32} {rps:9.0f} {cpu:11.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--upstream":
        run_upstream(int(sys.argv[2]))
    elif len(sys.argv) > 3 and sys.argv[1] == "--passthrough":
        run_passthrough(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()

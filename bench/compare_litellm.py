"""The one benchmark command (``make bench``): Bastion against the naive pass-through,
direct-to-upstream and LiteLLM's proxy, in one run, on one machine, one table.

Layout on 2 cores: each system under test runs alone on core 0 (``taskset -c 0``), one
after the other; nginx (the canned provider, :mod:`perf.upstream`) and the load
generators share core 1. Every system gets the same request: a 1 KB prompt under a
system prompt, ``temperature`` 0.7 (so no cache answers), and its stream alias for
streams. Systems: direct (wrk straight to nginx: the floor every "added" figure is
measured against), the naive aiohttp + uvloop pass-through (the Python limit), Bastion
with every guard off, Bastion with the default guards (injection, output checks, tool
firewall, and PII once the privacy step exists: ``--guards-yaml`` sets another set),
and LiteLLM's proxy (its own venv, offline).

Per system, in order, each after the system is idle again:

1. **non-stream, closed loop**: wrk, ``--connections`` (8), ``--seconds`` (10): req/s,
   p50/p90/p99, CPU ms per request of the process tree (from /proc);
2. **non-stream, fixed rate**: ``--rate`` (500/s, at most half the system's closed-loop
   req/s, so LiteLLM is measured below its limit) paced by wrk's Lua script, latency
   from the intended send time (:mod:`perf.load` explains the method); "added" is the
   difference to direct's percentile at the same rate;
3. **stream, closed loop**: wrk on 20-token SSE answers: streams/s, total time, CPU µs per
   chunk (23 frames a stream);
4. **stream, fixed rate**: ``--stream-rate`` (100/s) through :mod:`perf.streams`: time
   to first byte (first ``data:`` event) and total, from the intended send time;
5. RSS of the process tree after the load; seconds until it listened.

LiteLLM's closed-loop window is ``--litellm-seconds`` (60): it serves tens of requests a
second, so a short window would be mostly the pipeline filling.

    .venv/bin/python bench/compare_litellm.py [--seconds 10] [--connections 8]
        [--rate 500] [--stream-rate 100] [--litellm-seconds 60] [--rounds 1]
        [--systems direct,passthrough,bastion,guards,litellm] [--guards-yaml FILE]
        [--venv /tmp/litellm-venv] [--extra PKG ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from perf import load, streams, systems
from perf.procs import process_count, settle, tree_cpu_seconds, tree_rss_mb
from perf.table import print_table
from perf.upstream import Upstream

HERE = Path(__file__).resolve().parent
BODY = {"temperature": 0.7, "messages": [
    {"role": "system", "content": "You are the support assistant of Example Inc. Answer "
                                  "briefly, politely and only about Example's products."},
    {"role": "user", "content": ("Could you please summarise our refund policy for annual "
                                 "plans and tell me how long a refund takes? ") * 10}]}
FRAMES_PER_STREAM = 23  # role, 20 tokens, finish, usage (and [DONE])
ALL = ("direct", "passthrough", "bastion", "guards", "litellm")


def closed(s: systems.System, stream: bool, seconds: float, conns: int, rounds: int
           ) -> tuple[load.Result, float | None]:
    """Warm up, then ``rounds`` closed-loop runs: the median one and its CPU ms/request."""
    url, body = s.url(stream), s.body(BODY, stream)
    load.run(url, body, s.key, 2, conns)
    runs = []
    for _ in range(rounds):
        if s.pid:
            settle(s.pid)
        c0 = tree_cpu_seconds(s.pid) if s.pid else 0.0
        r = load.run(url, body, s.key, seconds, conns)
        cpu = (tree_cpu_seconds(s.pid) - c0) / max(1, r.count) * 1000 if s.pid else None
        runs.append((r, cpu))
    return sorted(runs, key=lambda rc: rc[0].rps)[len(runs) // 2]


def measure(s: systems.System, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"name": s.name, "ready_s": s.ready_s}
    r, cpu = closed(s, False, seconds, args.connections, args.rounds)
    out["json_closed"], out["json_cpu_ms"] = asdict(r), cpu
    rate = min(args.rate, round(r.rps / 2))
    if s.pid:
        settle(s.pid)
    out["json_fixed"] = asdict(load.run(s.url(False), s.body(BODY, False), s.key, args.seconds,
                                        args.fixed_connections, rate=rate))
    r, cpu = closed(s, True, seconds, args.connections, args.rounds)
    out["sse_closed"] = asdict(r)
    out["sse_cpu_us_per_chunk"] = cpu * 1000 / FRAMES_PER_STREAM if cpu is not None else None
    if s.pid:
        settle(s.pid)
    srate = min(args.stream_rate, max(1, round(r.rps / 2)))
    out["sse_fixed"] = asdict(streams.run(s.url(True), s.body(BODY, True), s.key, srate,
                                          args.seconds))
    if s.pid:
        out["rss_mb"] = tree_rss_mb(s.pid)
        out["processes"] = process_count(s.pid)
    print(f"   {s.name}: done")
    return out


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    wanted = args.systems.split(",")
    exe = None
    if "litellm" in wanted:
        if HERE.parent in args.venv.resolve().parents:
            raise SystemExit("keep the LiteLLM venv outside the repository")
        exe, desc = systems.ensure_litellm(args.venv, args.extra)
        print(f"LiteLLM: {desc}; venv {args.venv}; 1 worker, offline")
    guards_on = args.guards_yaml.read_text() if args.guards_yaml else ""
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    results = []
    with Upstream() as up:
        if not up.echo:
            print("note: no libnginx-mod-http-echo: SSE frames arrive in one write")
        starters = {
            "direct": lambda: systems.direct(up),
            "passthrough": lambda: systems.passthrough(up),
            "bastion": lambda: systems.bastion(up, tmp, None),
            "guards": lambda: systems.bastion(up, tmp, guards_on),
            "litellm": lambda: systems.litellm(up, tmp, exe) if exe else None,
        }
        for name in (n for n in ALL if n in wanted):
            s = starters[name]()
            if s is None:
                continue
            try:
                secs = args.litellm_seconds if name == "litellm" else args.seconds
                results.append(measure(s, args, secs))
            finally:
                s.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=8, help="closed loop")
    ap.add_argument("--fixed-connections", type=int, default=16, help="fixed rate")
    ap.add_argument("--rate", type=float, default=500, help="non-stream fixed rate, req/s")
    ap.add_argument("--stream-rate", type=float, default=100, help="streams/s, fixed rate")
    ap.add_argument("--litellm-seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=1, help="closed-loop runs per case (median)")
    ap.add_argument("--systems", default=",".join(ALL))
    ap.add_argument("--guards-yaml", type=Path, default=None,
                    help="a `guards:` section for the guarded Bastion (default: the defaults)")
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir(), "litellm-venv"))
    ap.add_argument("--extra", action="append", default=[], help="more pip packages for it")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("wrk and taskset are needed: apt-get install wrk util-linux")
    results = run_all(args)
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

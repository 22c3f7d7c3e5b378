"""Thousands of streams open at once on one worker (issue target: 5,000 concurrent 3-second
streams: all complete, at most 30 KB per open stream, ``/healthz`` lag p99 at most 50 ms).

``bastion serve`` (one worker, guards off unless ``--guards``) alone on core 0; nginx
streams 30 token frames 0.1 s apart (3 s an answer, ``/slow`` in :mod:`perf.upstream`),
and the client and the ``/healthz`` prober run on core 1 (:mod:`perf.crowd`). The client
opens ``--streams`` streams over ``--ramp`` seconds (shorter than a stream, so all are
open together), reads each to its end and counts those that completed. Meanwhile the
gateway's RSS is sampled every 0.1 s: memory per open stream is (peak - idle before) /
(most streams open at once). The prober's ``/healthz`` round trips bound the gateway's
event-loop lag from above (they also wait for core 1, which the client and nginx keep busy).

    .venv/bin/python bench/concurrency.py [--streams 5000] [--ramp 1.0] [--guards]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from perf import systems
from perf.procs import LOAD_CORE, pinned, settle, tree_rss_mb
from perf.upstream import Upstream

CROWD = Path(__file__).resolve().parent / "perf" / "crowd.py"
BODY = {"model": "chat-slow", "stream": True, "temperature": 0.7,
        "messages": [{"role": "user", "content": "Tell me a story about a lighthouse."}]}


def helper(what: str, args: dict[str, object]) -> subprocess.Popen[str]:
    return subprocess.Popen(pinned(LOAD_CORE, [sys.executable, str(CROWD), what,  # noqa: S603
                                               json.dumps(args)]),
                            stdout=subprocess.PIPE, text=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=5000)
    ap.add_argument("--ramp", type=float, default=1.0)
    ap.add_argument("--guards", action="store_true", help="the default guards on")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-crowd-"))
    with Upstream() as up:
        if not up.echo:
            raise SystemExit("needs Debian's libnginx-mod-http-echo for paced streams")
        cfg = systems.bastion_config(up, tmp, "" if args.guards else systems.GUARDS_OFF,
                                     aliases="  chat-slow: {targets: [slow/gpt-4o-mini]}\n")
        s = systems.start_bastion(cfg, "bastion")
        assert s.pid is not None
        try:
            with httpx.Client(timeout=30) as c:  # warm up: a few streams, then idle
                for _ in range(3):
                    c.post(s.url(True), json=BODY, headers={"Authorization": f"Bearer {s.key}"})
            settle(s.pid)
            idle = tree_rss_mb(s.pid)
            port = int(s.base.rsplit(":", 1)[1])
            prober = helper("probe", {"port": port, "every_s": 0.02})
            crowd = helper("crowd", {"url": s.url(True), "key": s.key, "body": BODY,
                                     "n": args.streams, "ramp_s": args.ramp, "frames": 30})
            peak, started = idle, time.monotonic()
            while crowd.poll() is None:
                peak = max(peak, tree_rss_mb(s.pid))
                time.sleep(0.1)
            took = time.monotonic() - started
            prober.send_signal(signal.SIGTERM)
            lag = json.loads(prober.communicate(timeout=30)[0])
            result = json.loads(crowd.communicate()[0])
            after = tree_rss_mb(s.pid)
        finally:
            s.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    complete = result["statuses"].get("complete", 0)
    per_stream_kb = (peak - idle) * 1024 / max(1, result["peak_open"])
    print(f"\n{args.streams} streams of 30 frames over 3 s, opened over {args.ramp} s, "
          f"one worker on core {systems.SUT_CORE}, guards {'on' if args.guards else 'off'}")
    print(f"  completed        {complete} of {args.streams} "
          f"({100 * complete / args.streams:.1f} %); all outcomes {result['statuses']}")
    print(f"  most open at once (client side)  {result['peak_open']}")
    for outcome, text in result["samples"].items():
        print(f"  one {outcome} answer ended: {text!r}")
    print(f"  stream duration  p50 {result['p50_s']:.2f} s, p99 {result['p99_s']:.2f} s; "
          f"whole run {took:.1f} s")
    print(f"  RSS              idle {idle:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB: "
          f"{per_stream_kb:.1f} KB per open stream")
    print(f"  /healthz         p50 {lag['p50_ms']:.1f} ms, p99 {lag['p99_ms']:.1f} ms, "
          f"max {lag['max_ms']:.1f} ms over {lag['probes']} probes "
          f"({lag['failures']} failed)")


if __name__ == "__main__":
    main()

"""Memory under a long mixed load (issue target: after warm-up RSS grows by at most 10 %
and ends at most 100 MB per worker).

``bastion serve`` (one worker, the default guards, an exact cache bounded at
``--cache-entries`` so it churns) alone on core 0, in front of nginx; :mod:`perf.mix`
sends ``--rate`` requests a second for ``--duration`` seconds (default 600) from core 1:
cache misses and hits, streams, clients that leave mid-stream or before the answer,
providers that fail (503s, dropped connections: the route retries and falls back),
oversized prompts and wrong keys. The gateway's RSS (whole process tree) is read every
``--every`` seconds (10). Growth is measured from the end of ``--warmup`` (60 s).

    .venv/bin/python bench/soak.py [--duration 600] [--rate 100] [--every 10] [--csv OUT]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perf import systems
from perf.procs import LOAD_CORE, pinned, tree_rss_mb
from perf.upstream import Upstream

MIX = Path(__file__).resolve().parent / "perf" / "mix.py"
ALIASES = ("  flaky: {targets: [flaky/gpt-4o-mini, json/gpt-4o-mini]}\n"
           "  dropper: {targets: [drop/gpt-4o-mini, json/gpt-4o-mini]}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--cache-entries", type=int, default=2000)
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    samples: list[tuple[float, float]] = []
    with Upstream() as up:
        extra = (f"cache: {{max_entries: {args.cache_entries}}}\n"
                 "security: {auth_throttle: {client_address_header: X-Real-IP}}\n")
        cfg = systems.bastion_config(up, tmp, extra, aliases=ALIASES)
        s = systems.start_bastion(cfg, "bastion", log=tmp / "gateway.log")
        assert s.pid is not None
        try:
            samples.append((0.0, tree_rss_mb(s.pid)))
            client = subprocess.Popen(pinned(LOAD_CORE, [  # noqa: S603
                sys.executable, str(MIX), json.dumps({
                    "base": s.base, "key": s.key, "rate": args.rate,
                    "seconds": args.duration})]), stdout=subprocess.PIPE, text=True)
            start = time.monotonic()
            while client.poll() is None:
                time.sleep(min(args.every, 1.0))
                now = time.monotonic() - start
                if now - samples[-1][0] >= args.every:
                    samples.append((now, tree_rss_mb(s.pid)))
                    print(f"   {now:6.0f} s  {samples[-1][1]:7.1f} MB", flush=True)
            outcomes = json.loads(client.communicate()[0])
            samples.append((time.monotonic() - start, tree_rss_mb(s.pid)))
            alive = s.proc is not None and s.proc.poll() is None
            errors = sum('"level":"error"' in ln for ln in
                         (tmp / "gateway.log").read_text(errors="replace").splitlines())
        finally:
            s.stop()
    if args.csv:
        args.csv.write_text("seconds,rss_mb\n" + "".join(f"{t:.0f},{m:.1f}\n"
                                                         for t, m in samples))
    shutil.rmtree(tmp, ignore_errors=True)
    warm = next((m for t, m in samples if t >= args.warmup), samples[-1][1])
    last, top = samples[-1][1], max(m for _, m in samples)
    total = sum(outcomes.values())
    print(f"\nsoak: {args.duration:.0f} s at {args.rate:.0f} req/s ({total} requests), "
          f"one worker on core {systems.SUT_CORE}, default guards, "
          f"cache bounded at {args.cache_entries} entries")
    print(f"  RSS  start {samples[0][1]:.1f} MB, after warm-up ({args.warmup:.0f} s) "
          f"{warm:.1f} MB, end {last:.1f} MB, max {top:.1f} MB: "
          f"growth after warm-up {100 * (last - warm) / warm:+.1f} %")
    print(f"  gateway alive at the end: {alive}; error lines in its log: {errors}")
    print("  outcomes: " + ", ".join(f"{k}: {v}" for k, v in outcomes.items()))


if __name__ == "__main__":
    main()

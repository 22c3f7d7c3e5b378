"""``bastion serve --workers 2`` against ``--workers 1`` (issue target: at least 1.7x the
throughput on 2 cores).

Nothing is pinned here: the gateway's workers, nginx (the canned provider) and wrk share
the machine's cores, as they must on a 2-core machine. So the req/s ratio also pays for
the load generator and the upstream taking CPU from the second worker; the CPU per request
of the gateway's process tree (supervisor, workers, and the ledger process without Redis)
says whether a second worker costs more per request. A fair scaling figure needs more
cores than the gateway uses.

    .venv/bin/python bench/workers.py [--seconds 10] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from compare_litellm import BODY
from perf import load, systems
from perf.procs import process_count, settle, tree_cpu_seconds, tree_rss_mb
from perf.upstream import Upstream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    rows = []
    with Upstream() as up:
        for workers in (1, 2):
            sub = tmp / f"w{workers}"
            sub.mkdir()
            cfg = systems.bastion_config(up, sub, systems.GUARDS_OFF)
            s = systems.start_bastion(cfg, f"--workers {workers}", workers, core=None)
            try:
                url, body = s.url(False), s.body(BODY, False)
                load.run(url, body, s.key, 2, args.connections, core=None, threads=2)
                rps, cpu = [], []
                for _ in range(args.rounds):
                    assert s.pid is not None
                    settle(s.pid)
                    c0 = tree_cpu_seconds(s.pid)
                    r = load.run(url, body, s.key, args.seconds, args.connections, core=None,
                                 threads=2)
                    rps.append(r.rps)
                    cpu.append((tree_cpu_seconds(s.pid) - c0) / max(1, r.count) * 1000)
                assert s.pid is not None
                rows.append((s.name, statistics.median(rps), statistics.median(cpu),
                             process_count(s.pid), tree_rss_mb(s.pid)))
            finally:
                s.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nnon-stream, 1 KB prompt, guards off, wrk -t2 -c{args.connections}, "
          f"{args.seconds:.0f} s x {args.rounds} (median); nothing pinned")
    print(f"{'':14} {'req/s':>8} {'CPU ms/req':>11} {'processes':>9} {'RSS MB':>8}")
    for name, rps_, cpu_, procs, rss in rows:
        print(f"{name:14} {rps_:8.0f} {cpu_:11.3f} {procs:9d} {rss:8.1f}")
    print(f"2 workers / 1 worker: {rows[1][1] / rows[0][1]:.2f}x req/s, "
          f"{rows[1][2] / rows[0][2]:.2f}x CPU per request")


if __name__ == "__main__":
    main()

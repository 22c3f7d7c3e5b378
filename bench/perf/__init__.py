"""Parts of the performance benchmarks (``make bench`` and friends, see ``docs/performance.md``).

* :mod:`perf.upstream` - nginx (Debian) as the canned provider: JSON, SSE, slow streams, failures;
* :mod:`perf.load` - wrk, closed-loop and at a fixed rate measured from the intended send time;
* :mod:`perf.streams` - a fixed-rate SSE client: time to first byte and total;
* :mod:`perf.procs` - processes: ports, core pinning, CPU and RSS of a process tree;
* :mod:`perf.systems` - the systems under test: direct, the naive pass-through, Bastion, LiteLLM;
* :mod:`perf.table` - the one table;
* :mod:`perf.crowd`, :mod:`perf.mix`, :mod:`perf.passthrough` - helper processes (crowds of
  streams and the `/healthz` prober, the soak's mixed client, the naive pass-through),
  with :mod:`perf.child`.

The scripts in ``bench/`` import these as ``perf.*`` (a script's own folder is on ``sys.path``).
"""

"""What a semantic lookup adds to a request, and what the index holds in memory.

The real lookup (:meth:`SemanticLookup.probe`: read the request, embed the question
with the local ONNX model, search the in-memory index, verify the candidates) is
timed on one core (the process is pinned to CPU 0), for misses (a question on a
topic the cache holds, but not asked before: candidates are found and refused)
and hits (a rewording of a cached question), with one tenant's partition holding
``--entries`` entries (default 10,000 and 100,000). Wall time is what a request waits; CPU time (the
whole process, the embedder's thread included) is what the lookup costs, and is
the figure to trust on a shared, loaded machine. Memory is the index's own
(vectors, projections and items with their word vectors, measured with
tracemalloc) per 10,000 entries.

The questions are made from templates ("How do I <verb> my <thing>?"); 3,000
distinct ones are embedded, and larger partitions reuse their vectors with a little
noise (their text is kept, so the verifier does its full work).

    python bench/semantic_cache_latency.py [--entries 10000 100000] [--lookups 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import tracemalloc
from typing import Any

from bastion.cache.semantic.embedder import LocalEmbedder, load_local_model
from bastion.cache.semantic.lookup import SemanticLookup
from bastion.cache.semantic.minilm import numpy_module
from bastion.cache.semantic.store import MemoryVectorStore
from bastion.cache.semantic.verifier import Verifier
from bastion.core.context import Context
from bastion.core.types import ChatRequest, Message

VERBS = ("reset", "update", "cancel", "renew", "change", "download", "share", "delete",
         "upgrade", "transfer", "close", "freeze", "verify", "replace", "export")
THINGS = ("password", "account", "subscription", "card", "address", "plan", "invoice",
          "policy", "booking", "order", "profile", "phone number", "email", "payment method",
          "direct debit", "membership", "licence", "passport", "parcel", "ticket", "router",
          "contract", "pension", "mortgage", "tenancy", "meter reading", "statement", "pin",
          "username", "voucher", "warranty", "prescription", "appointment", "loan", "isa",
          "insurance", "broadband", "tariff", "bill", "refund", "claim", "reservation",
          "locker", "car tax", "driving licence", "library card", "gift card", "season ticket",
          "standing order", "savings pot")
FORMS = ("How do I {v} my {t}?", "Can I {v} my {t} online?", "Where do I {v} my {t}?",
         "What happens if I {v} my {t}?")
REWORD = {"How do I {v} my {t}?": "how can i {v} my {t}"}
HELD_OUT = ("vehicle", "bike", "wallet", "laptop", "kettle", "sofa", "boiler", "garden")


def ctx(text: str) -> Context:
    return Context(request=ChatRequest(model="chat", temperature=0,
                                       messages=[Message(role="user", content=text)]),
                   request_id="bench")


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))] * 1000


async def fill(lookup: SemanticLookup, store: MemoryVectorStore, n: int,
               questions: list[str], vecs: dict[str, Any], words: dict[str, bytes]) -> None:
    np = numpy_module()

    rng = np.random.default_rng(1)
    reading = await lookup.probe(ctx(questions[0]), "tenant", lookup=False)
    assert reading is not None
    for i in range(n):
        q = questions[i % len(questions)]
        v = vecs[q] + (0.02 * rng.standard_normal(len(vecs[q])) if i >= len(questions) else 0)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        await store.add(reading.partition, v.tolist(), f"e{i}", q, "", 3600, words[q])


async def run(args: argparse.Namespace) -> int:
    np = numpy_module()  # one BLAS thread, as in the gateway

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    embedder = LocalEmbedder()
    await embedder.start()
    questions = [f.format(v=v, t=t) for f in FORMS for v in VERBS for t in THINGS]
    model = load_local_model()  # the corpus is embedded in batches, outside the lookup
    vecs: dict[str, Any] = {}
    words: dict[str, bytes] = {}
    for i in range(0, len(questions), 64):
        chunk = questions[i:i + 64]
        out, packed = model.embed_words_batch(chunk)
        for q, v, w in zip(chunk, out, packed, strict=True):
            vecs[q] = np.asarray(v, dtype=np.float32)
            words[q] = w
    verifier = Verifier()
    misses = [f.format(v=v, t=t) for f in FORMS for v in VERBS for t in HELD_OUT]
    hits = [REWORD[FORMS[0]].format(v=v, t=t) for v in VERBS for t in THINGS]
    print(f"{len(questions)} distinct questions embedded; one core; "
          f"threshold {verifier.threshold_for(0.01):.2f}")
    for n in args.entries:
        store = MemoryVectorStore(n + 1)
        lookup = SemanticLookup(embedder, "local", store, b"bench", floor=0.5,
                                verifier=verifier, threshold=verifier.threshold_for(0.01),
                                max_chars=2000)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await fill(lookup, store, n, questions, vecs, words)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        for name, pool, want in (("miss", misses, False), ("hit", hits, True)):
            times: list[float] = []
            cpu: list[float] = []
            served = 0
            for i in range(args.lookups):
                q = pool[i % len(pool)]
                t0, c0 = time.perf_counter(), time.process_time()
                probe = await lookup.probe(ctx(q), "tenant")
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                served += probe is not None and probe.match is not None
            print(f"  {n:>7} entries, {name:4}: wall p50 {pct(times, 0.5):.2f} ms, "
                  f"p99 {pct(times, 0.99):.2f} ms; CPU p50 {pct(cpu, 0.5):.2f} ms, "
                  f"p99 {pct(cpu, 0.99):.2f} ms, mean {statistics.mean(cpu) * 1000:.2f} ms"
                  f" ({served}/{args.lookups} served, expected {'all' if want else 'none'})")
        print(f"  {n:>7} entries: index memory {held / 1e6:.1f} MB "
              f"= {held / n * 10_000 / 1e6:.1f} MB per 10,000 entries")
        await store.aclose()
    await embedder.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--lookups", type=int, default=400)
    return asyncio.run(run(ap.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

"""The semantic cache: questions that ask the same thing share an answer, verified.

Parts, in the order a lookup uses them:

* :mod:`.context`: reads a request as (partition, question, context), so only
  requests with the same system prompt, tools and parameters are compared, and a
  question that depends on its conversation needs the same context;
* :mod:`.embedder` (:mod:`.onnx_minilm`, :mod:`.minilm`): the question's vector,
  batched, in a worker thread;
* :mod:`.store` (memory) and :mod:`.pgvector` (PostgreSQL): the nearest cached
  questions of the partition;
* :mod:`.verifier` over :mod:`.text`, :mod:`.lexicon` and :mod:`.structure`:
  decides whether a cached question asks the same, within the alias's error budget;
* :mod:`.shadow`: re-asks a sample of hits in the background, measures the wrong
  rate and moves the thresholds;
* :mod:`.lookup`: ties them together for the cache step.

When a dependency is down: an embedder that cannot answer, or a store that is slow
or unreachable, is a semantic miss, never a failed request.
"""

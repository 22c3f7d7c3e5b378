"""The cache's parts on their own: key, memory LRU, stream assembler."""

from __future__ import annotations

import asyncio

from bastion.cache.assemble import StreamAssembler
from bastion.cache.key import cache_key, canonical_bytes, tenant_scope
from bastion.cache.memory import MemoryBackend
from bastion.core.context import Identity
from bastion.core.types import ChatChunk, ChatRequest, ChunkChoice, Delta, chat_request_decoder


def req(body: str) -> ChatRequest:
    return chat_request_decoder.decode(body.encode())


def test_canonical_hash_ignores_order_and_transport_fields() -> None:
    a = req('{"model":"m","temperature":0,"messages":[{"role":"user","content":"x"}]}')
    b = req('{"messages":[{"content":"x","role":"user"}],"temperature":0,"model":"m",'
            '"stream":true,"user":"u1","metadata":{"a":"b"}}')
    c = req('{"model":"m","temperature":0,"seed":1,"messages":[{"role":"user","content":"x"}]}')
    assert canonical_bytes(a) == canonical_bytes(b)
    assert canonical_bytes(a) != canonical_bytes(c)
    fp = b"12345678"
    assert cache_key("t:red", fp, canonical_bytes(a)) != cache_key("t:blue", fp, canonical_bytes(a))


def test_scopes() -> None:
    i = Identity(key_id="k1", user="u", team="t")
    assert tenant_scope(i, "team") == "t:t"
    assert tenant_scope(i, "user") == "u:u"
    assert tenant_scope(i, "key") == "k:k1"
    assert tenant_scope(Identity(key_id="k2"), "team") == "k:k2"
    assert tenant_scope(None, "global") == "g"


def test_memory_backend_bounds_and_ttl() -> None:
    async def run() -> None:
        m = MemoryBackend(max_entries=3, max_bytes=10_000)
        for i in range(5):
            await m.set(f"k{i}", b"x" * 10, 60)
        assert len(m) == 3
        assert await m.get("k0") is None
        await m.get("k2")  # now most recently used
        await m.set("k5", b"y", 60)
        assert await m.get("k2") == b"x" * 10
        assert await m.get("k3") is None
        small = MemoryBackend(max_entries=100, max_bytes=1024)
        for i in range(50):
            await small.set(f"k{i}", b"z" * 100, 60)
        assert small.bytes_used <= 1024
        await small.set("big", b"z" * 2000, 60)
        assert await small.get("big") is None
        await small.set("short", b"s", 0.05)
        await asyncio.sleep(0.1)
        assert await small.get("short") is None

    asyncio.run(run())


def chunk(delta: Delta | None = None, finish: str | None = None) -> ChatChunk:
    return ChatChunk(id="c1", model="m", choices=[ChunkChoice(
        delta=delta or Delta(), finish_reason=finish)])


def test_assembler_needs_a_finish_reason_and_a_size_limit() -> None:
    asm = StreamAssembler(1000)
    asm.add(chunk(Delta(role="assistant", content="")))
    asm.add(chunk(Delta(content="Hello ")))
    asm.add(chunk(Delta(content="world")))
    assert asm.result() is None  # not finished
    asm.add(chunk(finish="stop"))
    out = asm.result()
    assert out is not None
    assert out.choices[0].message.content == "Hello world"
    big = StreamAssembler(8)
    big.add(chunk(Delta(content="far too long for the limit")))
    big.add(chunk(finish="stop"))
    assert big.result() is None

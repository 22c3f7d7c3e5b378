"""The in-memory vector index: exact below FLAT_MAX, projected and re-ranked above."""

from __future__ import annotations

import asyncio

import pytest

from bastion.cache.semantic import store as store_module
from bastion.cache.semantic.store import MemoryVectorStore

np = pytest.importorskip("numpy")


def unit(rng: object, n: int, d: int = 32) -> object:
    m = rng.standard_normal((n, d)).astype(np.float32)  # type: ignore[attr-defined]
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_a_large_partition_is_projected_and_still_finds_its_neighbours(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "FLAT_MAX", 256)
    rng = np.random.default_rng(7)
    vecs = unit(rng, 1200)

    async def go() -> None:
        s = MemoryVectorStore(10_000)
        for i, v in enumerate(vecs):
            await s.add("p", v.tolist(), f"k{i}", f"q{i}", "", 60)
        part = s._parts["p"]
        assert part.reduced is not None  # past FLAT_MAX: projected
        for i in (0, 599, 1199):
            noisy = vecs[i] + 0.05 * unit(rng, 1)[0]
            found = await s.nearest("p", (noisy / np.linalg.norm(noisy)).tolist(), 3, 0.5)
            assert found[0].entry_key == f"k{i}"
            assert found[0].question == f"q{i}"
        assert await s.nearest("other", vecs[0].tolist(), 3, 0.5) == []

    asyncio.run(go())


def test_bounds_replacement_expiry_and_entry_thresholds() -> None:
    rng = np.random.default_rng(3)
    vecs = unit(rng, 40)

    async def go() -> None:
        s = MemoryVectorStore(30)
        for i, v in enumerate(vecs[:35]):
            await s.add(f"p{i % 2}", v.tolist(), f"k{i}", "q", "", 60)
        assert len(s) == 30
        await s.add("p0", vecs[0].tolist(), "k34", "q", "", 60)  # replaces, never duplicates
        assert len(s) == 30
        await s.set_threshold("p0", "k34", 0.9)
        found = await s.nearest("p0", vecs[0].tolist(), 1, 0.99)
        assert found[0].entry_key == "k34"
        assert found[0].threshold == 0.9
        await s.add("p0", vecs[39].tolist(), "gone", "q", "", -1)  # already expired
        assert await s.nearest("p0", vecs[39].tolist(), 1, 0.99) == []

    asyncio.run(go())


async def test_an_entry_keeps_its_word_vectors() -> None:
    s = MemoryVectorStore(10)
    await s.add("p", [1.0, 0.0], "k", "How do I reset my router?", "", 60, b"router\x00\x01")
    (found,) = await s.nearest("p", [1.0, 0.0], 1, 0.5)
    assert found.words == b"router\x00\x01"
    await s.add("p", [0.0, 1.0], "old", "q", "", 60)  # an entry written without them
    assert (await s.nearest("p", [0.0, 1.0], 1, 0.5))[0].words == b""

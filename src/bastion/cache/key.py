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

The semantic cache partitions by the same hash over the request without its
conversation (see :mod:`bastion.cache.semantic.context`), shaping included.
"""

from __future__ import annotations

import hashlib

import msgspec

from bastion.config.cache_settings import CacheScope
from bastion.core.context import Context, Identity
from bastion.core.types import ChatRequest

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


def alias_fingerprint(alias: str, targets: list[str], system_prompt: str | None = None
                      ) -> bytes:
    """A short digest of an alias's configuration that, when changed, empties its cache:
    its name, targets and server-side system prompt."""
    parts = [alias, *targets] + ([] if system_prompt is None else ["\0sys", system_prompt])
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).digest()


def cache_key(scope: str, fingerprint: bytes, canonical: bytes) -> str:
    """The exact-match key (hex, 32 characters)."""
    h = hashlib.blake2b(KEY_VERSION, digest_size=16)
    h.update(b"\0" + scope.encode() + b"\0" + fingerprint + b"\0")
    h.update(canonical)
    return h.hexdigest()


def is_deterministic(req: ChatRequest) -> bool:
    """Cached by default: temperature 0 or a fixed seed."""
    return req.temperature == 0 or req.seed is not None

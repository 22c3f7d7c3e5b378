"""Detectors that need context: bare tokens near a provider name, and generic
``NAME = "value"`` assignments whose name says "secret" and whose value is random.

Both are triggered by keywords found in the lowercased buffer, so buffers
without those words cost one substring search per keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .buffer import BufferView
from .detectors import Match
from .heuristics import (
    has_hash_context,
    is_env_reference,
    is_hex,
    is_placeholder,
    is_sri_digest,
    is_uuid,
    looks_random,
)


@dataclass(frozen=True, slots=True)
class ContextRule:
    """A bare-token format recognised only near one of ``keywords``."""

    detector: str
    keywords: tuple[bytes, ...]
    token: re.Pattern[bytes]
    lines: int
    chars: int
    hex_token: bool


def _bare(body: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![A-Za-z0-9_\-/+.])" + body + rb"(?![A-Za-z0-9_\-/+=.])")


CONTEXT_RULES: tuple[ContextRule, ...] = (
    ContextRule("mistral-api-key", (b"mistral",), _bare(rb"[A-Za-z0-9]{32}"), 5, 2000, False),
    ContextRule(
        "cohere-api-key", (b"cohere", b"co_api_key"), _bare(rb"[A-Za-z0-9]{40}"), 5, 2000, False
    ),
    ContextRule("together-api-key", (b"together",), _bare(rb"[0-9a-f]{64}"), 5, 2000, True),
    ContextRule(
        "azure-openai-key",
        (b"azure",),
        _bare(rb"(?:[0-9a-fA-F]{32}|[A-Za-z0-9]{84})"),
        15,
        4000,
        True,
    ),
)

_MAX_KEYWORD_HITS = 5000


def _hits(low: bytes, keyword: bytes) -> list[int]:
    out: list[int] = []
    i = low.find(keyword)
    while i != -1 and len(out) < _MAX_KEYWORD_HITS:
        out.append(i)
        i = low.find(keyword, i + len(keyword))
    return out


def _token_ok(view: BufferView, rule: ContextRule, pos: int, value: str) -> bool:
    if is_hex(value):
        if not rule.hex_token or not looks_random(value, strict=True):
            return False
        return not has_hash_context(view.line_text(pos, limit=120))
    if not looks_random(value, strict=True):
        return False
    return any(c.isupper() for c in value) and any(c.islower() for c in value)


def scan_context(view: BufferView) -> list[Match]:
    """Run every context rule whose keyword occurs in the buffer."""
    out: list[Match] = []
    low = view.low
    for rule in CONTEXT_RULES:
        seen: set[int] = set()
        last_hi = -1
        for keyword in rule.keywords:
            for hit in _hits(low, keyword):
                lo, hi = view.window(hit, lines=rule.lines, chars=rule.chars)
                lo = max(lo, last_hi)
                if lo >= hi:
                    continue
                last_hi = hi
                for m in rule.token.finditer(view.data, lo, hi):
                    if m.start() in seen:
                        continue
                    value = m.group().decode("ascii")
                    if _token_ok(view, rule, m.start(), value):
                        seen.add(m.start())
                        out.append(Match(rule.detector, value, m.start(), m.end()))
    return out


# --- generic assignments -------------------------------------------------------

GENERIC_KEYWORDS = (b"key", b"token", b"secret", b"passw")
_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
# Applied to the lowercased buffer; spans are then read from the original bytes.
_ASSIGN_TAIL = (
    rb"""(?P<name>[a-z0-9_.\-]*+)['"]?\]?[ \t]{0,4}(?:"""
    rb"""(?::[ \t]*[a-z_][\w\[\]|. ]{0,30}?[ \t]*=|:=|=>|\?\?=|[:=])[ \t]{0,8}"""
    rb"""(?:(?P<q>['"`])(?P<quoted>[^\s'"`\\]{16,300})(?P=q)"""
    rb"""|(?P<bare>[^\s'"`,;#()\[\]{}<>\\]{16,300})(?=[\s,;)}\]#]|\Z))"""
    rb"""|['"]?>[ \t]*(?P<xml>[^\s<>]{16,300})[ \t]*</)"""
)
_GENERIC_RES = tuple(re.compile(k + _ASSIGN_TAIL) for k in GENERIC_KEYWORDS)
_DOTTED_IDENT_RE = re.compile(r"[A-Za-z_]\w{0,23}(?:\.[A-Za-z_]\w{0,23})+")
_SPLIT_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")
_ACCEPT_LAST = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass", "secretkey",
     "accesskey", "privatekey", "authtoken", "accesstoken", "apitoken", "credential"}
)
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "secret", "private", "auth", "master", "signing", "encryption", "client",
     "app", "service", "admin", "account", "subscription", "openai", "anthropic", "claude",
     "gemini", "google", "mistral", "cohere", "groq", "hf", "huggingface", "together",
     "replicate", "perplexity", "pplx", "xai", "grok", "deepseek", "azure", "aws", "bastion",
     "llm", "ai", "bearer", "session", "refresh", "jwt", "hmac", "webhook", "bot"}
)
_REJECT_PARTS = frozenset(
    {"hash", "hashed", "digest", "sha", "sha1", "sha256", "sha512", "md5", "checksum",
     "fingerprint", "id", "ids", "name", "names", "type", "types", "url", "uri", "path", "file",
     "length", "len", "count", "size", "max", "min", "limit", "prefix", "suffix", "header",
     "field", "env", "var", "param", "pattern", "regex", "format", "fmt", "endpoint", "expiry",
     "expires", "expiration", "ttl", "timeout", "public", "pub", "cache", "sort", "primary",
     "foreign", "partition", "idempotency", "lookup", "label", "placeholder", "example", "dummy",
     "fake", "test", "mock", "sample", "location", "ref", "arn", "policy", "index", "kind",
     "version", "algorithm", "alg", "encoding", "usage", "counter", "cost", "price"}
)


def _name_parts(name: str) -> list[str]:
    return [p.lower() for p in _SPLIT_RE.findall(name)]


def name_is_secretish(name: str) -> bool:
    """True when an identifier names a credential (``OPENAI_API_KEY``, ``clientSecret``)."""
    parts = _name_parts(name)
    if not parts or any(p in _REJECT_PARTS for p in parts):
        return False
    joined = "".join(parts)
    if "secret" in joined or "password" in joined or "apikey" in joined:
        return True
    last = parts[-1]
    if last not in _ACCEPT_LAST:
        return False
    if last == "key":
        upper_env = name.isupper() and len(parts) >= 2
        return upper_env or (len(parts) >= 2 and parts[-2] in _KEY_QUALIFIERS)
    return True


def value_is_secretish(value: str, line: str) -> bool:
    """True when an assigned value looks like a real, random credential."""
    if is_env_reference(value) or is_placeholder(value) or is_uuid(value):
        return False
    if "://" in value or value.startswith(("/", "./", "~")) or is_sri_digest(value):
        return False
    if value.count("/") > 2 or value.count(".") > 2 or _DOTTED_IDENT_RE.fullmatch(value):
        return False
    if is_hex(value) and has_hash_context(line):
        return False
    long_mixed = len(value) >= 32 and any(c.isupper() for c in value)
    return looks_random(value, strict=True, require_digit=not long_mixed)


def _identifier_start(data: bytes, pos: int) -> int:
    start = pos
    floor = max(0, pos - 100)
    while start > floor and data[start - 1] in _NAME_CHARS:
        start -= 1
    return start


def scan_generic(view: BufferView) -> list[Match]:
    """Find ``NAME = value`` assignments of random values to secret-ish names."""
    data, low = view.data, view.low
    out: list[Match] = []
    done: set[int] = set()
    for regex in _GENERIC_RES:
        for m in regex.finditer(low):
            group = next(g for g in ("quoted", "bare", "xml") if m.group(g) is not None)
            vstart, vend = m.span(group)
            if vstart in done:
                continue
            name = data[_identifier_start(data, m.start()):m.end("name")].decode("ascii", "replace")
            if not name_is_secretish(name):
                continue
            value = data[vstart:vend].decode("utf-8", "replace")
            if value_is_secretish(value, view.line_text(vstart, limit=160)):
                done.add(vstart)
                out.append(Match("generic-secret", value, vstart, vend))
    return out

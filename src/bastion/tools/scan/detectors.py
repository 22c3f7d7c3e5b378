"""Format-specific detectors: keys recognised by prefix, length and alphabet.

Each rule is a bytes regex that starts with a literal prefix (so the regex
engine scans with its fast literal search) followed by the key body. A rule's
handler validates boundaries and randomness and returns :class:`Match` objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .buffer import BufferView, bounded
from .heuristics import has_hash_context, is_hex, is_placeholder, looks_random


@dataclass(frozen=True, slots=True)
class Match:
    """A raw detection inside one buffer (byte offsets, secret as text)."""

    detector: str
    secret: str
    start: int
    end: int


Handler = Callable[[BufferView, "re.Match[bytes]"], "Match | None"]

_ANT_RE = re.compile(r"ant-(api|admin)(\d\d)-([A-Za-z0-9_\-]+)")
_OPENAI_VARIANTS = (
    ("proj-", "openai-project-key"),
    ("svcacct-", "openai-service-account-key"),
    ("admin-", "openai-admin-key"),
    ("None-", "openai-user-key"),
)
_HEX32_RE = re.compile(r"[0-9a-f]{32}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_ALNUM_RE = re.compile(r"[A-Za-z0-9]+")
_OPENAI_MARK = "T3BlbkFJ"
_AWS_SECRET_RE = re.compile(rb"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _classify_prefixed(body: str) -> str | None:
    """Classify ``sk-ant-…``, ``sk-or-v1-…`` and ``sk-proj-…``-style bodies ("" = not one)."""
    if body.startswith("ant-"):
        m = _ANT_RE.fullmatch(body)
        ok = m is not None and len(m.group(3)) >= 32 and looks_random(m.group(3), strict=False)
        admin = m is not None and m.group(1) == "admin"
        return ("anthropic-admin-key" if admin else "anthropic-api-key") if ok else None
    if body.startswith("or-v1-"):
        return "openrouter-api-key" if _HEX64_RE.fullmatch(body[6:]) else None
    for variant, detector in _OPENAI_VARIANTS:
        if body.startswith(variant):
            rest = body[len(variant):]
            return detector if len(rest) >= 20 and looks_random(rest, strict=False) else None
    return ""


def _classify_sk(view: BufferView, start: int, body: str) -> str | None:
    """Map the body of an ``sk-…`` token to a detector id, or None if not a key."""
    prefixed = _classify_prefixed(body)
    if prefixed != "":
        return prefixed
    detector: str | None = None
    if _OPENAI_MARK in body:
        detector = "openai-user-key" if looks_random(body, strict=False) else None
    elif _HEX32_RE.fullmatch(body):
        if looks_random(body, strict=True):
            near = view.near(start, (b"deepseek",), lines=6, chars=2000)
            detector = "deepseek-api-key" if near else "openai-compatible-key"
    elif len(body) >= 32 and _ALNUM_RE.fullmatch(body) and looks_random(body, strict=True):
        detector = "openai-compatible-key"
    return detector


def _sk_handler(view: BufferView, m: re.Match[bytes]) -> Match | None:
    start, end = m.span()
    if not bounded(view.data, start, end):
        return None
    token = m.group().decode("ascii")
    detector = _classify_sk(view, start, token[3:])
    return Match(detector, token, start, end) if detector else None


def _simple(detector: str, prefix_len: int, *, strict: bool = False) -> Handler:
    """Handler for ``prefix + body`` formats validated by boundary and randomness."""

    def handle(view: BufferView, m: re.Match[bytes]) -> Match | None:
        start, end = m.span()
        if not bounded(view.data, start, end):
            return None
        token = m.group().decode("ascii")
        body = token[prefix_len:]
        if is_placeholder(body) or not looks_random(body, strict=strict, require_digit=False):
            return None
        return Match(detector, token, start, end)

    return handle


def _aws_handler(view: BufferView, m: re.Match[bytes]) -> Match | None:
    start, end = m.span()
    if not bounded(view.data, start, end):
        return None
    key_id = m.group().decode("ascii")
    if is_placeholder(key_id[4:]):
        return None
    lo, hi = view.window(start, lines=5, chars=1200)
    best: tuple[int, str] | None = None
    for sm in _AWS_SECRET_RE.finditer(view.data, lo, hi):
        value = sm.group().decode("ascii")
        if is_hex(value) or not looks_random(value, strict=True):
            continue
        if has_hash_context(view.line_text(sm.start())):
            continue
        distance = abs(sm.start() - start)
        if best is None or distance < best[0]:
            best = (distance, value)
    if best is None:
        return None
    return Match("aws-access-key", f"{key_id}:{best[1]}", start, end)


_SK = (re.compile(rb"sk-[A-Za-z0-9_\-]{20,300}"), _sk_handler)
_RULES: dict[bytes, tuple[re.Pattern[bytes], Handler]] = {
    b"sk-": _SK,
    b"AIza": (re.compile(rb"AIza[0-9A-Za-z_\-]{35}"), _simple("google-ai-api-key", 4)),
    b"gsk_": (re.compile(rb"gsk_[A-Za-z0-9]{48,60}"), _simple("groq-api-key", 4)),
    b"hf_": (re.compile(rb"hf_[A-Za-z0-9]{30,40}"), _simple("huggingface-token", 3)),
    b"r8_": (re.compile(rb"r8_[A-Za-z0-9]{34,42}"), _simple("replicate-api-token", 3)),
    b"pplx-": (re.compile(rb"pplx-[A-Za-z0-9]{44,56}"), _simple("perplexity-api-key", 5)),
    b"xai-": (re.compile(rb"xai-[A-Za-z0-9]{70,90}"), _simple("xai-api-key", 4)),
    b"bst_": (re.compile(rb"bst_[A-Za-z0-9_\-]{43}"), _simple("bastion-virtual-key", 4)),
    b"lsv2_": (
        re.compile(rb"lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10}"),
        _simple("langsmith-api-key", 8),
    ),
    b"tgp_": (re.compile(rb"tgp_v1_[A-Za-z0-9_\-]{30,80}"), _simple("together-api-key", 7)),
    b"AKIA": (re.compile(rb"AKIA[A-Z0-9]{16}"), _aws_handler),
    b"ASIA": (re.compile(rb"ASIA[A-Z0-9]{16}"), _aws_handler),
}

# Trigger regexes: each starts with one literal byte (fast scan in the regex
# engine) and stands for several prefixes, which are told apart in Python.
TRIGGERS: tuple[tuple[re.Pattern[bytes], int, tuple[bytes, ...]], ...] = (
    (
        re.compile(rb"_(?<=[kf8tp2]_)[A-Za-z0-9_\-]{30}"),
        0,
        (b"gsk_", b"hf_", b"r8_", b"bst_", b"tgp_", b"lsv2_"),
    ),
    (re.compile(rb"-(?<=[kxi]-)[A-Za-z0-9_\-]{20}"), 0, (b"sk-", b"pplx-", b"xai-")),
    (re.compile(rb"A(?:Iza|KIA|SIA)"), 4, (b"AIza", b"AKIA", b"ASIA")),
)


def scan_prefixed(view: BufferView) -> list[Match]:
    """Run every prefix rule, using the trigger regexes to find candidate offsets."""
    data = view.data
    out: list[Match] = []
    for trigger, anchor, prefixes in TRIGGERS:
        for t in trigger.finditer(data):
            pos = t.start() + 1 if anchor == 0 else t.start()
            for prefix in prefixes:
                start = pos - len(prefix) if anchor == 0 else pos
                if start < 0 or not data.startswith(prefix, start):
                    continue
                pattern, handler = _RULES[prefix]
                m = pattern.match(data, start)
                if m is not None and (hit := handler(view, m)) is not None:
                    out.append(hit)
                break
    return out

"""What the injection step does to one chat request, as a pure function.

:func:`review` reads the request's messages and ``documents`` and returns a
:class:`Review`: what was found, whether to refuse, and the rewritten messages.

* **Direct input** — the text of ``user`` messages (client system messages too when
  the alias demotes them) — is scanned with the ``direct`` detector against ``threshold``.
  ``block`` refuses, ``flag`` only reports, ``sanitize`` removes hidden text and the
  offending sentences and sends the rest.
* **Untrusted input** — ``tool`` and ``function`` messages (Anthropic ``tool_result``
  blocks arrive as ``tool`` messages) and ``documents`` — is scanned with the
  ``document`` detector against ``document_threshold``, unless its source is on the
  alias's allow-list. ``block`` refuses; ``drop`` replaces a tool result with a short
  note (its call id stays, so the conversation stays valid) or leaves a document out;
  ``neutralise`` removes the offending sentences; ``flag`` only reports. Untrusted text
  that goes upstream is spotlighted (:mod:`bastion.guards.spotlight`).

Documents are ``{"text": …, "source"?: url, "tags"?: [...], "title"?: …, "id"?: …}``
or plain strings; they go upstream as text parts at the start of the last user turn.

Verdicts are memoised by a digest of the text (a bounded table), so a long
conversation's history is not scanned again on every turn.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bastion.config.guard_settings import InjectionSettings
from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, ChatRequest, Message
from bastion.guards import spotlight
from bastion.guards.injection.detector import Verdict, scan
from bastion.guards.injection.sources import Sources

# System and developer messages a client keeps are the application's own instructions;
# with ``client_system: demote`` they arrive here as user messages and are scanned.
DIRECT_ROLES = frozenset(("user",))
UNTRUSTED_ROLES = frozenset(("tool", "function"))
DROPPED = ("[Bastion removed this content: it held instructions addressed to the model, "
           "which is a sign of a prompt injection.]")
REMOVED = "[removed by Bastion: instruction-like text]"
_MEMO_MAX = 4096
_SEGMENTS = re.compile("[^\n.!?\u3002\uff01\uff1f]*(?:[.!?\u3002\uff01\uff1f]+|\n|$)")
_HIDDEN = re.compile(r"<!--.*?(?:-->|$)|[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069"
                     r"\ufeff\U000e0000-\U000e007f]", re.DOTALL)


@dataclass(slots=True)
class Finding:
    where: str  # "user input", "tool result", "document"
    verdict: Verdict


@dataclass(slots=True)
class Review:
    blocked: Finding | None = None
    findings: list[Finding] = field(default_factory=list)
    messages: list[Message] | None = None  # None: unchanged
    untrusted: bool = False
    changed: str = ""  # "sanitized", "dropped", "neutralised" (for the header)


class Scanner:
    """The detector with a bounded memo of verdicts (one per step instance)."""

    def __init__(self) -> None:
        self._memo: dict[bytes, Verdict] = {}

    def __call__(self, text: str, document: bool) -> Verdict:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16,
                              person=b"doc" if document else b"direct").digest()
        hit = self._memo.get(key)
        if hit is None:
            hit = scan(text, document=document)
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[key] = hit
        return hit


def text_size(req: ChatRequest) -> int:
    """Characters the review would look at (for the size limit and offloading)."""
    n = sum(len(m.content) if isinstance(m.content, str) else len(m.text())
            for m in req.messages)
    for d in req.documents or ():
        n += len(d) if isinstance(d, str) else len(str(d.get("text", "")))
    return n


def remove_flagged(text: str, document: bool, threshold: float, scanner: Scanner) -> str:
    """``text`` without hidden text and without the sentences that score as an attack."""
    text = _HIDDEN.sub("", text)
    kept: list[str] = []
    for seg in _SEGMENTS.findall(text):
        if seg.strip() and scanner(seg, document).over(threshold):
            kept.append(REMOVED + ("\n" if seg.endswith("\n") else " "))
        else:
            kept.append(seg)
    out = "".join(kept)
    return out if out.strip() else REMOVED


@dataclass(slots=True)
class _Doc:
    text: str
    source: str | None
    tags: list[str]
    title: str | None


def _documents(raw: list[Any]) -> list[_Doc]:
    out = []
    for i, d in enumerate(raw):
        if isinstance(d, str):
            out.append(_Doc(d, None, [], None))
            continue
        text = d.get("text", d.get("content")) if isinstance(d, dict) else None
        tags = d.get("tags", []) if isinstance(d, dict) else None
        if (not isinstance(text, str) or not isinstance(tags, list)
                or not all(isinstance(t, str) for t in tags)
                or not isinstance(d.get("source"), str | None)
                or not isinstance(d.get("title"), str | None)):
            raise InvalidRequest(f"documents[{i}] must be a string or an object with a string "
                                 "`text` and optional `source`, `title` and `tags` (strings).",
                                 param=f"documents[{i}]")
        out.append(_Doc(text, d.get("source"), tags, d.get("title")))
    return out


def _tool_names(messages: list[Message]) -> dict[str, str]:
    names: dict[str, str] = {}
    for m in messages:
        for c in m.tool_calls or ():
            if c.id and c.function.name:
                names[c.id] = c.function.name
    return names


def review(req: ChatRequest, cfg: InjectionSettings, scanner: Scanner) -> Review:
    """Judge and rewrite ``req`` (see the module docstring)."""
    out = Review()
    sources = Sources(cfg.sources)
    indirect = cfg.indirect_action()
    names = _tool_names(req.messages)
    messages = list(req.messages)
    changed = False
    for i, m in enumerate(messages):
        if m.role in DIRECT_ROLES and cfg.action != "off":
            new = _direct(m, cfg, scanner, out)
        elif m.role in UNTRUSTED_ROLES:
            name = names.get(m.tool_call_id or "") if m.role == "tool" else m.name
            new = _untrusted(m, f"tool:{name}" if name else "tool", sources.trusts_tool(name),
                             cfg, indirect, scanner, out)
        else:
            continue
        if out.blocked is not None:
            return out
        if new is not m:
            messages[i] = new
            changed = True
    if req.documents:
        block = _documents_part(_documents(req.documents), sources, cfg, indirect, scanner, out)
        if out.blocked is not None:
            return out
        if block:
            messages = _prepend_to_last_user(messages, block)
        changed = True
    if out.untrusted and cfg.spotlight != "off":
        at = next((k for k, m in enumerate(messages) if m.role not in ("system", "developer")),
                  len(messages))
        messages.insert(at, Message(role="system", content=spotlight.note(cfg.spotlight)))
        changed = True
    if changed:
        out.messages = messages
    return out


def _direct(m: Message, cfg: InjectionSettings, scanner: Scanner, out: Review) -> Message:
    text = m.text()
    if not text:
        return m
    v = scanner(text, False)
    if not v.over(cfg.threshold):
        return m
    finding = Finding("user input", v)
    out.findings.append(finding)
    if cfg.action == "block":
        out.blocked = finding
    elif cfg.action == "sanitize":
        out.changed = "sanitized"
        return _with_text(m, remove_flagged(text, False, cfg.threshold, scanner))
    return m


def _judge(text: str, where: str, cfg: InjectionSettings, indirect: str, scanner: Scanner,
           out: Review) -> str | None:
    """Untrusted ``text`` after the indirect policy: as is, neutralised, or ``None``
    (dropped, or the request is blocked: ``out.blocked``)."""
    out.untrusted = True
    if indirect == "off":
        return text
    v = scanner(text, True)
    if not v.over(cfg.document_threshold):
        return text
    finding = Finding(where, v)
    out.findings.append(finding)
    if indirect == "block":
        out.blocked = finding
        return None
    if indirect == "drop":
        out.changed = "dropped"
        return None
    if indirect == "neutralise":
        out.changed = "neutralised"
        return remove_flagged(text, True, cfg.document_threshold, scanner)
    return text


def _untrusted(m: Message, source: str, trusted: bool, cfg: InjectionSettings,
               indirect: str, scanner: Scanner, out: Review) -> Message:
    text = m.text()
    if trusted or not text:
        return m
    judged = _judge(text, "tool result", cfg, indirect, scanner, out)
    if out.blocked is not None:
        return m
    # A dropped tool result keeps its message (and call id), so the conversation stays valid.
    return _with_text(m, spotlight.wrap(DROPPED if judged is None else judged, source,
                                        cfg.spotlight))


def _documents_part(docs: list[_Doc], sources: Sources, cfg: InjectionSettings,
                    indirect: str, scanner: Scanner, out: Review) -> str:
    parts: list[str] = []
    for d in docs:
        if sources.trusts_document(d.source, d.tags):
            parts.append(d.text)
            continue
        judged = _judge(d.text, "document", cfg, indirect, scanner, out)
        if out.blocked is not None:
            return ""
        if judged is not None:
            parts.append(spotlight.wrap(judged, d.source or d.title or "document",
                                        cfg.spotlight))
    return "\n\n".join(parts)


def _with_text(m: Message, text: str) -> Message:
    if isinstance(m.content, list):
        others: list[JSON] = [p for p in m.content if p.get("type") != "text"]
        return msgspec.structs.replace(m, content=[{"type": "text", "text": text}, *others])
    return msgspec.structs.replace(m, content=text)


def _prepend_to_last_user(messages: list[Message], block: str) -> list[Message]:
    for k in range(len(messages) - 1, -1, -1):
        m = messages[k]
        if m.role == "user":
            parts: list[JSON] = ([{"type": "text", "text": m.content}]
                                 if isinstance(m.content, str) else list(m.content or []))
            messages[k] = msgspec.structs.replace(
                m, content=[{"type": "text", "text": block}, *parts])
            return messages
    return [*messages, Message(role="user", content=block)]

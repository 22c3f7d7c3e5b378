"""Conversation-aware keys: what of a conversation decides the answer to its last message.

A request is read as ``(partition, question, context)``:

* the **partition** is exact: tenant scope, alias (its targets and server-side
  system prompt), every request parameter, the client's system/developer
  messages and the tools offered, and whether the question *depends on* the
  conversation. Only requests of one partition are ever compared.
* the **question** is the last user message; it is embedded and verified.
* when the question depends on the conversation ("cancel it", "yes please",
  "and with the TV add-on?", "how long does that take?"), the **context** must
  match too: the facts of the whole conversation (numbers, amounts, names,
  dates, units: as a multiset) and the facts of the last assistant turn *in
  order* (so "option 1 is A, option 2 is B" differs from the reverse) become the
  ``facts`` digest, which must be equal; the tail of the last assistant turn is
  embedded with the question and checked by the verifier's structural checks
  (so "cancel it?" and "switch you to annual billing?" differ).
* a question that stands on its own ("What's the cooling-off period for a new
  Kestrel broadband contract?") is compared on its own: earlier, unrelated turns
  do not stop a hit.

A question *depends* on the conversation when there is one and the question
refers back (it, that, this, them, then, the same, the other, …), answers
(yes, no, ok, sure, please), continues ("and …", "what about …"), or is too
short to stand alone (fewer than four content words).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import msgspec

from bastion.cache.key import canonical_bytes, cache_key
from bastion.cache.semantic.text import Parsed, analyse
from bastion.core.types import ChatRequest, Message

TAIL_CHARS = 240
_ANAPHORA = frozenset("""
it its that this these those they them their then such same other others
former latter above below one ones difference rest
yes yeah yep no nope ok okay sure
""".split())
_OPENERS = frozenset({"and", "or", "but", "so", "also", "what about", "how about"})
_FACT_KINDS = frozenset({"num", "exact"})


@dataclass(slots=True, frozen=True)
class Reading:
    """One request read for the semantic cache (see the module docstring)."""

    partition: str
    question: str
    parsed: Parsed
    dependent: bool
    tail: str  # the end of the last assistant turn ("" when not dependent)
    facts: str  # digest of the conversation's facts ("" when not dependent)

    @property
    def embed_text(self) -> str:
        return self.tail + "\n" + self.question if self.dependent else self.question


def _text(msg: Message) -> str | None:
    if isinstance(msg.content, str):
        return msg.content
    if msg.content is None:
        return ""
    return None


def depends(parsed: Parsed, raw: str) -> bool:
    """Whether a question needs the conversation before it to be understood."""
    words = parsed.words
    if not words:
        return True
    if any(w.text in _ANAPHORA for w in words):
        return True
    first = " ".join(w.text for w in words[:2])
    if words[0].text in _OPENERS or first in _OPENERS:
        return True
    content = [w for w in words if w.kind in ("word", "polar", "exact", "num", "quant")]
    return len(content) < 4 and not raw.rstrip().endswith(":")


def _facts(turns: list[str], last_assistant: str) -> str:
    every: Counter[str] = Counter()
    for t in turns:
        every.update(w.stem for w in analyse(t).words if w.kind in _FACT_KINDS)
    ordered = [w.stem for w in analyse(last_assistant).words if w.kind in _FACT_KINDS]
    joined = "\x1f".join([*sorted(every.elements()), "|", *ordered]).encode()
    return hashlib.blake2b(joined, digest_size=8).hexdigest()


def read(scope: str, fingerprint: bytes, req: ChatRequest) -> Reading | None:
    """The request read for the semantic cache, or ``None`` when it cannot be (no
    user message last, or content that is not plain text)."""
    msgs = req.messages
    if not msgs or msgs[-1].role != "user" or msgs[-1].name is not None:
        return None
    question = _text(msgs[-1])
    if question is None or not question.strip():
        return None
    fixed: list[Message] = []
    turns: list[str] = []
    last_assistant = ""
    for m in msgs[:-1]:
        if m.role in ("system", "developer"):
            fixed.append(m)
            continue
        text = _text(m)
        if text is None or m.tool_calls or m.role == "tool":
            return None  # tool traffic: only the exact cache applies
        turns.append(text)
        if m.role == "assistant":
            last_assistant = text
    parsed = analyse(question)
    dependent = bool(turns) and depends(parsed, question)
    shape = msgspec.structs.replace(req, messages=[*fixed, Message(role="user", content="")])
    partition = cache_key("sem:" + scope + ("|d" if dependent else "|s"), fingerprint,
                          canonical_bytes(shape))
    if not dependent:
        return Reading(partition, question, parsed, False, "", "")
    tail = last_assistant[-TAIL_CHARS:]
    return Reading(partition, question, parsed, True, tail, _facts(turns, last_assistant))

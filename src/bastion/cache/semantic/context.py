"""Conversation-aware keys: what of a conversation decides the answer to its last message.

A request is read as ``(partition, question, context)``:

* the **partition** is exact: tenant scope, alias (its targets and server-side
  system prompt), every request parameter, the client's system/developer
  messages and the tools offered, and whether the question *depends on* the
  conversation. Only requests of one partition are ever compared.
* the **question** is the last user message; it is embedded and verified.
* when the question depends on the conversation ("cancel it", "yes please",
  "and with the TV add-on?", "how long does that take?"), the **context** must
  match too (:func:`same_context`): the facts of the whole conversation
  (numbers, amounts, dates, units as a multiset; names, each of which must
  appear in the other conversation), the facts of the last assistant turn in
  order (so "option 1 is A, option 2 is B" differs from the reverse); when the
  question picks an option ("the first one"), every word of that turn in order;
  when it answers ("yes please", "yes, cancel it"), every word of the assistant's last
  sentence in order (so "cancel it?" and "switch you to annual billing?"
  differ); the facts of the opening turn (what the conversation is about: two
  long chats that both mention Flickbox and PulseFit but were opened about
  different ones differ); and no negation, opposite or quantifier may differ at
  the end of the last assistant turn. That end is also embedded with the question, so near
  contexts are proposed first.
* a question that stands on its own ("What's the cooling-off period for a new
  Kestrel broadband contract?") is compared on its own: earlier, unrelated turns
  do not stop a hit.

A question *depends* on the conversation when there is one and the question
refers back (it, that, them, then, the same, the other, …), answers (yes, no,
ok, sure), continues ("and …", "so …"), or is not clearly whole: it stands alone
only with a name and two other content words, or with five content words (numbers
not counted), and not when it asks about the asker's own thing ("my contract")
in words the asker used earlier in the conversation. When in doubt, the context
is required: a miss costs one provider call, a wrong answer costs the user.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

import msgspec

from bastion.cache.key import cache_key, canonical_bytes
from bastion.cache.semantic.lexicon import words
from bastion.cache.semantic.structure import compare
from bastion.cache.semantic.text import Parsed, analyse, fold, lexical_kind
from bastion.core.types import ChatRequest, Message

TAIL_CHARS = 240
_ANAPHORA = frozenset(words("""
it its that these those they them their then such same other others former latter one
ones difference rest yes yeah yep no nope ok okay sure
"""))
_THIS_TIME = frozenset({"year", "month", "week", "weekend", "morning", "afternoon", "evening",
                        "time", "season", "term", "quarter"})
_OPENERS = frozenset({"and", "or", "but", "so", "also"})
_OWN = frozenset(words("my our mine ours mein meine meinen unser unsere mon ma mes notre nos "
                       "mi mis nuestro nuestra"))
_REPLIES = frozenset(words("yes yeah yep yup no nope nah ok okay sure fine right alright"))
_SELECTS = re.compile(r"\b(?:first|second|third|fourth|last|former|latter|top|bottom|"
                      r"option|number \d+|\d+\))(?!\w)", re.IGNORECASE)
_CONTENT = frozenset({"word", "polar", "exact", "num", "quant"})
_CAPITAL = re.compile(r"(?<![A-Za-z])[A-Z][\w-]*")
_SENTENCES = re.compile(r"(?<=[.!?])\s+")
_TAIL_VETOES = frozenset({"negation", "polar", "quantifier"})


@dataclass(slots=True, frozen=True)
class Reading:
    """One request read for the semantic cache (see the module docstring)."""

    partition: str
    question: str
    parsed: Parsed
    dependent: bool
    context: str  # "" when not dependent, else :func:`encode_context`'s string
    tail: str

    @property
    def embed_text(self) -> str:
        return self.tail + "\n" + self.question if self.dependent else self.question


def _text(msg: Message) -> str | None:
    if isinstance(msg.content, str) or msg.content is None:
        return msg.content or ""
    if all(isinstance(p, dict) and p.get("type") == "text" for p in msg.content):
        return msg.text()
    return None


def depends(parsed: Parsed) -> bool:
    """Whether a question needs the conversation before it to be understood."""
    words = parsed.words
    if not words or words[0].text in _OPENERS:
        return True
    for i, w in enumerate(words):
        if w.text == "it" and any(x.text in ("to", "if", "when") for x in words[i + 1:i + 4]):
            continue  # "is it safe to …", "is it ok if …": no earlier thing is meant
        if w.text in _ANAPHORA:
            return True
        if w.text == "this" and not (i + 1 < len(words) and words[i + 1].text in _THIS_TIME):
            return True
    content = [w for w in words if w.kind in _CONTENT and w.kind != "num"]
    named = any(w.kind == "exact" for w in content)
    return not (len(content) >= 5 or (named and len(content) >= 3))


def _about_own_case(parsed: Parsed, user_turns: list[str]) -> bool:
    """A whole-looking question about the asker's own thing ("my contract", "our
    booking") whose words the asker already used earlier: the conversation set out
    which contract, so it depends on it ("what's the fee to end my contract early?"
    after a chat about one contract or another)."""
    if not any(w.text in _OWN for w in parsed.words):
        return False
    asked = {w.stem for w in parsed.words if w.kind in _CONTENT and w.kind != "num"}
    earlier = {w.stem for t in user_turns for w in analyse(t).words if w.kind in _CONTENT}
    return bool(asked & earlier)


def _facts(text: str) -> tuple[list[str], set[str], set[str]]:
    """``(counted facts, names, every capitalised word)`` of one turn."""
    p = analyse(text)
    counted = [w.stem for w in p.words if w.kind in ("num", "exact")
               and (w.text not in p.names or lexical_kind(w.text) == "exact")]
    capitals = {fold(w) for w in _CAPITAL.findall(text)}
    return counted, {n for n in p.names if lexical_kind(n) != "exact"}, capitals


def encode_context(turns: list[str], last_assistant: str, question: str, tail: str) -> str:
    counted: Counter[str] = Counter()
    names: set[str] = set()
    capitals: set[str] = set()
    for t in turns:
        c, n, cap = _facts(t)
        counted.update(c)
        names |= n
        capitals |= cap
    last = analyse(last_assistant)
    asked = analyse(question)
    if _SELECTS.search(question):  # "the first one": every word of the choices, in order
        ordered = [w.stem for w in last.words if w.kind in _CONTENT]
    elif not any(w.kind in _CONTENT for w in asked.words) or (
            asked.words and asked.words[0].text in _REPLIES):
        # A reply ("yes please", "ok sure", "yes, cancel it"): the assistant's last
        # sentence is the question being answered, so its words must be the same, in order.
        final = _SENTENCES.split(last_assistant.strip())[-1] if last_assistant else ""
        ordered = [w.stem for w in analyse(final).words if w.kind in _CONTENT]
    else:
        ordered = [w.stem for w in last.words if w.kind in ("num", "exact")
                   and lexical_kind(w.text) in ("num", "exact")]
    # The opening turn states what the conversation is about ("stop my Flickbox
    # payment"): its facts must be the same, so two long conversations that mention the
    # same things but were opened about different ones never share an answer.
    first_counted, first_names, first_caps = _facts(turns[0]) if turns else ([], set(), set())
    opening = [sorted(set(first_counted)), sorted(first_names), sorted(first_caps)]
    return json.dumps([sorted(counted.elements()), sorted(names), sorted(capitals), ordered,
                       tail, opening], separators=(",", ":"), ensure_ascii=False)


def _names_agree(a_names: list[str], a_caps: list[str], b_names: list[str],
                 b_caps: list[str]) -> bool:
    """Each side's names are written (capitalised) on the other side."""
    return set(a_names) <= set(b_caps) and set(b_names) <= set(a_caps)


def same_context(cached: str, new: str) -> bool:
    """Whether two encoded contexts agree (see the module docstring)."""
    a, b = json.loads(cached), json.loads(new)
    if len(a) != len(b):
        return False  # written by another version
    a_counted, a_names, a_caps, a_order, a_tail, a_open = a
    b_counted, b_names, b_caps, b_order, b_tail, b_open = b
    if a_counted != b_counted or a_order != b_order or a_open[0] != b_open[0]:
        return False
    if not _names_agree(a_names, a_caps, b_names, b_caps) or not _names_agree(*a_open[1:],
                                                                              *b_open[1:]):
        return False
    return not _TAIL_VETOES.intersection(compare(analyse(a_tail), analyse(b_tail)).vetoes)


def read(scope: str, fingerprint: bytes, req: ChatRequest, shaping: bytes = b""
         ) -> Reading | None:
    """The request read for the semantic cache, or ``None`` when it cannot be (no
    user message last, tool traffic, or content that is not plain text). ``shaping``:
    what else changes the answer (:func:`bastion.cache.key.answer_shaping`)."""
    msgs = req.messages
    if not msgs or msgs[-1].role != "user" or msgs[-1].name is not None:
        return None
    question = _text(msgs[-1])
    if question is None or not question.strip():
        return None
    fixed: list[Message] = []
    turns: list[str] = []
    user_turns: list[str] = []
    last_assistant = ""
    for m in msgs[:-1]:
        if m.role in ("system", "developer"):
            fixed.append(m)
            continue
        text = _text(m)
        if text is None or m.tool_calls or m.role == "tool":
            return None  # tool traffic: only the exact cache applies
        turns.append(text)
        if m.role == "user":
            user_turns.append(text)
        if m.role == "assistant":
            last_assistant = text
    parsed = analyse(question)
    dependent = bool(turns) and (depends(parsed) or _about_own_case(parsed, user_turns))
    shape = msgspec.structs.replace(req, messages=[*fixed, Message(role="user", content="")])
    partition = cache_key("sem:" + scope + ("|d" if dependent else "|s"), fingerprint,
                          canonical_bytes(shape, shaping))
    if not dependent:
        return Reading(partition, question, parsed, False, "", "")
    tail = last_assistant[-TAIL_CHARS:]
    return Reading(partition, question, parsed, True,
                   encode_context(turns, last_assistant, question, tail), tail)

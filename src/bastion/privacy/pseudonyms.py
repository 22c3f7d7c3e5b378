"""The pseudonym map of one request, and putting the originals back.

:class:`Pseudonyms` gives each detected value a stand-in (see
:mod:`bastion.privacy.surrogates`): the same value gets the same stand-in everywhere
in the request, and across the turns of a conversation, because the stand-in is
derived from a keyed hash of the tenant and the value (the key is the gateway's own,
kept in its database). That keeps cache keys stable too. Two different values never
share a stand-in, and a stand-in never equals text already in the request. The
parts of a person's name are mapped with it ("Jane Roe" → "Laura Pérez" also maps
"Jane" → "Laura"), so the model may shorten a name and it still comes back.

The map lives in the request's memory (``ctx.state``) only: it is never logged,
stored, cached or put in a metric.

:class:`Restorer` replaces stand-ins in the answer by the originals: in text, in
JSON (tool-call arguments: the original is JSON-escaped), and in a stream through
:class:`RestoreFilter`, a :class:`~bastion.core.holdback.TextFilter` that holds back
any tail that could be the start of a stand-in until the next chunk decides it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from bastion.core.holdback import PassThrough
from bastion.privacy.entities import PERSON
from bastion.privacy.lexicon import trie_pattern
from bastion.privacy.surrogates import stand_in

_MAX_TRIES = 24
# Checking a new stand-in against the request's text costs a scan of the text: beyond
# this many characters scanned in one request, only the map itself is checked.
_TEXT_CHECK_BUDGET = 64 * 1024 * 1024


class Pseudonyms:
    """Original ↔ stand-in for one request (see the module docstring)."""

    def __init__(self, key: bytes, scope: str, text: str = "") -> None:
        self._key = key
        self._scope = scope.encode()
        self._text = text  # everything the request holds: stand-ins must not occur in it
        self._budget = _TEXT_CHECK_BUDGET
        self.by_value: dict[tuple[str, str], str] = {}
        self.originals: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.originals)

    def _free(self, candidate: str) -> bool:
        if candidate in self.originals:
            return False
        self._budget -= len(self._text)
        return self._budget < 0 or candidate not in self._text

    def get(self, entity: str, value: str) -> str:
        known = self.by_value.get((entity, value))
        if known is not None:
            return known
        if entity == PERSON:
            part = self._person_part(value)
            if part is not None:
                return part
        norm = " ".join(value.split()).lower()
        for i in range(_MAX_TRIES):
            seed = hmac.new(self._key, b"%s\0%s\0%s\0%d" % (
                self._scope, entity.encode(), norm.encode(), i), hashlib.sha256).digest()
            candidate = stand_in(entity, value, seed)
            if candidate != value and self._free(candidate):
                break
        else:
            candidate = f"{candidate} {len(self.originals) + 2}"
        self._add(entity, value, candidate)
        return candidate

    def _add(self, entity: str, value: str, candidate: str) -> None:
        self.by_value[(entity, value)] = candidate
        self.originals[candidate] = value
        if entity == PERSON:
            ours, theirs = value.split(), candidate.split()
            if len(ours) == len(theirs) and len(ours) > 1:
                for o, t in zip(ours, theirs, strict=True):
                    if len(o) > 2 and len(t) > 2 and t not in self.originals:
                        self.by_value.setdefault((entity, o), t)
                        self.originals.setdefault(t, o)

    def _person_part(self, value: str) -> str | None:
        """A single name that is part of a name already mapped takes that part's stand-in."""
        if " " in value:
            return None
        return self.by_value.get((PERSON, value))


class Restorer:
    """Stand-ins → originals in answers (see the module docstring)."""

    def __init__(self, originals: dict[str, str]) -> None:
        self.originals = dict(originals)
        ordered = sorted(self.originals, key=len, reverse=True)
        # A trie-shaped pattern: thousands of stand-ins cost a few tests per position.
        # The trie prefers the longest stand-in at a position (greedy, with backtracking).
        body = trie_pattern(ordered) if ordered else r"(?!x)x"
        self._rx = re.compile(rf"(?<![\w@.\-])(?:{body})(?![\w@\-]|\.\w)")
        self._prefixes = {s[:i] for s in ordered for i in range(1, len(s) + 1)}
        self._longest = max((len(s) for s in ordered), default=0)

    def text(self, text: str) -> str:
        if not self.originals:
            return text
        return self._rx.sub(lambda m: self.originals[m.group()], text)

    def json(self, text: str) -> str:
        """Restore inside JSON text: each original is written JSON-escaped."""
        if not self.originals:
            return text
        return self._rx.sub(lambda m: json.dumps(self.originals[m.group()],
                                                 ensure_ascii=False)[1:-1], text)

    def held_tail(self, text: str) -> int:
        """How many characters at the end of ``text`` could still become a stand-in."""
        for k in range(min(self._longest, len(text)), 0, -1):
            if text[-k:] in self._prefixes and (
                    k == len(text) or not (text[-k - 1].isalnum() or text[-k - 1] in "_@.-")):
                return k
        return 0


class RestoreFilter(PassThrough):
    """The holdback filter of one choice: release restored text, hold possible stand-ins."""

    def __init__(self, restorer: Restorer) -> None:
        self.restorer = restorer

    def process(self, text: str, final: bool) -> tuple[str, str]:
        if final:
            return self.restorer.text(text), ""
        keep = self.restorer.held_tail(text)
        if keep == 0:
            return self.restorer.text(text), ""
        return self.restorer.text(text[:-keep]), text[-keep:]

    def tool_call(self, name: str, arguments: str) -> str:
        return self.restorer.json(arguments)

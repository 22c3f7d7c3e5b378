"""Street addresses: a street word found by the one-pass pattern, grown into the
address around it.

The pattern finds a street word: an English type after the name (``Bay Street``,
``Elm St.``), a type before the name (``Rue de Tanger``, ``Via Roma``, ``Calle
Mayor``), or a compound (``Hauptstraße``, ``Koskikatu``, ``Storgatan``). Around it,
:func:`expand` takes the capitalised words of the name, the house number before or
after it (one is required, unless the text says ``address`` or ``live at`` just
before), then a unit (``Apt. 5``, ``Suite 300``) and up to three short lines or
comma-separated parts of city, region, postcode and country.
"""

from __future__ import annotations

import re

from bastion.privacy.lexicon import (
    STREET_SUFFIXES,
    STREET_TYPES_EN,
    STREET_TYPES_PREFIX,
    UNIT_WORDS,
    trie_pattern,
    words,
)

ENTITY = "STREET_ADDRESS"


def _cased(words: list[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        out += [w[:1].upper() + w[1:], w.upper()]
    return out


_EN = trie_pattern(_cased(STREET_TYPES_EN))
_PREFIX = trie_pattern(_cased(STREET_TYPES_PREFIX))
_SUFFIX = trie_pattern(STREET_SUFFIXES + _cased(STREET_SUFFIXES))
# A compound starts with a capital (Hauptstraße, Koskikatu, STORGATAN): only capitalised
# words try the suffixes, so most words cost one character test.
_CAP = "A-ZÀ-ÖØ-ÞĀĂĄĆČĎĐĒĖĘĚĞĢĪĮİĶĹĻĽŁŃŅŇŌŐŒŔŖŘŚŞŠŢŤŪŮŰŲŹŻŽ\u0386-\u038f\u0391-\u03ab\u0410-\u042f"
_WORD = rf"[{_CAP}][^\W\d_'\u2019.\-]*(?:['\u2019.\-][^\W\d_]+)*\.?"
KEYWORD_PATTERN = (
    rf"(?P<st_en>\b{_EN}\b\.?)(?=[\s,]|$)|(?P<st_pre>\b{_PREFIX}\b)(?=\s)"
    rf"|(?P<st_suf>\b[{_CAP}][^\W\d_]{{0,24}}?{_SUFFIX}\b\.?)"
    # US military mail: PSC 1234, Box 5678 / Unit 1234 Box 5678, then APO AE 09012
    r"|(?P<st_mil>\b(?:PSC|CMR|Unit)[ \t]\d{3,5},?[ \t]Box[ \t]\d{3,5}"
    r"(?:\s*,?\s*(?:APO|FPO|DPO)[ \t]A[AEP][ \t]\d{5})?)"
    r"|(?P<st_ship>\b(?:USNS|USNV|USS|USCGC)[ \t][A-Z][a-z]+\s*,?\s*(?:APO|FPO|DPO)[ \t]"
    r"A[AEP][ \t]\d{5})"
    # a name then a house number ("Allika 46", "Præstevænget 15"): needs more evidence
    rf"|(?P<st_num>\b{_WORD}(?:[ \t](?:{_WORD}|de|la|del|di|da|van|von|der))"
    r"{0,3}[ \t]\d{1,4}[A-Za-z]?\b(?![ \t]?[\-/.,:]?[ \t]?\d))")

_NAME_WORD = re.compile(r"(?:[^\W\d_][\w'\u2019.\-]*|\d{1,3}(?:st|nd|rd|th)|de|la|del|des|du|di|da"
                        r"|do|dos|das|le|les|della|van|von|der|den|het)$")
_HOUSE = re.compile(r"\d{1,6}[A-Za-z]?(?:[/\-]\d{1,4})?")
_UNIT = re.compile(r",?\s*(?:" + "|".join(re.escape(u) for u in UNIT_WORDS) +
                   r")\.?[ \t]*#?[\w\-]{1,6}\b", re.IGNORECASE)
_PART = re.compile(r"[ \t]*(?:,[ \t]*\n?|\n)\s*([^\n,.;:!?]{1,40})")
_PART_WORD = re.compile(r"[^\W\d_][\w'\u2019.\-]*|\d[\d\-]{1,6}")
_ADDRESS_CONTEXT = re.compile(r"\b(?:address(?:es)?|live at|lives at|living at|live on|"
                              r"lives on|located at|ship to|deliver to|moved to|sent to|"
                              r"return to|office is at|is at)\b[^.\n]{0,16}$")
_PARTICLES = frozenset(words("de la del des du di da do dos das le les della van von der den het"))
_MAX_NAME_WORDS = 4


def _words_before(text: str, pos: int, limit: int) -> tuple[int, int]:
    """Start of the capitalised name words before ``pos`` and how many there are."""
    start, count = pos, 0
    while count < limit:
        j = start
        while j > 0 and text[j - 1] in " \t":
            j -= 1
        k = j
        while k > 0 and not text[k - 1].isspace() and text[k - 1] not in ",;:":
            k -= 1
        word = text[k:j]
        if not word or not _NAME_WORD.match(word):
            break
        if not (word[0].isupper() or word.lower() in _PARTICLES or word[0].isdigit()):
            break
        if _HOUSE.fullmatch(word):
            break
        start, count = k, count + 1
    return start, count


def _house_before(text: str, pos: int) -> int | None:
    """Start of a house number (or two: ``975 3968 Bay Street``) just before ``pos``."""
    found = None
    for _ in range(2):
        j = pos
        while j > 0 and text[j - 1] in " \t,":
            j -= 1
        k = j
        while k > 0 and not text[k - 1].isspace():
            k -= 1
        if k == j or not _HOUSE.fullmatch(text[k:j]):
            break
        found = pos = k
    return found


def _house_after(text: str, pos: int) -> int | None:
    m = re.compile(r",?[ \t]*(\d{1,5}[A-Za-z]?(?:[/\-]\d{1,4})?)\b").match(text, pos)
    return m.end() if m else None


def _name_after(text: str, pos: int) -> int:
    end, count = pos, 0
    for m in re.finditer(r"[ \t]+([^\s,;:]+)", text[pos:pos + 120]):
        if m.start() != end - pos:
            break
        word = m.group(1)
        if count >= _MAX_NAME_WORDS or not _NAME_WORD.match(word):
            break
        if not (word[0].isupper() or word.lower() in _PARTICLES):
            break
        end, count = pos + m.end(), count + 1
    return end


def _tail(text: str, end: int) -> int:
    """Grow past units and up to four parts of city, region, postcode, country."""
    for _ in range(4):
        m = _UNIT.match(text, end)
        if m:
            end = m.end()
            continue
        p = _PART.match(text, end)
        if p is None:
            break
        part = p.group(1).strip()
        words = part.split()
        if not words or not all(_PART_WORD.fullmatch(w.rstrip(".")) and
                                (w[0].isupper() or w[0].isdigit()) for w in words):
            break
        end = p.start(1) + len(p.group(1).rstrip())
    return end


def _numbered(text: str, low: str, m: re.Match[str]) -> tuple[int, int] | None:
    """``Name 46``: an address when a house number, an address word or an address-like
    line (postcode, town, country) goes with it; "Windows 11" has none of those."""
    start, end = m.start(), m.end()
    house = _house_before(text, start)
    tail = _tail(text, end)
    context = _ADDRESS_CONTEXT.search(low, max(0, start - 40), start) is not None
    if house is None and not context and tail == end:
        return None
    return (house if house is not None else start), tail


def expand(text: str, low: str, m: re.Match[str]) -> tuple[int, int] | None:
    """The address around the street word matched by ``m``, or ``None``."""
    if m.group("st_mil") or m.group("st_ship"):
        return m.start(), m.end()
    if m.group("st_num"):
        return _numbered(text, low, m)
    kind = "st_pre" if m.group("st_pre") else "st_suf" if m.group("st_suf") else "st_en"
    ks, ke = m.start(), m.end()
    if kind == "st_en":
        start, count = _words_before(text, ks, _MAX_NAME_WORDS)
        if count == 0:
            return None
        end = ke
        after = None
    elif kind == "st_pre":
        start = ks
        end = _name_after(text, ke)
        if end == ke:
            return None
        after = _house_after(text, end)
    else:
        start, _ = _words_before(text, ks, 2)
        end = ke
        after = _house_after(text, end)
    house = _house_before(text, start)
    if house is not None:
        start = house
    elif after is not None:
        end = after
    elif _ADDRESS_CONTEXT.search(low, max(0, start - 40), start) is None:
        return None
    if after is not None and house is not None:
        end = after
    end = _tail(text, end)
    while end > start and text[end - 1] in ".,":
        end -= 1
    return start, end

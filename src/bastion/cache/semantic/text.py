"""Reading a prompt for the verifier: normalised words, their kinds and stems.

:func:`analyse` turns a prompt into a :class:`Parsed`: its words in order, each
with a *kind* (what role it may play in changing the answer) and a *stem* (what
it is matched on). Case, punctuation, greetings, politeness, contractions,
inflection ("safe"/"safely", "per month"/"monthly") and number words ("six" = 6)
are normalised here, so the checks compare meaning-bearing words only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from bastion.cache.semantic.lexicon import (
    ENTITIES,
    FILLER,
    FRAME,
    NEGATION_PARTICLES,
    NEGATIONS,
    POLAR,
    PRONOUNS,
    QUANTIFIERS,
    QUESTION_WORDS,
    STOPWORDS,
    SYNONYMS,
    words,
)

_CONTRACTIONS = (
    (re.compile(r"\b(can)['\u2019]t\b"), r"\1 not"),
    (re.compile(r"\bwon['\u2019]t\b"), "will not"),
    (re.compile(r"\bshan['\u2019]t\b"), "shall not"),
    (re.compile(r"n['\u2019]t\b"), " not"),
    (re.compile(r"['\u2019]re\b"), " are"),
    (re.compile(r"['\u2019]ve\b"), " have"),
    (re.compile(r"['\u2019]ll\b"), " will"),
    (re.compile(r"['\u2019]d\b"), " would"),
    (re.compile(r"['\u2019]m\b"), " am"),
    (re.compile(r"['\u2019]s\b"), ""),
    (re.compile(r"\b(l|d|j|qu|n|s|c|m|t)['\u2019](?=\w)"), r"\1 "),
)
_FILLER_PHRASES = re.compile(
    r"\b(?:many thanks|thanks (?:so much|a lot|in advance)|thank you(?: (?:very|so) much)?"
    r"|quick (?:question|one)|i was (?:just )?wondering|just wondering|i wonder"
    r"|good (?:morning|afternoon|evening|day)|(?:hi|hello|hey) (?:there|team|all|folks)"
    r"|no (?:problem|worries)|not a problem|(?:can|could) you (?:please )?(?:tell|help) me"
    r"|(?:do|would) you (?:happen to )?know|any idea|sorry to bother you|excuse me"
    r"|i (?:would like|want|wanted|need) to know|i have a question|by the way"
    r"|one more thing|just (?:a )?quick(?: one)?)\b")
_NO_APOSTROPHE = {
    "whats": "what is", "hows": "how is", "wheres": "where is", "whens": "when is",
    "whos": "who is", "thats": "that is", "theres": "there is", "dont": "do not",
    "doesnt": "does not", "didnt": "did not", "cant": "can not", "wont": "will not",
    "isnt": "is not", "arent": "are not", "wasnt": "was not", "werent": "were not",
    "shouldnt": "should not", "couldnt": "could not", "wouldnt": "would not",
    "havent": "have not", "hasnt": "has not", "im": "i am", "ive": "i have",
    "youre": "you are", "hadnt": "had not", "mustnt": "must not",
}
_TOKEN = re.compile(
    r"[$€£¥%]|\d+(?:[.,:]\d+)*[a-z]{0,3}\b|[^\W\d_]+(?:[-.][^\W\d_]+)*|[+#]+")
_SENTENCE_END = frozenset(".?!:;\n")
_NUMBER_WORDS = {
    w: str(i) for i, w in enumerate(words(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty"))
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
     "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000",
     "dozen": "12", "half": "0.5", "twice": "2", "first": "1", "second": "2",
     "third": "3", "fourth": "4", "fifth": "5", "single": "1", "double": "2",
     "un": "1", "une": "1", "deux": "2", "trois": "3", "zwei": "2", "drei": "3",
     "dos": "2", "tres": "3", "eins": "1"}
_EXACT = frozenset(words("""
january february march april june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
monday tuesday wednesday thursday friday saturday sunday
today tomorrow yesterday tonight
km cm mm mi mile miles meter meters metre metres kg mg lb lbs ounce ounces oz ton tons
ml litre litres liter liters gallon gallons mph kph celsius fahrenheit kelvin
kb mb gb tb kw kwh hz ghz mhz bar psi
$ € £ ¥ % percent
"""))
_MONEY = {
    **dict.fromkeys(words("£ gbp pound pounds sterling quid"), "gbp"),
    **dict.fromkeys(words("$ usd dollar dollars bucks"), "usd"),
    **dict.fromkeys(words("€ eur euro euros"), "eur"),
    **dict.fromkeys(words("¥ jpy yen"), "jpy"),
    **dict.fromkeys(words("% percent pct"), "%"),
}
_SUFFIXES = ("ations", "ation", "ments", "ment", "ingly", "edly", "ing", "est", "ates",
             "ated", "ate", "als", "al", "ed", "ly", "ies", "es", "s")
# Multi-word expressions read as one word before anything else.
_PHRASES = [(re.compile(r"\b" + k + r"\b"), v) for k, v in (
    (r"get in touch with", "contact"), (r"come(?:s)? with", "include"),
    (r"set(?:ting)? up", "create"), (r"go(?:es)? live", "activate"),
    (r"shut(?:ting)? down", "close"), (r"sign(?:ing)?[ -]?up", "register"),
    (r"find out", "find"), (r"look(?:ing)? up", "find"), (r"carry out", "do"),
    (r"get back", "recover"), (r"give back", "return"), (r"send back", "return"),
    (r"hand in", "submit"), (r"fill in", "complete"), (r"fill out", "complete"),
    (r"how much|how many", "how"), (r"is it possible (?:for me |for us )?to", "can i"),
    (r"am i able to|are we able to", "can i"), (r"what is the (?:best |right )?way to", "how do i"),
    (r"what is the (?:process|procedure) for", "how do i"), (r"what are the steps to", "how do i"),
    (r"i would like to|i want to|i need to", "i"), (r"no longer", "not"),
    (r"what time", "when"), (r"cash (?:machine|point)s?", "atm"),
    (r"(?:what are |what is )?(?:your |the )?opening (?:hours|times)", "when open"),
)]
_COMMON = STOPWORDS | FILLER | frozenset(PRONOUNS) | frozenset(QUESTION_WORDS)
_UNIT_SUFFIX = re.compile(r"^(\d+(?:\.\d+)?)([a-z]{1,3})$")
_TIME_UNITS = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly",
               "annual": "yearly", "annually": "yearly", "hour": "hourly"}
_FREQ = {"daily": "daily", "weekly": "weekly", "monthly": "monthly", "yearly": "yearly",
         "hourly": "hourly"}
_PER = frozenset({"per", "each", "every", "a", "an"})


@dataclass(slots=True)
class Word:
    """One word of a prompt: its surface form, stem and kind.

    Kinds: ``neg`` (negation), ``num`` (number), ``exact`` (dates, units,
    currencies, names: must match exactly), ``polar``, ``quant``, ``pron``,
    ``q`` (question word), ``stop`` and ``filler`` (never content), ``word``.
    """

    text: str
    stem: str
    kind: str
    pos: int


@dataclass(slots=True)
class Parsed:
    """A prompt read for the verifier (see the module docstring)."""

    words: list[Word]
    caseless: bool
    names: set[str] = field(default_factory=set)

    def of(self, *kinds: str) -> list[Word]:
        return [w for w in self.words if w.kind in kinds]


def fold(text: str) -> str:
    """Lower case, compatibility forms folded, accents removed."""
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def stem(word: str) -> str:
    """A light suffix-stripping stem: safely→safe, cleaning→clean, activated→activ;
    a word of a synonym group stems to the group's first word."""
    if word in SYNONYMS:
        return SYNONYMS[word]
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]
    return SYNONYMS.get(w, w)


def _names(text: str, caseless: bool) -> set[str]:
    """Capitalised words that do not open a sentence, and acronyms (folded); none in
    text written all in capitals, all in lower case or in Title Case."""
    tokens = [m.group(0) for m in _TOKEN.finditer(text) if m.group(0)[0].isalpha()]
    if caseless or sum(t[0].isupper() for t in tokens) > 0.6 * len(tokens):
        return set()
    out: set[str] = set()
    for m in _TOKEN.finditer(text):
        word = m.group(0)
        if len(word) < 2 or not word[0].isupper():
            continue
        if word.isupper() and word.isalpha():
            out.add(fold(word))
            continue
        j = m.start() - 1
        while j >= 0 and text[j] in " \t\"'([":
            j -= 1
        if j >= 0 and text[j] not in _SENTENCE_END:
            out.add(fold(word))
    return out - _COMMON


def _lexical() -> dict[str, tuple[str, str]]:
    """Every listed word → (kind, stem); later lists win, so the order is priority."""
    out: dict[str, tuple[str, str]] = {}
    out.update((w, ("stop", w)) for w in STOPWORDS | NEGATION_PARTICLES)
    out.update((w, ("filler", w)) for w in FILLER)
    out.update((w, ("q", q)) for w, q in QUESTION_WORDS.items())
    out.update((w, ("pron", w)) for w in PRONOUNS)
    out.update((w, ("polar", f"{axis}:{side}")) for w, (axis, side) in POLAR.items())
    out.update((w, ("quant", q)) for w, q in QUANTIFIERS.items())
    out.update((w, ("exact", w)) for w in _EXACT | ENTITIES)
    out.update((w, ("exact", m)) for w, m in _MONEY.items())
    out.update((w, ("num", n)) for w, n in _NUMBER_WORDS.items())
    out.update((w, ("neg", "not")) for w in NEGATIONS)
    return out


_STRONG = frozenset({"neg", "num", "exact"})


def _kind(w: str, names: set[str]) -> tuple[str, str]:
    if w[0].isdigit():
        return "num", w.replace(",", "")
    hit = _LEXICAL.get(w)
    if hit is not None and hit[0] in _STRONG:
        return hit
    if w in names:
        return "exact", w
    if hit is not None:
        return hit
    st = stem(w)
    polar = _LEXICAL.get(st)
    if polar is not None and polar[0] == "polar":  # "withdrawals" as "withdrawal"
        return polar
    return ("stop", st) if st in STOPWORDS or st in FRAME else ("word", st)


_LEXICAL = _lexical()


def lexical_kind(word: str) -> str:
    """The kind of a folded word from the word lists alone (not from its case)."""
    return _kind(word, set())[0]


def _split(token: str) -> list[str]:
    """A hyphenated word stays whole when a lexicon knows it, else splits."""
    if "-" not in token or token in POLAR or token in ENTITIES:
        return [token]
    return [p for p in token.split("-") if p]


@lru_cache(maxsize=4096)
def analyse(text: str) -> Parsed:
    """Read ``text`` (see the module docstring). Cached: the cached questions a lookup
    verifies against come back often; callers never change a :class:`Parsed`."""
    letters = [c for c in text if c.isalpha()]
    caseless = bool(letters) and (
        sum(c.isupper() for c in letters) > 0.6 * len(letters)
        or not any(c.isupper() for c in letters))
    names = _names(text, caseless)
    low = fold(text)
    for pattern, repl in _CONTRACTIONS:
        low = pattern.sub(repl, low)
    low = _FILLER_PHRASES.sub(" ", low)
    for pattern, repl in _PHRASES:
        low = pattern.sub(repl, low)
    raw: list[str] = []
    for m in _TOKEN.finditer(low):
        tok = m.group(0).strip(".")
        if tok in _NO_APOSTROPHE:
            raw += _NO_APOSTROPHE[tok].split()
            continue
        unit = _UNIT_SUFFIX.match(tok)
        if unit and unit.group(2) in ("st", "nd", "rd", "th"):  # "1st" is 1
            raw.append(unit.group(1))
        elif unit:  # "10mb", "5km", "9am": the unit must match exactly
            raw += [unit.group(1), "#" + unit.group(2)]
        elif tok:
            raw += _split(tok)
    words: list[Word] = []
    i = 0
    while i < len(raw):
        w = raw[i]
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if w in _PER and nxt in _TIME_UNITS:  # "per month" / "each month" = "monthly"
            words.append(Word(w + " " + nxt, _TIME_UNITS[nxt], "word", len(words)))
            i += 2
            continue
        if w in _FREQ:
            words.append(Word(w, _FREQ[w], "word", len(words)))
            i += 1
            continue
        kind, st = ("exact", w[1:]) if w.startswith("#") and len(w) > 1 else _kind(w, names)
        if w == "one" and (i + 1 >= len(raw) or _kind(nxt, names)[0] != "word"):
            kind, st = "stop", w  # "quick one", "which one": not a count
        words.append(Word(w, st, kind, len(words)))
        i += 1
    return Parsed(words, caseless, names)

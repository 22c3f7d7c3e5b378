"""The critical-token guard: a semantic hit must not change what the question asks.

Embeddings put "Is the store open on Sunday?" and "Is the store not open on Sunday?"
(or "…on Monday?", "…for 3 people" vs "…for 30 people") close together, yet the
answers differ. Before a semantic hit is accepted, the *critical tokens* of the two
prompts must be the same multiset:

* negations: not, no, never, none, nothing, nobody, neither, nor, without, cannot, n't
* numbers (digits, and number words mapped to digits), ordinals and percentages
* dates: month and weekday names, today / tomorrow / yesterday / tonight
* names and entities: capitalised words not opening a sentence, and acronyms
* units and currencies: km, kg, mph, °c, %, $, €, usd, hours, …
* a few polarity words whose opposite flips the answer: before/after, more/less, …

Tokens are compared lower-cased, so a paraphrase that only changes case, word order
or wording around them still hits. Only a digest of the multiset is stored (the
:func:`signature`), never the prompt.
"""

from __future__ import annotations

import hashlib
import re

_WORD = re.compile(r"[$€£¥%°]|\d+(?:[.,:/-]\d+)*(?:st|nd|rd|th)?|[A-Za-z][A-Za-z'\u2019\-]*")
_NEGATIONS = frozenset({
    "not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor",
    "without", "cannot", "nope", "neglect", "except", "excluding", "unless", "lack",
})
_NUMBER_WORDS = {
    w: str(i) for i, w in enumerate([
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen", "twenty"
    ])
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
     "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000",
     "million": "1000000", "billion": "1000000000", "dozen": "12", "half": "0.5",
     "once": "1", "twice": "2", "first": "1st", "second": "2nd", "third": "3rd",
     "fourth": "4th", "fifth": "5th", "last": "last"}
_DATES = frozenset([
    "january", "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "today", "tomorrow", "yesterday", "tonight", "weekend", "weekday", "morning", "evening",
    "night", "noon", "midnight"
])
_UNITS = frozenset([
    "$", "€", "£", "¥", "%", "°", "km", "cm", "mm", "mi", "mile", "miles", "meter", "meters",
    "metre", "metres", "kilometer", "kilometers", "kg", "mg", "lb", "lbs", "pound", "pounds",
    "ounce", "ounces", "oz", "ton", "tons", "tonne", "tonnes", "ml", "liter", "liters", "litre",
    "litres", "gallon", "gallons", "mph", "kmh", "kph", "celsius", "fahrenheit", "kelvin", "usd",
    "eur", "gbp", "jpy", "dollar", "dollars", "euro", "euros", "cent", "cents", "percent", "kb",
    "mb", "gb", "tb", "kw", "kwh", "watt", "watts", "volt", "volts", "hz", "ghz", "mhz", "second",
    "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours", "hr", "hrs",
    "day", "days", "week", "weeks", "month", "months", "year", "years", "decade", "decades",
    "century"
])
_POLARITY = {
    "before": "before", "after": "after", "more": "more", "less": "less", "fewer": "less",
    "above": "above", "below": "below", "over": "above", "under": "below",
    "increase": "increase", "decrease": "decrease", "maximum": "max", "max": "max",
    "minimum": "min", "min": "min", "highest": "max", "lowest": "min", "best": "best",
    "worst": "worst", "largest": "max", "smallest": "min", "cheapest": "min",
    "most": "more", "least": "less", "earliest": "before", "latest": "after",
    "allowed": "allowed", "forbidden": "not", "legal": "legal", "illegal": "not",
    "buy": "buy", "sell": "sell", "true": "true", "false": "false", "safe": "safe",
    "unsafe": "not", "allow": "allowed", "allows": "allowed", "permit": "allowed",
    "permitted": "allowed", "forbid": "not", "forbids": "not", "ban": "not", "banned": "not",
    "prohibit": "not", "prohibited": "not",
}
_SENTENCE_END = frozenset(".?!:;\n")
# Critical tokens whose position does not matter (negations, dates, polarity words).
_PLAIN = frozenset({"not", *_DATES, *_NUMBER_WORDS.values(), *_POLARITY.values()})


def _normal(word: str) -> str | None:
    """The critical form of a lower-cased word, or ``None`` when it is not critical."""
    if word.endswith(("n't", "n\u2019t")) or word in _NEGATIONS:
        return "not"
    if word[0].isdigit():
        return word.replace(",", "")
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    if word in _DATES or word in _UNITS:
        return word
    return _POLARITY.get(word)


def critical_tokens(text: str, ordered: bool = False) -> list[str]:
    """The critical tokens of ``text`` (see the module docstring), sorted unless
    ``ordered``."""
    out: list[str] = []
    for m in _WORD.finditer(text):
        word = m.group(0).rstrip("'\u2019-")
        lower = word.lower().replace("\u2019", "'")
        norm = _normal(lower)
        if norm is None and lower.endswith("s"):
            norm = _normal(lower[:-1]) if lower[:-1] in _DATES else None  # "Sundays"
        if norm is not None:
            out.append(norm)
        elif _is_name(text, m.start(), word):
            out.append(lower.split("'")[0])
    if not ordered:
        out.sort()
    return out


def _is_name(text: str, start: int, word: str) -> bool:
    """A capitalised word that does not open a sentence, or an acronym anywhere.

    A capitalised word opening a sentence is more often an imperative or a question
    word than a name ("Flights from …", "Compose …"); counting it made the guard
    refuse a fifth of true paraphrases, while names there are rare in prompts and
    the embedding already separates them (see bench/semantic_cache_eval.py).
    """
    if len(word) < 2 or not word[0].isupper():
        return False
    if word.isupper() and word.isalpha():
        return True
    j = start - 1
    while j >= 0 and text[j] in " \t\"'([":
        j -= 1
    return j >= 0 and text[j] not in _SENTENCE_END


def signature(text: str) -> str:
    """A short digest of the critical tokens: equal digests ⇔ the guard lets a hit by.

    It covers the tokens as a multiset and the order of the units and names among
    them, so "convert 100 USD to EUR" and "convert 100 EUR to USD" differ.
    """
    tokens = critical_tokens(text, ordered=True)
    directed = [t for t in tokens if t in _UNITS or not (t[0].isdigit() or t in _PLAIN)]
    joined = "\x1f".join([*sorted(tokens), "|", *directed]).encode()
    return hashlib.blake2b(joined, digest_size=8).hexdigest()

"""The pattern recognisers: every pattern in one compiled pass, then checksums and
context words.

One regular expression holds a branch per shape (e-mail, IBAN, IPv6, numeric run,
written-out date, medical record number, health term, street word); a single
``finditer`` over the text yields candidates, and each is validated in Python:
Luhn for cards, mod-97 for IBANs, the SSA's never-issued ranges for SSNs, octets
for IP addresses, Google's libphonenumber rules for international phone numbers.
Context words in the few dozen characters before a candidate raise its score
(``born`` before a date makes it a date of birth; ``order`` before a number makes
it not a phone number). Every branch is bounded in length and anchored at a word
start, so the cost is linear in the text, whatever it holds.

API keys and other credentials come from :mod:`bastion.tools.scan`'s detectors (the
same rules as ``bastion scan``), run on the text's UTF-8 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bastion.privacy import addresses, phones
from bastion.privacy.checksums import card_ok, iban_ok, ip_ok, ssn_ok
from bastion.privacy.entities import (
    CREDIT_CARD,
    DATE_OF_BIRTH,
    EMAIL,
    HEALTH,
    IBAN,
    IP_ADDRESS,
    MEDICAL_RECORD_NUMBER,
    PHONE,
    SECRET,
    US_SSN,
    Finding,
)
from bastion.privacy.lexicon import CONTEXT, HEALTH_TERMS, trie_pattern

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|"
           "december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_MDATE = (rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?i:{_MONTHS})\.?,?\s+\d{{4}}"
          rf"|(?i:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b")

_BRANCHES = [
    ("email", r"(?<![\w.%+\-])[\w.%+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){0,8}"
              r"\.[^\W\d_]{2,24}(?![\w\-])"),
    ("iban", r"\b(?i:[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?)\b"),
    ("ipv6", r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:){2,7}(?::|[0-9A-Fa-f]{1,4})(?![\w:])"),
    ("mdate", _MDATE),
    ("num", r"(?<![\w+.])\+?\(?\d(?:\d|[ \t./\-]\(?(?=\d)|\)[ \t]?(?=\d)){4,38}"
            r"(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,5})?(?!\w)"),
    ("mrn", r"(?i:\b(?:mrn|medical[ \t]record(?:s)?(?:[ \t](?:number|no\.?|#))?"
            r"|patient[ \t](?:id|number|no\.?|#)))\b[ \t:#.\-]{0,4}"
            r"(?P<mrnv>[A-Za-z0-9][A-Za-z0-9\-]{3,19})\b"),
    ("health", r"(?i:\b" + trie_pattern(t.lower() for t in HEALTH_TERMS) + r"\b)"),
    ("street", addresses.KEYWORD_PATTERN),
]
# Every branch starts at a word boundary (or at the + or ( of a phone number): one test
# rejects the positions inside words before any branch is tried.
MASTER = re.compile(r"(?:\b|(?<![\w+(])(?=[+(]))(?:"
                    + "|".join(f"(?P<{name}>{body})" for name, body in _BRANCHES) + ")")

_CONTEXT_RE = {k: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in v) + r")")
               for k, v in CONTEXT.items()}
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_NUM_DATE = re.compile(r"(?:\d{4}[./\-]\d{1,2}[./\-]\d{1,2}|\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4})")
_SSN = re.compile(r"(\d{3})([\- .]?)(\d{2})\2(\d{4})")
_NON_DIGIT = re.compile(r"\D+")
_EXTENSION = re.compile(r"[ \t]?(?:x|ext\.?)[ \t]?\d{1,5}$")
_WINDOW = 48
_VERSION = re.compile(r"\b(?:version|ver|v|release|build|rev)\.?[ \t:]*$")


class Scan:
    """One text being scanned: the text, its lower-cased copy, and a phone budget."""

    __slots__ = ("low", "phone_budget", "phones_seen", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.low = text.lower()
        # libphonenumber costs ~20-40 µs a call: a text full of numbers gets a bounded
        # number of calls, and shape rules decide the rest.
        self.phone_budget = 32 + len(text) // 64
        self.phones_seen: dict[str, bool] = {}  # the same number again costs nothing

    def context(self, entity: str, start: int, end: int = -1, after: int = 0) -> bool:
        rx = _CONTEXT_RE[entity]
        if rx.search(self.low, max(0, start - _WINDOW), start) is not None:
            return True
        return after > 0 and rx.search(self.low, end, end + after) is not None


def _email(scan: Scan, m: re.Match[str]) -> list[Finding]:
    value = m.group()
    local = value.split("@", 1)[0]
    if local.startswith(".") or local.endswith(".") or ".." in value:
        return []
    return [Finding(EMAIL, m.start(), m.end(), 0.95, value)]


def _iban(scan: Scan, m: re.Match[str]) -> list[Finding]:
    value = m.group()
    if not iban_ok(value.replace(" ", "").upper()):
        return []
    if not value[:2].isupper() and not scan.context(IBAN, m.start()):
        return []  # lower-case letters: only where the text says it is an IBAN
    return [Finding(IBAN, m.start(), m.end(), 0.95, value)]


def _ipv6(scan: Scan, m: re.Match[str]) -> list[Finding]:
    value = m.group()
    if value.count(":") < 2 or not ip_ok(value) or value in ("::", "::1"):
        return []
    return [Finding(IP_ADDRESS, m.start(), m.end(), 0.85, value)]


def _mdate(scan: Scan, m: re.Match[str]) -> list[Finding]:
    if not scan.context(DATE_OF_BIRTH, m.start()):
        return []
    return [Finding(DATE_OF_BIRTH, m.start(), m.end(), 0.85, m.group())]


def _mrn(scan: Scan, m: re.Match[str]) -> list[Finding]:
    value = m.group("mrnv")
    if not any(c.isdigit() for c in value):
        return []
    return [Finding(MEDICAL_RECORD_NUMBER, m.start("mrnv"), m.end("mrnv"), 0.9, value)]


def _health(scan: Scan, m: re.Match[str]) -> list[Finding]:
    # Kept as a candidate; bastion.privacy.health decides whether it concerns a person.
    return [Finding(HEALTH, m.start(), m.end(), 0.5, m.group())]


def _street(scan: Scan, m: re.Match[str]) -> list[Finding]:
    span = addresses.expand(scan.text, scan.low, m)
    if span is None:
        return []
    s, e = span
    return [Finding(addresses.ENTITY, s, e, 0.8, scan.text[s:e])]


def _num(scan: Scan, m: re.Match[str]) -> list[Finding]:
    run, start = m.group(), m.start()
    if _IPV4.fullmatch(run):
        ok = (ip_ok(run) and not run.startswith("0")
              and _VERSION.search(scan.low, max(0, start - 16), start) is None)
        return [Finding(IP_ADDRESS, start, m.end(), 0.85, run)] if ok else []
    d = _NUM_DATE.match(run)
    if d is not None:
        if scan.context(DATE_OF_BIRTH, start):
            return [Finding(DATE_OF_BIRTH, start, start + d.end(), 0.85, d.group())]
        if d.end() == len(run) or run[d.end()] == " ":
            return []
    digits = _NON_DIGIT.sub("", _EXTENSION.sub("", run))
    if len(digits) < 7:
        return []
    found = _identifier(scan, run, digits, start)
    return [found] if found is not None else []


def _identifier(scan: Scan, run: str, digits: str, start: int) -> Finding | None:
    """An SSN, a card or a phone number, in that order of specificity."""
    end = start + len(run)
    ssn = _SSN.fullmatch(run)
    if ssn is not None and (ssn.group(2) or scan.context(US_SSN, start)):
        if not ssn_ok(ssn.group(1), ssn.group(3), ssn.group(4)):
            return None  # written as an SSN, in a range never issued: no one's number
        score = 0.95 if scan.context(US_SSN, start) else 0.6
        return Finding(US_SSN, start, end, score, run)
    if card_ok(digits) and _card_grouping(run):
        # 12-digit (Maestro) and 1800-prefixed (JCB) numbers are common enough as other
        # numbers that they need a context word such as "card".
        context = scan.context(CREDIT_CARD, start)
        if context or (len(digits) >= 13 and digits[0] != "1"):
            return Finding(CREDIT_CARD, start, end, 0.95 if context else 0.8, run)
    score = phones.score(scan, _EXTENSION.sub("", run), digits, start, end)
    return Finding(PHONE, start, end, score, run) if score > 0 else None


def _card_grouping(run: str) -> bool:
    """Card numbers are written whole or in groups (4-4-4-4, 4-6-5, 4-4-4-4-3)."""
    groups = re.split(r"[ \-]", run)
    if len(groups) == 1:
        return run.isdigit()
    sizes = [len(g) for g in groups]
    return all(g.isdigit() for g in groups) and (
        sizes[:-1] == [4] * (len(sizes) - 1) or sizes in ([4, 6, 5], [4, 6, 4]))


_HANDLERS: dict[str, Callable[[Scan, re.Match[str]], list[Finding]]] = {
    "email": _email, "iban": _iban, "ipv6": _ipv6, "mdate": _mdate, "num": _num,
    "mrn": _mrn, "health": _health, "street": _street,
}


def scan_patterns(text: str) -> list[Finding]:
    """Every pattern finding in ``text`` (unsorted, may overlap; see analyzer)."""
    scan = Scan(text)
    out: list[Finding] = []
    for m in MASTER.finditer(text):
        kind = m.lastgroup
        if kind == "mrnv":  # the value group of mrn is the last group that matched
            kind = "mrn"
        assert kind is not None
        out.extend(_HANDLERS[kind](scan, m))
    out.extend(scan_secrets(text))
    return out


def scan_secrets(text: str) -> list[Finding]:
    """Credentials, by :mod:`bastion.tools.scan`'s format detectors (prefix-triggered)."""
    from bastion.tools.scan.engine import scan_buffer

    data = text.encode("utf-8", "surrogatepass")
    found = scan_buffer(data)
    if not found:
        return []
    ascii_only = len(data) == len(text)
    out = []
    for f in found:
        s, e = f.start, f.end
        if not ascii_only:
            s = len(data[:s].decode("utf-8", "replace"))
            e = s + len(data[f.start:f.end].decode("utf-8", "replace"))
        out.append(Finding(SECRET, s, e, 0.95, text[s:e]))
    return out

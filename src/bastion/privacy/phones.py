"""Phone numbers: international numbers through Google's libphonenumber rules
(``phonenumbers``), national numbers by their written shape and context words.

A number written with a ``+`` (or ``00``) and a country code is checked by
libphonenumber: a possible number for that country is a phone number. A national
number carries no country, so its shape decides: digits in groups separated by
spaces, dots, dashes or brackets, 7 to 13 digits in all, as people write phone
numbers; an unbroken run of 10 or 11 digits counts when it is a valid number in
one of the configured regions. Context words before (``phone``, ``call``, ``fax``)
or just after (``-Office``) raise the score; words such as ``order`` or ``invoice``
before the number rule it out.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import phonenumbers

from bastion.privacy.lexicon import NOT_PHONE

if TYPE_CHECKING:
    from bastion.privacy.patterns import Scan

REGIONS = ("US", "GB", "DE", "FR", "IN")
_NOT_PHONE = re.compile(r"\b(?:" + "|".join(NOT_PHONE) + r")\b[\s:#.\-no]{0,6}$")
_GROUPS = re.compile(r"[ \t./\-()]+")


def _international(scan: Scan, run: str) -> bool:
    seen = scan.phones_seen.get(run)
    if seen is not None:
        return seen
    if scan.phone_budget <= 0:
        return True  # budget spent: a +CC number of the right length is taken as one
    scan.phone_budget -= 1
    text = "+" + run[2:] if run.startswith("00") else run
    try:
        ok = bool(phonenumbers.is_possible_number(phonenumbers.parse(text, None)))
    except phonenumbers.NumberParseException:
        ok = False
    scan.phones_seen[run] = ok
    return ok


def _valid_national(scan: Scan, digits: str) -> bool:
    for region in REGIONS:
        if scan.phone_budget <= 0:
            return False
        scan.phone_budget -= 1
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _grouped(run: str) -> bool:
    """Written like a phone number: 2+ groups of 1-5 digits (the last up to 8)."""
    groups = [g for g in _GROUPS.split(run) if g]
    if len(groups) < 2 or not all(g.isdigit() for g in groups):
        return False
    if any(len(g) > 5 for g in groups[:-1]) or len(groups[-1]) > 8:
        return False
    return sum(1 for g in groups if len(g) >= 2) >= 2


def score(scan: Scan, run: str, digits: str, start: int, end: int) -> float:
    """How likely ``run`` (at ``start``) is a phone number; 0 when it is not one."""
    n = len(digits)
    international = run.startswith("+") or (run.startswith("00") and n >= 10)
    if n > 15 or (n > 13 and not international) or _NOT_PHONE.search(
            scan.low, max(0, start - 24), start):
        return 0.0
    context = scan.context("PHONE", start, end, after=12)
    if international:
        shaped = n >= 8 and _international(scan, run)
        base = 0.95 if shaped else 0.0
    elif _grouped(run) or (run.isdigit() and 10 <= n <= 11
                           and _valid_national(scan, digits)):
        base = 0.6
    else:
        base = 0.0 if not run.isdigit() else 0.1
    if context:
        return max(base, 0.9 if base >= 0.6 else 0.7 if base > 0 else 0.6)
    if base and not international and _house_numbers(scan, run, start, end):
        return 0.3
    return base


_WORD_AFTER = re.compile(r"[ \t]+[^\W\d_]")
_ADDRESS_BEFORE = re.compile(r"\b(?:address(?:es)?|at|to|is)\b[:\s]*$")


def _house_numbers(scan: Scan, run: str, start: int, end: int) -> bool:
    """Two short groups right before a street name ("3747 3911 Fourth Avenue") or after
    "address:" / "lives at" are house numbers, not a phone number."""
    if len([g for g in _GROUPS.split(run) if g]) != 2:
        return False
    return (_WORD_AFTER.match(scan.text, end) is not None
            or _ADDRESS_BEFORE.search(scan.low, max(0, start - 24), start) is not None)

"""Realistic stand-ins: values of the same kind and shape as the originals.

A stand-in looks like what it replaces, so the model treats it the same way and
writes it back unchanged: a name for a name (same number of words, same case), an
e-mail at a reserved domain (``example.com``), a phone number with the same
grouping, a Luhn-valid card number of the same length and issuer digit, a mod-97-valid
IBAN of the same country, an SSN in a never-issued area, an IP address from the
documentation ranges. Stand-ins are ASCII without quotes or backslashes, so they pass
through JSON (tool-call arguments) untouched.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable

from bastion.privacy import entities as E
from bastion.privacy.checksums import iban_with_check, luhn_digit
from bastion.privacy.lexicon import HEALTH_TERMS, words

FIRST = words("""Alice Bruno Clara Daniel Elena Felix Grace Hugo Irene Jonas Karen Leon Maria
Nikolai Olivia Pablo Rosa Samuel Tanya Victor Wanda Yusuf Zoe Adrian Bianca Carlos Diana Emil Fiona
Gustav Helena Ivan Julia Kevin Laura Marco Nina Oscar Paula Rafael Sofia Tomas Ursula Vera
Walter Xenia Yara Anton Beatrix Cyril Dora Erik Flora Gregor Hanna Igor Jana Kurt Lena
Milan Nora Otto Petra Quentin Rita Stefan Thea""")
LAST = words("""Albers Brandt Castillo Dunmore Ekberg Fairley Gallo Hartmann Ivanova Jansen Keller
Lindqvist Moreau Novak Okafor Petrov Quinlan Rinaldi Sorensen Tanaka Ulrich Varga Whitlock
Yilmaz Zeller Abbott Barlow Corbin Delacroix Ellison Fontaine Garrick Holloway Ingram Jarvis
Kowalski Lambert Mercer Norwood Oakley Prescott Radcliffe Sutton Thornton Underwood Vance
Wexler Ashdown Bellamy Calloway Dempsey Everett Fenwick Greaves Hadley Kingsley Lockwood
Marlowe Pemberton""")
CITIES = words("""Springfield Riverton Fairview Lakewood Brookfield Ashford Kingsport Milford
Westbury Northam Eastleigh Greendale Oakridge Clearwater Maplewood Harborview Stonebridge
Glenwood Redmond Bayside""")
STREETS = words("""Maple Cedar Willow Birch Elm Chestnut Hawthorn Juniper Laurel Magnolia Orchard
Meadow Harbor Ridge Valley Sunset Lakeview Park Mill Church""")
STREET_KINDS = words("Street Avenue Road Lane Drive Court Place Way")
COMPANIES = """Northwind Traders|Contoso Ltd|Fabrikam Inc|Globex Corporation|Initech|Umbrella
Holdings|Tailspin Toys|Wingtip Partners|Adventure Works|Litware Inc|Proseware Group|Woodgrove
Bank|Coho Vineyard|Lucerne Publishing|Trey Research|Blue Yonder Airlines|Alpine Ski House|
Margie Travel|Fourth Coffee|Humongous Insurance""".replace("\n", " ").split("|")
_LETTERS = string.ascii_uppercase


def _case_like(value: str, out: str) -> str:
    if value.islower():
        return out.lower()
    if value.isupper() and len(value) > 3:
        return out.upper()
    return out


def _digits_like(rng: random.Random, value: str, keep_prefix: int = 0) -> str:
    """``value`` with its digits (after the first ``keep_prefix``) and letters replaced."""
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep_prefix else str(rng.randrange(10)))
        elif ch.isalpha() and ch.isascii():
            letter = rng.choice(_LETTERS)
            out.append(letter if ch.isupper() else letter.lower())
        else:
            out.append(ch if ch.isascii() and ch not in "\"\\" else " ")
    return "".join(out)


def person(rng: random.Random, value: str) -> str:
    words = value.split()
    if len(words) == 1:
        out = rng.choice(FIRST if rng.random() < 0.5 else LAST)
    elif len(words) == 2:
        out = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    else:
        out = f"{rng.choice(FIRST)} {rng.choice(_LETTERS)}. {rng.choice(LAST)}"
    return _case_like(value, out)


def email(rng: random.Random, value: str) -> str:
    tld = rng.choice(["com", "org", "net"])
    return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}{rng.randrange(10, 99)}" \
           f"@example.{tld}"


def phone(rng: random.Random, value: str) -> str:
    # Keep a leading +CC (the country is kept for realism; the number is not).
    m = re.match(r"(\+|00)(\d{1,3})", value)
    keep = len(m.group(2)) if m else 0
    return _digits_like(rng, value, keep)


def card(rng: random.Random, value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    body = digits[0] + "".join(str(rng.randrange(10)) for _ in digits[1:-1])
    full = body + luhn_digit(body)
    it = iter(full)
    return "".join(next(it) if c.isdigit() else c for c in value)


def iban(rng: random.Random, value: str) -> str:
    compact = value.replace(" ", "").upper()
    bban = "".join(rng.choice(_LETTERS) if c.isalpha() else str(rng.randrange(10))
                   for c in compact[4:])
    new = iban_with_check(compact[:2], bban)
    if " " not in value:
        return new if value[:2].isupper() else new.lower()
    return " ".join(new[i:i + 4] for i in range(0, len(new), 4))


def ssn(rng: random.Random, value: str) -> str:
    # Area 900-999 is never issued; groups 01-49 are not ITINs either.
    sep = next((c for c in value if not c.isdigit()), "")
    return f"9{rng.randrange(10)}{rng.randrange(10)}{sep}{rng.randrange(1, 50):02d}{sep}" \
           f"{rng.randrange(1, 10000):04d}"


def ip(rng: random.Random, value: str) -> str:
    if ":" in value:
        return f"2001:db8:{rng.randrange(1, 0xffff):x}::{rng.randrange(1, 0xffff):x}"
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
    return f"{net}.{rng.randrange(1, 255)}"


def address(rng: random.Random, value: str) -> str:
    out = f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"
    if "\n" in value or "," in value:
        out += f", {rng.choice(CITIES)}"
    return _case_like(value, out)


def date(rng: random.Random, value: str) -> str:
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]
    if any(c.isalpha() for c in value):
        year = re.search(r"\d{4}", value)
        y = int(year.group()) + rng.randrange(-3, 4) if year else 1980
        return f"{months[rng.randrange(12)]} {rng.randrange(1, 29)}, {y}"
    parts = re.split(r"([./\-])", value)
    out = []
    for p in parts:
        if not p.isdigit():
            out.append(p)
        elif len(p) == 4:
            out.append(str(int(p) + rng.randrange(-3, 4)))
        elif int(p) > 12:
            out.append(f"{rng.randrange(13, 29):0{len(p)}d}")
        else:
            out.append(f"{rng.randrange(1, 13):0{len(p)}d}")
    return "".join(out)


def secret(rng: random.Random, value: str) -> str:
    # Shaped like the key but marked as an example, so no scanner (the output guard's
    # included) mistakes the stand-in for a live credential.
    m = re.match(r"[A-Za-z]{1,6}[-_](?:[a-z]{2,8}[-_])?", value)
    prefix = (m.group() if m else "") + "EXAMPLE"
    body = "".join(rng.choice(string.ascii_letters + string.digits)
                   for _ in range(max(8, len(value) - len(prefix))))
    return prefix + body


def health(rng: random.Random, value: str) -> str:
    return _case_like(value, rng.choice(HEALTH_TERMS))


def _same_shape(rng: random.Random, value: str) -> str:
    return _digits_like(rng, value)


def _city(rng: random.Random, value: str) -> str:
    return _case_like(value, rng.choice(CITIES))


def _company(rng: random.Random, value: str) -> str:
    return _case_like(value, rng.choice(COMPANIES))


GENERATORS: dict[str, Callable[[random.Random, str], str]] = {
    E.PERSON: person, E.EMAIL: email, E.PHONE: phone, E.CREDIT_CARD: card, E.IBAN: iban,
    E.US_SSN: ssn, E.IP_ADDRESS: ip, E.STREET_ADDRESS: address, E.DATE_OF_BIRTH: date,
    E.MEDICAL_RECORD_NUMBER: _same_shape, E.SECRET: secret, E.HEALTH: health,
    E.LOCATION: _city, E.ORGANIZATION: _company,
}


def stand_in(entity: str, value: str, seed: bytes) -> str:
    """A stand-in for ``value``, the same for the same ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - realistic-looking values, not secrets
    return GENERATORS[entity](rng, value)

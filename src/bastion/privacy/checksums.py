"""Checksums and shape rules that keep false positives down (Presidio's
``validate_result`` hook, done once per candidate)."""

from __future__ import annotations

import ipaddress

# IBAN length per country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_digit(partial: str) -> str:
    """The check digit that makes ``partial + digit`` pass :func:`luhn_ok`."""
    for d in "0123456789":
        if luhn_ok(partial + d):
            return d
    raise AssertionError("unreachable")


def card_ok(digits: str) -> bool:
    """A plausible payment card: 12-19 digits, a known issuer's first digit (1 for JCB's
    1800, 2-6 for the rest), Luhn-valid."""
    if not 12 <= len(digits) <= 19 or digits[0] not in "123456" or len(set(digits)) < 2:
        return False
    return luhn_ok(digits)


def iban_ok(compact: str) -> bool:
    """ISO 13616: known country, its length, and the mod-97 check."""
    country = compact[:2]
    if IBAN_LENGTHS.get(country) != len(compact) or not compact[2:4].isdigit():
        return False
    return iban_remainder(compact) == 1


def iban_remainder(compact: str) -> int:
    moved = compact[4:] + compact[:4]
    n = 0
    for ch in moved:
        n = (n * (100 if ch.isalpha() else 10) + (ord(ch) - 55 if ch.isalpha() else ord(ch) - 48)
             ) % 97
    return n


def iban_with_check(country: str, bban: str) -> str:
    """A valid IBAN for ``country`` and ``bban`` (check digits computed)."""
    r = iban_remainder(country + "00" + bban)
    return f"{country}{98 - r:02d}{bban}"


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """The SSA's never-issued ranges: area 000, 666, 900-999; group 00; serial 0000."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    # widely published examples that are not anyone's number
    return f"{area}{group}{serial}" not in ("078051120", "219099999", "123456789")


def ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True

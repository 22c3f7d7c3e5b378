"""Where a tool call sends things: URLs, bare domains and e-mail addresses in its arguments.

A bare name counts as a domain when it starts with ``www.``, is followed by a
path, or ends in a common top-level domain that is not also a common file
extension (so ``report.pdf`` and ``main.py`` are not domains). Hosts are
lower-cased and stripped of a trailing dot and a port; non-ASCII hosts are
compared as written (a look-alike never equals an allowed ASCII name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_EMAIL_RE = re.compile(
    r"(?<![\w.+-])([\w.+-]{1,64})@((?:[\w-]{1,63}\.)+[\w-]{2,63})(?![\w-])")
_URL_RE = re.compile(
    r"\b(?:[a-z][a-z0-9+.-]{1,15}://|www\.)(?:[^\s/@?#]*@)?([^\s/:?#\"'<>()\[\]\\]+)",
    re.IGNORECASE)
_BARE_RE = re.compile(
    r"(?<![\w@./-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,24}))(/|:\d|\b)",
    re.IGNORECASE)
_COMMON_TLDS = frozenset({
    "com", "org", "net", "io", "ai", "co", "dev", "app", "xyz", "info", "biz", "me", "ru", "cn",
    "de", "uk", "fr", "nl", "eu", "us", "ca", "au", "jp", "in", "br", "it", "es", "ch", "se",
    "no", "pl", "cz", "tk", "ml", "ga", "cf", "gq", "top", "site", "online", "shop", "store",
    "tech", "cloud", "link", "click", "live", "page", "blog", "news", "club", "pro", "today",
    "space", "website", "fun", "icu", "vip", "win", "bid", "loan", "work", "ly", "gl", "gg",
    "tv", "cc", "to", "ws", "su", "ir", "kr", "tw", "hk", "sg", "nz", "za", "mx", "ar", "cl",
    "be", "at", "dk", "fi", "ie", "pt", "gr", "hu", "ro", "ua", "tr", "il", "ae", "sa", "gov",
    "edu", "mil", "int",
})


def _host(raw: str) -> str:
    host = raw.rsplit("@", 1)[-1].split(":", 1)[0].strip(".").lower()
    return host[4:] if host.startswith("www.") else host


def strings_in(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string (keys included) inside decoded JSON ``value``."""
    if depth > 32:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings_in(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v, depth + 1)


def find_destinations(texts: Iterable[str]) -> tuple[set[str], set[str]]:
    """``(hosts, emails)`` found in ``texts``; e-mail domains are not counted as hosts."""
    hosts: set[str] = set()
    emails: set[str] = set()
    for text in texts:
        email_spans: list[tuple[int, int]] = []
        for m in _EMAIL_RE.finditer(text):
            emails.add(f"{m.group(1)}@{m.group(2).lower()}")
            email_spans.append(m.span())
        for m in _URL_RE.finditer(text):
            host = _host(m.group(1) if not m.group(0).lower().startswith("www.")
                         else "www." + m.group(1))
            if host:
                hosts.add(host)
        for m in _BARE_RE.finditer(text):
            if any(s <= m.start() < e for s, e in email_spans):
                continue
            name, tld, after = m.group(1), m.group(2).lower(), m.group(3)
            if name.lower().startswith("www.") or after == "/" or tld in _COMMON_TLDS:
                hosts.add(_host(name))
    return hosts, emails


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """``host`` equals an allowed name or is a subdomain of one (``*.`` prefixes allowed)."""
    for a in allowed:
        a = a.lower().lstrip("*").lstrip(".").rstrip(".")
        if host == a or host.endswith("." + a):
            return True
    return False


def email_allowed(address: str, allowed: Iterable[str]) -> bool:
    """An allowed entry is an address, or ``@domain`` (subdomains included)."""
    low = address.lower()
    domain = low.rsplit("@", 1)[-1]
    for a in allowed:
        a = a.lower()
        if a.startswith("@"):
            if host_allowed(domain, [a[1:]]):
                return True
        elif low == a:
            return True
    return False

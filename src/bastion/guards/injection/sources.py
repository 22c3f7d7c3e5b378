"""The trusted-source allow-list of an alias: domains, URL prefixes, tags, tool names.

``docs.example.com`` trusts that host and its subdomains; ``https://x.example/kb/``
trusts URLs that start with it; ``tag:internal`` trusts documents tagged ``internal``;
``tool:get_weather`` trusts results of that tool. Trusted content is neither scanned nor
spotlighted, and does not mark the conversation as holding untrusted content.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class Sources:
    def __init__(self, entries: list[str]) -> None:
        self.tags = frozenset(e[4:] for e in entries if e.startswith("tag:"))
        self.tools = frozenset(e[5:] for e in entries if e.startswith("tool:"))
        self.prefixes = tuple(e for e in entries if e.startswith(("http://", "https://")))
        self.domains = tuple(e.lower().lstrip(".") for e in entries
                             if not e.startswith(("tag:", "tool:", "http://", "https://")))

    def __bool__(self) -> bool:
        return bool(self.tags or self.tools or self.prefixes or self.domains)

    def trusts_tool(self, name: str | None) -> bool:
        return name is not None and name in self.tools

    def trusts_document(self, source: str | None, tags: list[str]) -> bool:
        if any(t in self.tags for t in tags):
            return True
        if not source:
            return False
        if self.prefixes and source.startswith(self.prefixes):
            return True
        host = (urlsplit(source if "//" in source else "//" + source).hostname or "").lower()
        return bool(host) and any(host == d or host.endswith("." + d) for d in self.domains)

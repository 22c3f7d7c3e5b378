"""Judging one tool call against an alias's firewall policy.

A call is refused (each reason is a :class:`Finding` with ``check="tool"``) when:

* ``tool_not_allowed``: its name is not in ``allowed_tools`` (by default, the
  tools the client offered in the request: a model never needs another);
* ``domain_not_allowed`` / ``recipient_not_allowed``: an argument holds a URL,
  bare domain or e-mail address outside ``allowed_domains`` /
  ``allowed_recipients`` (when those lists are set);
* ``argument_not_allowed``: a value under ``allowed_arguments["tool.arg"]``
  matches none of its glob patterns (IBANs, account ids, channel names…);

A destination or argument value that the user (or the system prompt) wrote in the
conversation is allowed too (:class:`Trusted`): the call goes where the person
asked, not where a document told the model to go.
* ``system_prompt_in_arguments``, ``secret_in_arguments``,
  ``personal_data_in_arguments``: the arguments carry the system prompt (or its
  canary), a key the scanner recognises, or a value the caller marked
  sensitive, and the call does not go only to explicitly allowed destinations
  (a call with no destination at all counts as unknown, so it is refused too).

Pure: the arguments are parsed as JSON when they are JSON and read as text
otherwise; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from bastion.guards.output.base import Finding
from bastion.guards.output.leak import LeakDetector
from bastion.guards.output.secrets import find_secrets
from bastion.guards.tools.destinations import (
    email_allowed,
    find_destinations,
    host_allowed,
    strings_in,
)

MAX_ARGUMENT_CHARS = 256 * 1024
MAX_TRUSTED_CHARS = 256 * 1024


@dataclass(frozen=True, slots=True)
class Trusted:
    """Destinations and values the user (or the system prompt) wrote themselves: a call
    may go where the user asked it to, even when the allow-lists do not name it."""

    hosts: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    text: str = ""  # lower-cased, for argument values

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Trusted:
        joined = "\n".join(texts)[:MAX_TRUSTED_CHARS]
        hosts, emails = find_destinations([joined])
        return cls(frozenset(hosts), frozenset(e.lower() for e in emails), joined.lower())


@dataclass(frozen=True, slots=True)
class FirewallPolicy:
    """An alias's firewall, resolved from settings once."""

    allowed_tools: frozenset[str] | None = None
    allowed_domains: tuple[str, ...] | None = None
    allowed_recipients: tuple[str, ...] | None = None
    allowed_arguments: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    sensitive: bool = True

    @classmethod
    def build(cls, allowed_tools: Iterable[str] | None, allowed_domains: Iterable[str] | None,
              allowed_recipients: Iterable[str] | None,
              allowed_arguments: Mapping[str, Iterable[str]], sensitive: bool) -> FirewallPolicy:
        args: dict[tuple[str, str], tuple[str, ...]] = {}
        for key, patterns in allowed_arguments.items():
            tool, _, arg = key.rpartition(".")
            args[(tool or "*", arg)] = tuple(p.lower() for p in patterns)
        return cls(
            frozenset(allowed_tools) if allowed_tools is not None else None,
            tuple(allowed_domains) if allowed_domains is not None else None,
            tuple(allowed_recipients) if allowed_recipients is not None else None,
            args, sensitive)


def _decode(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments else {}
    except ValueError:
        return arguments


def _argument_findings(policy: FirewallPolicy, name: str, value: Any,
                       trusted: Trusted) -> list[Finding]:
    out: list[Finding] = []
    if not policy.allowed_arguments or not isinstance(value, dict):
        return out
    for (tool, arg), patterns in policy.allowed_arguments.items():
        if tool not in (name, "*") or arg not in value:
            continue
        got = value[arg]
        items = got if isinstance(got, list) else [got]
        for item in items:
            text = (item if isinstance(item, str) else json.dumps(item)).lower()
            if len(text) >= 3 and text in trusted.text:
                continue
            if not any(fnmatchcase(text, p) for p in patterns):
                out.append(Finding("tool", "argument_not_allowed", detail=f"{name}.{arg}"))
                break
    return out


def check_call(
    policy: FirewallPolicy, name: str, arguments: str, *, offered: frozenset[str] | None,
    leak: LeakDetector | None = None, sensitive_values: Iterable[str] = (),
    trusted: Trusted | None = None,
) -> list[Finding]:
    """Every reason to refuse the call ``name(arguments)`` (empty: it may go)."""
    trusted = trusted or Trusted()
    out: list[Finding] = []
    allowed = policy.allowed_tools if policy.allowed_tools is not None else offered
    if allowed is None or name not in allowed:
        out.append(Finding("tool", "tool_not_allowed", detail=name[:64]))
    value = _decode(arguments[:MAX_ARGUMENT_CHARS])
    texts = list(strings_in(value))
    hosts, emails = find_destinations(texts)
    open_destination = not hosts and not emails
    for host in sorted(hosts):
        ok = host in trusted.hosts or (policy.allowed_domains is not None
                                       and host_allowed(host, policy.allowed_domains))
        open_destination = open_destination or not ok
        if policy.allowed_domains is not None and not ok:
            out.append(Finding("tool", "domain_not_allowed", detail=host[:253]))
    for address in sorted(emails):
        ok = address.lower() in trusted.emails or (
            policy.allowed_recipients is not None
            and email_allowed(address, policy.allowed_recipients))
        open_destination = open_destination or not ok
        if policy.allowed_recipients is not None and not ok:
            out.append(Finding("tool", "recipient_not_allowed",
                               detail="@" + address.rsplit("@", 1)[-1]))
    out.extend(_argument_findings(policy, name, value, trusted))
    if policy.sensitive and open_destination:
        out.extend(_sensitive(texts, leak, sensitive_values))
    return out


def _sensitive(texts: list[str], leak: LeakDetector | None,
               sensitive_values: Iterable[str]) -> list[Finding]:
    joined = "\n".join(texts)
    out: list[Finding] = []
    if leak is not None and leak.scan(joined):
        out.append(Finding("tool", "system_prompt_in_arguments"))
    if find_secrets(joined):
        out.append(Finding("tool", "secret_in_arguments"))
    if any(v and v in joined for v in sensitive_values):
        out.append(Finding("tool", "personal_data_in_arguments"))
    return out

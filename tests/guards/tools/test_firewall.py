"""Tool-call judgement alone: destinations, allow-lists, argument rules, sensitive data."""

from __future__ import annotations

import json

from bastion.guards.output.leak import LeakDetector
from bastion.guards.tools.destinations import email_allowed, find_destinations, host_allowed
from bastion.guards.tools.firewall import FirewallPolicy, check_call

OFFERED = frozenset({"fetch", "send_email", "send_money"})


def policy(**kw: object) -> FirewallPolicy:
    args = {"allowed_tools": None, "allowed_domains": None, "allowed_recipients": None,
            "allowed_arguments": {}, "sensitive": True}
    args.update(kw)
    return FirewallPolicy.build(**args)  # type: ignore[arg-type]


def reasons(p: FirewallPolicy, name: str, args: object, **kw: object) -> set[str]:
    return {f.category for f in check_call(p, name, json.dumps(args), offered=OFFERED,
                                           **kw)}  # type: ignore[arg-type]


def test_destinations_found_and_file_names_ignored() -> None:
    hosts, emails = find_destinations([
        "Send www.secure-systems-252.com to Alice", "post to my-site.io/x",
        "report.pdf main.py notes.md", "mail mark.b-21@gmail.com", "http://10.0.0.1/a"])
    assert hosts == {"secure-systems-252.com", "my-site.io", "10.0.0.1"}
    assert emails == {"mark.b-21@gmail.com"}


def test_allow_lists_cover_subdomains_and_domains() -> None:
    assert host_allowed("api.example.com", ["example.com"])
    assert not host_allowed("example.com.evil.net", ["example.com"])
    assert not host_allowed("exаmple.com", ["example.com"])  # noqa: RUF001 - Cyrillic a
    assert email_allowed("Bob@Sales.Example.com", ["@example.com"])
    assert not email_allowed("bob@example.org", ["@example.com", "ann@example.org"])


def test_tools_domains_recipients() -> None:
    p = policy(allowed_domains=["example.com"], allowed_recipients=["@example.com"])
    assert reasons(p, "fetch", {"url": "https://docs.example.com/a"}) == set()
    assert reasons(p, "fetch", {"url": "https://evil.net/a"}) == {"domain_not_allowed"}
    assert reasons(p, "send_email", {"to": ["x@evil.net"]}) == {"recipient_not_allowed"}
    assert reasons(p, "rm_rf", {}) == {"tool_not_allowed"}
    assert reasons(policy(allowed_tools=["fetch"]), "send_email", {}) == {"tool_not_allowed"}
    assert check_call(p, "fetch", "{}", offered=None)[0].category == "tool_not_allowed"


def test_argument_globs() -> None:
    p = policy(allowed_arguments={"send_money.recipient": ["DE89*"], "*.channel": ["general"]})
    assert reasons(p, "send_money", {"recipient": "DE89370400440532013000"}) == set()
    assert reasons(p, "send_money", {"recipient": "US13300"}) == {"argument_not_allowed"}
    assert reasons(p, "fetch", {"channel": "private"}) == {"argument_not_allowed"}


def test_sensitive_data_only_to_allowed_destinations() -> None:
    prompt = "You are the desk agent of Contoso and the discount code is ZEBRA-77, keep it."
    leak = LeakDetector(prompt, "cnry-1234abcd", min_words=6)
    p = policy(allowed_domains=["example.com"])
    assert reasons(p, "fetch", {"url": "https://x.example.com", "q": prompt},
                   leak=leak) == set()
    assert reasons(p, "fetch", {"q": "token cnry-1234abcd"}, leak=leak) == {
        "system_prompt_in_arguments"}
    key = "sk-proj-Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7"
    assert "secret_in_arguments" in reasons(policy(), "fetch", {"url": f"https://a.io/?k={key}"})
    assert reasons(policy(), "fetch", {"body": "Ann Smith, 4 Elm St"},
                   sensitive_values=["4 Elm St"]) == {"personal_data_in_arguments"}
    assert reasons(policy(sensitive=False), "fetch", {"q": key}) == set()


def test_non_json_arguments_are_read_as_text() -> None:
    p = policy(allowed_domains=["example.com"])
    out = check_call(p, "fetch", "go to evil.net now", offered=OFFERED)
    assert [f.category for f in out] == ["domain_not_allowed"]


def test_trusted_destinations_and_values() -> None:
    from bastion.guards.tools.firewall import Trusted

    p = policy(allowed_domains=["example.com"], allowed_recipients=[],
               allowed_arguments={"send_money.recipient": ["DE89*"]})
    t = Trusted.from_texts(["Pay US133000000121212121212 and mail jo@partner.org via site.io"])
    assert reasons(p, "send_money", {"recipient": "US133000000121212121212"}, trusted=t) == set()
    assert reasons(p, "send_email", {"to": "jo@partner.org"}, trusted=t) == set()
    assert reasons(p, "fetch", {"url": "https://site.io/x"}, trusted=t) == set()
    assert reasons(p, "fetch", {"url": "https://other.io/x"}, trusted=t) == {"domain_not_allowed"}

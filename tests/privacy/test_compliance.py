"""Compliance routing by data class, over real HTTP: health data reaches only the
BAA-covered target or is refused with ``no_compliant_provider`` (also while that
target's breaker is open, when fallback must not relax the rule); personal data never
reaches a provider that trains on it; EU subjects' data stays with a DPA in the EU."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from bastion.config.settings import Compliance
from bastion.privacy.compliance import ComplianceRules
from bastion.testing import Behavior, FakeUpstream, GatewayServer

HEALTH = "My name is on file as jane.roe@example-mail.com; I was diagnosed with diabetes."
PLAIN_PII = "Please write to jane.roe@example-mail.com."
NOTHING = "What is the capital of France?"


@pytest.fixture
def ups(upstream_factory: Callable[[], FakeUpstream]) -> Callable[[], FakeUpstream]:
    return upstream_factory


def settings(targets: dict[str, tuple[str, dict[str, Any]]], aliases: dict[str, list[str]],
             **extra: Any) -> dict[str, Any]:
    return {
        "providers": {n: {"type": "openai_compatible", "base_url": url, "compliance": c}
                      for n, (url, c) in targets.items()},
        "models": {a: {"targets": [f"{t}/{t}-m" for t in ts],
                       "timeout_ms": {"connect": 500, "first_byte": 3000, "total": 8000}}
                   for a, ts in aliases.items()},
        **extra,
    }


def ask(gw: GatewayServer, alias: str, text: str, key: str | None = None) -> Any:
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key or gw.create_key(),
                      max_retries=0)
    return c.chat.completions.create(model=alias, messages=[{"role": "user", "content": text}])


def test_health_data_goes_only_to_the_baa_target_or_is_refused(
        ups: Callable[[], FakeUpstream]) -> None:
    nobaa, baa = ups(), ups()
    s = settings({"nobaa": (nobaa.base_url, {"dpa": True}),
                  "baa": (baa.base_url, {"dpa": True, "baa": True})},
                 {"mixed": ["nobaa", "baa"], "plain": ["nobaa"]})
    with GatewayServer(s) as gw:
        assert ask(gw, "mixed", HEALTH).model == "baa-m"
        assert (nobaa.calls, baa.calls) == (0, 1)
        assert ask(gw, "mixed", PLAIN_PII).model == "nobaa-m"  # no PHI: the first target
        with pytest.raises(openai.UnprocessableEntityError) as e:
            ask(gw, "plain", HEALTH)
        err: Any = e.value.body
        assert err["code"] == "no_compliant_provider"
        assert "BAA" in err["message"]
        assert "diabetes" not in err["message"]
        assert (nobaa.calls, baa.calls) == (1, 1)


def test_an_open_breaker_on_the_baa_target_never_sends_phi_elsewhere(
        ups: Callable[[], FakeUpstream]) -> None:
    nobaa, baa = ups(), ups()
    baa.default = Behavior("status", status=500)
    s = settings({"baa": (baa.base_url, {"baa": True}), "nobaa": (nobaa.base_url, {})},
                 {"mixed": ["baa", "nobaa"]},
                 resilience={"breaker": {"failure_threshold": 1, "cooldown_ms": 60000},
                             "retry": {"max_attempts": 1}})
    with GatewayServer(s) as gw:
        for _ in range(3):
            with pytest.raises(openai.APIStatusError) as e:
                ask(gw, "mixed", HEALTH)
            assert e.value.status_code == 503
        assert baa.calls == 1  # then its breaker opened
        assert nobaa.calls == 0  # and the fallback never relaxed the rule
        assert ask(gw, "mixed", NOTHING).model == "nobaa-m"


def test_personal_data_never_reaches_a_provider_that_trains_on_it(
        ups: Callable[[], FakeUpstream]) -> None:
    trains, safe = ups(), ups()
    s = settings({"trains": (trains.base_url, {"trains_on_data": True, "dpa": True}),
                  "safe": (safe.base_url, {"dpa": True})},
                 {"chat": ["trains", "safe"], "only": ["trains"]})
    with GatewayServer(s) as gw:
        assert ask(gw, "chat", NOTHING).model == "trains-m"
        assert ask(gw, "chat", PLAIN_PII).model == "safe-m"
        with pytest.raises(openai.UnprocessableEntityError) as e:
            ask(gw, "only", PLAIN_PII)
        assert "train" in e.value.message
        assert trains.calls == 1


def test_eu_subjects_stay_with_a_dpa_in_an_allowed_region(
        ups: Callable[[], FakeUpstream]) -> None:
    us, eu = ups(), ups()
    s = settings({"us": (us.base_url, {"dpa": True, "regions": ["us"]}),
                  "eu": (eu.base_url, {"dpa": True, "regions": ["EU"]})},
                 {"chat": ["us", "eu"]},
                 privacy={"eu_subjects": {"users": ["marie"]}})
    with GatewayServer(s) as gw:
        marie = gw.create_key(user="marie")
        assert ask(gw, "chat", PLAIN_PII, marie).model == "eu-m"
        assert ask(gw, "chat", PLAIN_PII).model == "us-m"  # not an EU subject
        assert ask(gw, "chat", NOTHING, marie).model == "us-m"  # no personal data


def test_dpa_can_be_required_for_any_personal_data(ups: Callable[[], FakeUpstream]) -> None:
    nodpa, dpa = ups(), ups()
    s = settings({"nodpa": (nodpa.base_url, {}), "dpa": (dpa.base_url, {"dpa": True})},
                 {"chat": ["nodpa", "dpa"]}, privacy={"pii_requires_dpa": True})
    with GatewayServer(s) as gw:
        assert ask(gw, "chat", PLAIN_PII).model == "dpa-m"
        assert ask(gw, "chat", NOTHING).model == "nodpa-m"


@pytest.mark.parametrize(("classes", "c", "rule"), [
    ({"pii", "phi"}, Compliance(dpa=True), "BAA"),
    ({"pii", "eu_personal"}, Compliance(dpa=True, regions=["us"]), "EU"),
    ({"pii", "eu_personal"}, Compliance(regions=["eu"]), "DPA"),
    ({"pii"}, Compliance(trains_on_data=True, dpa=True, baa=True), "train"),
])
def test_each_rule_names_itself(classes: set[str], c: Compliance, rule: str) -> None:
    broken = ComplianceRules().broken(classes, c)
    assert broken is not None
    assert rule in broken
    assert ComplianceRules().broken(set(), c) is None


def test_eu_regions_setting_widens_where_eu_data_may_go() -> None:
    c = Compliance(dpa=True, regions=["ch"])
    assert ComplianceRules().broken({"pii", "eu_personal"}, c) is not None
    assert ComplianceRules(eu_regions=frozenset({"eu", "ch"})).broken(
        {"pii", "eu_personal"}, c) is None


def test_eu_regions_decide_where_eu_data_may_go(ups: Callable[[], FakeUpstream]) -> None:
    ch = ups()
    s = settings({"ch": (ch.base_url, {"dpa": True, "regions": ["ch"]})}, {"chat": ["ch"]},
                 privacy={"eu_subjects": {"all": True}})
    with GatewayServer(s) as gw, pytest.raises(openai.UnprocessableEntityError):
        ask(gw, "chat", PLAIN_PII)
    with GatewayServer({**s, "privacy": {"eu_subjects": {"all": True},
                                         "eu_regions": ["eu", "ch"]}}) as gw:
        assert ask(gw, "chat", PLAIN_PII).model == "ch-m"

"""Policy resolution from the settings: which action a finding gets, who is an EU
subject, the threshold, and settings that are refused."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import ValidationError

from bastion.config.settings import Settings
from bastion.core.context import Identity
from bastion.privacy.entities import Finding
from bastion.privacy.policy import alias_policy, eu_marks
from bastion.testing import FakeUpstream, GatewayServer


def _settings(**privacy: object) -> Settings:
    return Settings.model_validate({
        "providers": {"f": {"type": "fake"}},
        "models": {"chat": {"targets": ["f/m"], "guards": {"pii": "redact"},
                            "privacy": {"actions": {"EMAIL": "allow"}}}},
        "privacy": privacy})


def _f(entity: str) -> Finding:
    return Finding(entity, 0, 1, 0.9, "x")


def test_the_most_specific_action_wins() -> None:
    s = _settings(actions={"phi": "block", "pii": "pseudonymize", "EMAIL": "block",
                           "eu_personal": "block", "secret": "allow"})
    p = alias_policy(s, "chat", s.models["chat"], None)
    assert p.action(_f("EMAIL"), eu=False) == "allow"  # the alias's entity key
    assert p.action(_f("HEALTH"), eu=False) == "block"  # phi
    assert p.action(_f("MEDICAL_RECORD_NUMBER"), eu=False) == "block"
    assert p.action(_f("PHONE"), eu=False) == "pseudonymize"  # pii
    assert p.action(_f("PHONE"), eu=True) == "block"  # eu_personal before pii
    assert p.action(_f("SECRET"), eu=True) == "allow"  # secret, not personal
    plain = _settings()
    q = alias_policy(plain, "chat", plain.models["chat"], None)
    assert q.action(_f("PHONE"), eu=False) == "redact"  # the alias's guards.pii


def test_eu_subjects_by_user_team_key_or_everyone() -> None:
    marks = eu_marks(_settings(eu_subjects={"users": ["u1"], "teams": ["t1"],
                                            "keys": ["k1"]}))
    assert marks.marks(Identity(key_id="k0", user="u1"))
    assert marks.marks(Identity(key_id="k0", team="t1"))
    assert marks.marks(Identity(key_id="k1"))
    assert not marks.marks(Identity(key_id="k0", user="u2", team="t2"))
    assert not marks.marks(None)
    assert eu_marks(_settings(eu_subjects={"all": True})).marks(None)


def test_threshold_drops_weak_findings() -> None:
    text = "jot 0688 872 49 99 down"  # a phone by its shape alone: score 0.6
    with FakeUpstream() as up, GatewayServer({
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"strict": {"targets": ["up/m"], "privacy": {"threshold": 0.7}},
                   "loose": {"targets": ["up/m"]}},
    }) as gw:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        c.chat.completions.create(model="loose", messages=[{"role": "user", "content": text}])
        assert "0688 872 49 99" not in json.dumps(up.received[-1].body)
        c.chat.completions.create(model="strict", messages=[{"role": "user", "content": text}])
        assert "0688 872 49 99" in json.dumps(up.received[-1].body)


@pytest.mark.parametrize("bad", [
    {"actions": {"EMAILS": "block"}},
    {"actions": {"pii": "hide"}},
    {"entities": ["EMAIL", "SOCIAL"]},
    {"threshold": 1.5},
    {"retention": {"bodies_ttl_s": 0}},
    {"unknown": 1},
])
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _settings(**bad)


def test_global_entities_threshold_and_default_action() -> None:
    s = Settings.model_validate({
        "providers": {"f": {"type": "fake"}},
        "models": {"chat": {"targets": ["f/m"]}, "own": {"targets": ["f/m"], "privacy": {
            "entities": ["PHONE"], "threshold": 0.5}, "guards": {"pii": "redact"}}},
        "guards": {"pii": "block"},
        "privacy": {"entities": ["EMAIL"], "threshold": 0.99}})
    chat = alias_policy(s, "chat", s.models["chat"], None)
    own = alias_policy(s, "own", s.models["own"], None)
    text = "mail a.b@corp.example, jot 0688 872 49 99 down"
    assert [f.entity for f in chat.detector.analyze(text)] == []  # EMAIL scores 0.95 < 0.99
    assert [f.entity for f in own.detector.analyze(text)] == ["PHONE"]
    assert chat.default == "block"
    assert own.default == "redact"
    lower = Settings.model_validate({**s.model_dump(exclude={"privacy"}),
                                     "privacy": {"entities": ["EMAIL"]}})
    p = alias_policy(lower, "chat", lower.models["chat"], None)
    assert [f.entity for f in p.detector.analyze(text)] == ["EMAIL"]

"""The guard settings: short and long forms, per-alias merging, validation with paths."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bastion.config.settings import Settings, SettingsError


def load(top: dict[str, Any], **chat: Any) -> Settings:
    return Settings.model_validate({
        "providers": {"f": {"type": "fake"}}, "guards": top,
        "models": {"chat": {"targets": ["f/x"], **chat}}})


def test_short_form_and_alias_override_merge() -> None:
    s = load({"injection": "flag"}, guards={"injection": {"indirect": "drop"}})
    assert s.guards.injection.action == "flag"
    assert s.guards.injection.indirect_action() == "flag"
    merged = s.models["chat"].guards.injection.over(s.guards.injection)  # type: ignore[union-attr]
    assert (merged.action, merged.indirect_action()) == ("flag", "drop")
    assert load({"injection": "sanitize"}).guards.injection.indirect_action() == "neutralise"
    assert load({"injection": "block"}).guards.injection.indirect_action() == "block"


@pytest.mark.parametrize(("guards", "chat", "needle"), [
    ({"injection": "maybe"}, {}, "action"),
    ({"injection": {"threshold": 0}}, {}, "threshold"),
    ({"injection": {"sources": ["not a source"]}}, {}, "not a source"),
    ({"system_prompts": {"a": "Hello {password}"}}, {}, "unknown template variable"),
    ({}, {"system_prompt": "Hi {nope}"}, "unknown template variable"),
    ({}, {"system_prompt": {"template": "missing"}}, "no template 'missing'"),
    ({"client_system": "ignore"}, {}, "client_system"),
])
def test_bad_guard_settings_are_refused(guards: dict[str, Any], chat: dict[str, Any],
                                        needle: str) -> None:
    with pytest.raises((ValidationError, SettingsError)) as e:
        load(guards, **chat)
    assert needle in str(e.value)

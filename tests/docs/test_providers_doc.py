"""docs/providers.md has a section for every provider type, and each of its examples is a
complete configuration that validates as the gateway would load it."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml

from bastion.config.settings import ProviderType, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
_YAML = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)


def _examples() -> list[str]:
    return _YAML.findall(DOC.read_text(encoding="utf-8"))


def test_every_provider_type_has_a_section_with_an_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)
    for kind in typing.get_args(ProviderType):
        [section] = [s for s in sections if s.startswith(f"{kind}\n")]
        assert f"type: {kind}" in section, kind
    assert len(_examples()) >= len(typing.get_args(ProviderType))


@pytest.mark.parametrize("example", _examples())
def test_each_example_is_a_valid_configuration(example: str) -> None:
    settings = Settings.model_validate(yaml.safe_load(example))
    assert settings.providers
    assert settings.models

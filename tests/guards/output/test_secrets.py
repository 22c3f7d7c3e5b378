"""Secrets in answers, with the scanner's detectors and confidence levels."""

from __future__ import annotations

from bastion.guards.output.secrets import find_secrets


def test_provider_key_and_variable_named_key() -> None:
    [f] = find_secrets("export MISTRAL_API_KEY=xupoP3Rut9KZDUCim5WepoQQPUWROVun")
    assert f.category == "mistral-api-key"
    text = "é " + "key sk-proj-Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7 end"
    [f] = find_secrets(text)
    assert text[f.start:f.end].startswith("sk-proj-")


def test_confidence_floor() -> None:
    generic = 'password = "Zq8xW3vB9nM2kL7jH4gF"'
    assert find_secrets(generic, "low")
    assert not find_secrets(generic, "medium")
    assert not find_secrets("MISTRAL_API_KEY=your-mistral-key-here")

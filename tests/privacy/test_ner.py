"""Names: the model is imported only when an alias asks for names, loaded off the loop;
names are pseudonymised and restored like every other value."""

from __future__ import annotations

import json
import subprocess
import sys

import openai

from bastion.privacy.analyzer import Detector
from bastion.privacy.entities import ALL_ENTITIES
from bastion.privacy.ner import NameRecogniser
from bastion.testing import FakeUpstream, GatewayServer

PROBE = """
import sys, asyncio
from bastion.app import Gateway
from bastion.config.settings import Settings
s = Settings.model_validate({"state": {"database": "memory://"},
    "providers": {"f": {"type": "fake"}}, "models": {"chat": {"targets": ["f/m"],
    "privacy": {"entities": %s}}}})
async def main():
    gw = Gateway(s, {})
    await gw.start()
    if gw.privacy_loading is not None:
        await gw.privacy_loading
    print("spacy" in sys.modules)
    await gw.close()
asyncio.run(main())
"""


def _spacy_loaded(entities: list[str]) -> bool:
    out = subprocess.run([sys.executable, "-c", PROBE % json.dumps(entities)],  # noqa: S603
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip().splitlines()[-1] == "True"


def test_the_model_is_imported_only_when_an_alias_asks_for_names() -> None:
    assert not _spacy_loaded(["EMAIL", "PHONE"])
    assert _spacy_loaded(["EMAIL", "PERSON"])


def test_names_places_and_organisations_are_found() -> None:
    det = Detector(frozenset(ALL_ENTITIES), names=NameRecogniser())
    got = {(f.entity, f.value) for f in det.analyze(
        "Yesterday Maria Gonzalez flew from Madrid to meet the board of Siemens AG.")}
    assert ("PERSON", "Maria Gonzalez") in got
    assert ("LOCATION", "Madrid") in got
    assert ("ORGANIZATION", "Siemens AG") in got
    # A first name alone, later on, is the same person.
    later = det.analyze("Maria Gonzalez called. Later Maria said yes.")
    assert [f.value for f in later if f.entity == "PERSON"] == ["Maria Gonzalez", "Maria"]


def test_names_are_pseudonymised_and_restored_over_http() -> None:
    text = "My name is Jane Roe and my colleague Pieter van Dijk works in Rotterdam."
    with FakeUpstream() as up, GatewayServer({
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["up/m"], "privacy": {
            "entities": ["EMAIL", "PERSON", "LOCATION"]}}},
    }) as gw:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        r = c.chat.completions.create(model="chat", messages=[{"role": "user", "content": text}])
        assert r.choices[0].message.content == f"You said: {text}"
        sent = json.dumps(up.received[-1].body)
        for name in ("Jane Roe", "Pieter", "Dijk", "Rotterdam"):
            assert name not in sent

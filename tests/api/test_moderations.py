"""``POST /v1/moderations``: forwarded to a configured provider, else the local detector."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from openai.types import ModerationCreateResponse

from bastion.config.settings import Settings
from bastion.testing import Behavior, FakeUpstream, GatewayServer


@pytest.fixture
def forwarding() -> Iterator[tuple[GatewayServer, FakeUpstream]]:
    with FakeUpstream() as up:
        settings = {"providers": {"oa": {"type": "openai", "base_url": up.base_url + "/v1",
                                         "api_key": "env:OPENAI_API_KEY"}},
                    "models": {"chat": {"targets": ["oa/gpt-x"]}},
                    "moderations": {"target": "oa/omni-moderation-latest"}}
        with GatewayServer(settings, env={"OPENAI_API_KEY": "sk-mod-provider-key-0"}) as gw:
            yield gw, up


def test_forwarded_to_the_configured_provider(
        forwarding: tuple[GatewayServer, FakeUpstream]) -> None:
    gw, up = forwarding
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    out = c.moderations.create(input=["I will hurt you", "have a nice day"],
                               model="text-moderation-stable")
    ModerationCreateResponse.model_validate(out.model_dump(by_alias=True))
    assert [r.flagged for r in out.results] == [True, False]
    assert out.results[0].categories.violence is True
    sent = up.received[-1]
    assert sent.path == "/v1/moderations"
    assert sent.body == {"input": ["I will hurt you", "have a nice day"],
                         "model": "omni-moderation-latest"}  # the configured model
    assert sent.headers["Authorization"] == "Bearer sk-mod-provider-key-0"


def test_needs_a_key_and_reports_provider_failures(
        forwarding: tuple[GatewayServer, FakeUpstream]) -> None:
    gw, up = forwarding
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.openai_base_url, api_key="bst_wrong",
                      max_retries=0).moderations.create(input="x")
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    up.push(Behavior(kind="status", status=500))
    with pytest.raises(openai.InternalServerError) as e:
        c.moderations.create(input="x")
    assert e.value.status_code == 503
    assert e.value.code == "upstream_unavailable"
    up.push(Behavior(kind="status", status=400))
    with pytest.raises(openai.BadRequestError) as bad:
        c.moderations.create(input="x")
    assert bad.value.code == "upstream_rejected"


def test_timeout_ms_bounds_the_provider_call() -> None:
    with FakeUpstream() as up:
        settings = {"providers": {"oa": {"type": "openai", "base_url": up.base_url + "/v1"}},
                    "models": {"chat": {"targets": ["oa/gpt-x"]}},
                    "moderations": {"target": "oa/omni-moderation-latest", "timeout_ms": 300}}
        with GatewayServer(settings) as gw:
            c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                              max_retries=0, timeout=10)
            up.push(Behavior(kind="ok", delay_s=0.15))  # within the time-out: answered
            assert c.moderations.create(input="fine").results[0].flagged is False
            up.push(Behavior(kind="hang", delay_s=1))
            started = time.monotonic()
            with pytest.raises(openai.InternalServerError) as e:
                c.moderations.create(input="x")
            assert time.monotonic() - started < 2
            assert e.value.code == "upstream_unavailable"


def test_without_a_target_the_local_detector_answers(gateway: GatewayServer) -> None:
    c = openai.OpenAI(base_url=gateway.openai_base_url, api_key=gateway.create_key(),
                      max_retries=0)
    r = c.moderations.create(input=["hello there", "You should kill yourself."])
    assert r.model == "bastion-local"
    assert [x.flagged for x in r.results] == [False, True]
    assert r.results[1].categories.self_harm is True
    assert r.results[1].category_scores.self_harm >= 0.5


def test_target_must_be_a_provider_with_a_moderations_api() -> None:
    with pytest.raises(ValueError, match="has no moderations API"):
        Settings.model_validate({
            "providers": {"an": {"type": "anthropic"}},
            "models": {"chat": {"targets": ["an/claude"]}},
            "moderations": {"target": "an/claude"}})
    with pytest.raises(ValueError, match="not under providers"):
        Settings.model_validate({"moderations": {"target": "nope/m"}})

"""The Vertex AI adapter, end to end: the openai and anthropic SDKs → a real gateway → a
Vertex stand-in on loopback whose token endpoint checks the service account's JWT
signature and whose model endpoints require the access token it issued. Gemini models
through generateContent, Claude models through rawPredict, embeddings through predict."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bastion.providers.fake import estimate_tokens, fake_embedding
from bastion.providers.vertex import default_base
from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.upstream_gemini import gemini_error_body
from bastion.testing.upstream_vertex import GoogleVerifier, vertex_upstream

from .conftest import sdk

FAST = {"connect": 1000, "first_byte": 2000, "total": 5000}
TOOL = {"type": "function", "function": {
    "name": "lookup", "description": "Find a record.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}


@pytest.fixture(scope="module")
def verifier() -> GoogleVerifier:
    return GoogleVerifier(project="my-project", location="us-central1")


@pytest.fixture(scope="module")
def standin(verifier: GoogleVerifier) -> Iterator[FakeUpstream]:
    with vertex_upstream(verifier) as up:
        yield up


def settings_for(base_url: str, **provider: Any) -> dict[str, Any]:
    p = {"type": "vertex", "project": "my-project", "location": "us-central1",
         "base_url": base_url, "credentials": "env:SA_JSON",
         "compliance": {"dpa": True, "baa": True, "regions": ["eu"]}, **provider}
    return {
        "providers": {"vertex": {k: v for k, v in p.items() if v is not None}},
        "models": {"gemini-eu": {"targets": ["vertex/gemini-2.0-flash"], "timeout_ms": FAST},
                   "claude": {"targets": ["vertex/claude-3-5-haiku@20241022"],
                              "timeout_ms": FAST},
                   "embed": {"targets": ["vertex/text-embedding-005"], "kind": "embeddings"}},
        "resilience": {"retry": {"max_attempts": 1}, "breaker": {"enabled": False}},
        "guards": {"injection": {"spotlight": "off"}},  # tool results as sent
    }


@pytest.fixture(scope="module")
def gw(standin: FakeUpstream, verifier: GoogleVerifier) -> Iterator[GatewayServer]:
    env = {"SA_JSON": verifier.service_account(standin.base_url + "/token")}
    with GatewayServer(settings_for(standin.base_url), env=env) as server:
        yield server


@pytest.fixture
def up(standin: FakeUpstream, verifier: GoogleVerifier) -> FakeUpstream:
    standin.received.clear()
    standin.script.clear()
    verifier.refusals.clear()
    return standin


GEMINI_PATH = "/v1/projects/my-project/locations/us-central1/publishers/google/models/"
CLAUDE_PATH = "/v1/projects/my-project/locations/us-central1/publishers/anthropic/models/"


def test_gemini_on_vertex(client: openai.OpenAI, up: FakeUpstream, vkey: str) -> None:
    r = client.chat.completions.create(
        model="gemini-eu", messages=[{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "hello vertex"}])
    assert r.choices[0].message.content == "You said: hello vertex"
    assert r.usage is not None
    assert r.usage.completion_tokens > 0
    sent = up.received[-1]
    assert sent.path == GEMINI_PATH + "gemini-2.0-flash:generateContent"
    assert sent.headers["Authorization"].startswith("Bearer ya29.")
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert vkey not in json.dumps(sent.headers) + json.dumps(sent.body)
    chunks = list(client.chat.completions.create(
        model="gemini-eu", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream from gemini on vertex"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "You said: stream from gemini on vertex")
    assert chunks[-1].usage is not None
    assert up.received[-1].path == GEMINI_PATH + "gemini-2.0-flash:streamGenerateContent?alt=sse"


def test_gemini_tools(client: openai.OpenAI, up: FakeUpstream) -> None:
    msgs: list[Any] = [{"role": "user", "content": "find order 9"}]
    r = client.chat.completions.create(model="gemini-eu", messages=msgs, tools=[TOOL])
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert r.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"query": "find order 9"}
    msgs += [r.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "delivered"}]
    r2 = client.chat.completions.create(model="gemini-eu", messages=msgs, tools=[TOOL])
    assert r2.choices[0].message.content == "The tool said: delivered"


def test_claude_on_vertex_both_dialects(client: openai.OpenAI, claude: anthropic.Anthropic,
                                        up: FakeUpstream) -> None:
    r = client.chat.completions.create(model="claude", max_tokens=100,
                                       messages=[{"role": "user", "content": "hi claude"}])
    assert r.choices[0].message.content == "You said: hi claude"
    sent = up.received[-1]
    assert sent.path == CLAUDE_PATH + "claude-3-5-haiku@20241022:rawPredict"
    assert sent.body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in sent.body
    assert "anthropic-version" not in {k.lower() for k in sent.headers}
    m = claude.messages.create(model="claude", max_tokens=100, extra_body={"top_k": 5},
                               messages=[{"role": "user", "content": "anthropic sdk"}])
    assert m.content[0].type == "text"
    assert m.content[0].text == "You said: anthropic sdk"
    assert m.usage.output_tokens > 0
    assert up.received[-1].body["top_k"] == 5  # the Anthropic-only parameter passes through
    with claude.messages.stream(model="claude", max_tokens=100,
                                messages=[{"role": "user", "content": "streamed"}]) as s:
        assert "".join(s.text_stream) == "You said: streamed"
    assert up.received[-1].path.endswith(":streamRawPredict")
    tool = client.chat.completions.create(model="claude", tools=[TOOL],
                                          messages=[{"role": "user", "content": "look"}])
    assert tool.choices[0].finish_reason == "tool_calls"


def test_one_token_for_many_calls(client: openai.OpenAI, up: FakeUpstream,
                                  verifier: GoogleVerifier) -> None:
    client.chat.completions.create(model="gemini-eu",
                                   messages=[{"role": "user", "content": "warm"}])
    grants = verifier.grants
    for i in range(3):
        client.chat.completions.create(model="gemini-eu",
                                       messages=[{"role": "user", "content": f"n{i}"}])
    assert verifier.grants == grants


def test_revoked_token_is_replaced_once(client: openai.OpenAI, up: FakeUpstream,
                                        verifier: GoogleVerifier) -> None:
    client.chat.completions.create(model="gemini-eu", messages=[{"role": "user", "content": "x"}])
    grants = verifier.grants
    verifier.tokens.clear()  # every issued token revoked
    r = client.chat.completions.create(model="claude", max_tokens=50,
                                       messages=[{"role": "user", "content": "after revoke"}])
    assert r.choices[0].message.content == "You said: after revoke"
    assert verifier.refusals == ["UNAUTHENTICATED"]
    assert verifier.grants == grants + 1


def test_revoked_token_is_replaced_before_a_stream_starts(
        client: openai.OpenAI, up: FakeUpstream, verifier: GoogleVerifier) -> None:
    client.chat.completions.create(model="gemini-eu", messages=[{"role": "user", "content": "x"}])
    verifier.tokens.clear()
    chunks = list(client.chat.completions.create(
        model="gemini-eu", stream=True, messages=[{"role": "user", "content": "stream on"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "You said: stream on")
    assert verifier.refusals == ["UNAUTHENTICATED"]


def test_errors_map_like_other_adapters(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(Behavior("status", status=429, body=gemini_error_body(429, "Quota exceeded")))
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="gemini-eu",
                                       messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 503
    up.push(Behavior("status", status=400, body=gemini_error_body(400, "bad field foo")))
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="claude", max_tokens=10,
                                       messages=[{"role": "user", "content": "hi"}])
    assert "bad field foo" in bad.value.body["message"]  # type: ignore[index]


def test_embeddings_through_predict(client: openai.OpenAI, up: FakeUpstream) -> None:
    r = client.embeddings.create(model="embed", input=["one", "two"], dimensions=64)
    assert [d.embedding for d in r.data] == [pytest.approx(fake_embedding(t, 64))
                                              for t in ("one", "two")]
    assert r.usage.prompt_tokens == estimate_tokens("one") + estimate_tokens("two")
    assert up.received[-1].body == {"instances": [{"content": "one"}, {"content": "two"}],
                                    "parameters": {"outputDimensionality": 64}}


def test_token_refreshed_before_it_expires(standin: FakeUpstream,
                                           verifier: GoogleVerifier) -> None:
    verifier.token_lifetime_s = 2.0  # refreshed after 1.5 s (a quarter of its life left)
    verifier.refusals.clear()
    env = {"SA_JSON": verifier.service_account(standin.base_url + "/token")}
    try:
        with GatewayServer(settings_for(standin.base_url), env=env) as server:
            c = sdk(server)
            grants = verifier.grants
            for text in ("a", "b"):
                c.chat.completions.create(model="gemini-eu",
                                          messages=[{"role": "user", "content": text}])
            assert verifier.grants == grants + 1
            time.sleep(1.6)
            c.chat.completions.create(model="gemini-eu",
                                      messages=[{"role": "user", "content": "c"}])
            assert verifier.grants == grants + 2
    finally:
        verifier.token_lifetime_s = 3600.0
    assert verifier.refusals == []  # never sent an expired token


def test_a_key_google_does_not_know_is_refused(standin: FakeUpstream,
                                               verifier: GoogleVerifier) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    env = {"SA_JSON": verifier.service_account(standin.base_url + "/token", key=other)}
    verifier.refusals.clear()
    with GatewayServer(settings_for(standin.base_url), env=env) as server:
        c = sdk(server)
        with pytest.raises(openai.APIStatusError) as e:
            c.chat.completions.create(model="gemini-eu",
                                      messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 503
    assert verifier.refusals == ["invalid_grant"]
    assert "PRIVATE KEY" not in json.dumps(e.value.body)


def test_workload_identity_and_application_default_credentials(
        standin: FakeUpstream, verifier: GoogleVerifier, tmp_path: Path) -> None:
    host = standin.base_url.removeprefix("http://")
    metadata = verifier.metadata_grants
    settings = settings_for(standin.base_url, credentials=None)
    with GatewayServer(settings, env={"GCE_METADATA_HOST": host}) as server:
        c = sdk(server)
        r = c.chat.completions.create(model="gemini-eu",
                                      messages=[{"role": "user", "content": "wi"}])
    assert r.choices[0].message.content == "You said: wi"
    assert verifier.metadata_grants == metadata + 1
    key_file = tmp_path / "sa.json"
    key_file.write_text(verifier.service_account(standin.base_url + "/token"))
    grants = verifier.grants
    with GatewayServer(settings, env={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}) as s:
        c = sdk(s)
        c.chat.completions.create(model="gemini-eu",
                                  messages=[{"role": "user", "content": "adc"}])
    assert verifier.grants == grants + 1


def test_project_and_location_make_the_url(standin: FakeUpstream,
                                           verifier: GoogleVerifier) -> None:
    env = {"SA_JSON": verifier.service_account(standin.base_url + "/token")}
    for field, value in (("location", "europe-west4"), ("project", "someone-else")):
        settings = settings_for(standin.base_url, **{field: value})
        with GatewayServer(settings, env=env) as server:
            c = sdk(server)
            with pytest.raises(openai.APIStatusError):
                c.chat.completions.create(model="gemini-eu",
                                          messages=[{"role": "user", "content": "hi"}])
        assert f"/{field}s/{value}/" in standin.received[-1].path
        assert standin.received[-1].path.startswith("/v1/projects/")
    assert default_base("us-central1") == "https://us-central1-aiplatform.googleapis.com"
    assert default_base("global") == "https://aiplatform.googleapis.com"


def test_compliance_fields_reach_the_route(gw: GatewayServer) -> None:
    target = gw.gateway.route.aliases["gemini-eu"].targets[0]
    assert target.compliance.baa
    assert target.compliance.regions == ["eu"]

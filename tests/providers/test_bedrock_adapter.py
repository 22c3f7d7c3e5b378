"""The Bedrock adapter, end to end: the openai and anthropic SDKs → a real gateway → a
Bedrock stand-in on loopback that recomputes every SigV4 signature (and refuses a wrong
one), checks Converse bodies as Bedrock does and streams in the AWS event-stream framing."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from bastion.config.remote_secrets import sigv4_headers
from bastion.providers.fake import estimate_tokens, fake_embedding
from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.aws_standin import AwsVerifier, TemporaryCredentials
from bastion.testing.upstream_bedrock import bedrock_routes, error_behavior

from .conftest import sdk

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
FAST = {"connect": 1000, "first_byte": 2000, "total": 5000}
TOOL = {"type": "function", "function": {
    "name": "lookup", "description": "Find a record.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}
ENV = {"BEDROCK_AK": ACCESS_KEY, "BEDROCK_SK": SECRET_KEY}


@pytest.fixture(scope="module")
def verifier() -> AwsVerifier:
    return AwsVerifier(region="us-east-1", keys={ACCESS_KEY: SECRET_KEY},
                       api_keys={"bedrock-api-key-0123456789"})


@pytest.fixture(scope="module")
def standin(verifier: AwsVerifier) -> Iterator[FakeUpstream]:
    with FakeUpstream(routes=bedrock_routes(verifier)) as up:
        yield up


def settings_for(base_url: str, **provider: Any) -> dict[str, Any]:
    p = {"type": "bedrock", "region": "us-east-1", "base_url": base_url,
         "aws_access_key_id": "env:BEDROCK_AK", "aws_secret_access_key": "env:BEDROCK_SK",
         "compliance": {"dpa": True, "baa": True, "regions": ["us"]}, **provider}
    return {
        "providers": {"bedrock": {k: v for k, v in p.items() if v is not None}},
        "models": {"claude-hipaa": {"targets": [f"bedrock/{MODEL}"], "timeout_ms": FAST},
                   "titan": {"targets": ["bedrock/amazon.titan-embed-text-v2:0"],
                             "kind": "embeddings"},
                   "cohere": {"targets": ["bedrock/cohere.embed-english-v3"],
                              "kind": "embeddings"}},
        "resilience": {"retry": {"max_attempts": 1}, "breaker": {"enabled": False}},
        "guards": {"injection": {"spotlight": "off"}},  # tool results as sent
    }


@pytest.fixture(scope="module")
def gw(standin: FakeUpstream) -> Iterator[GatewayServer]:
    with GatewayServer(settings_for(standin.base_url), env=ENV) as server:
        yield server


@pytest.fixture
def up(standin: FakeUpstream, verifier: AwsVerifier) -> FakeUpstream:
    standin.received.clear()
    standin.script.clear()
    verifier.refusals.clear()
    verifier.signed_with.clear()
    return standin


def test_signer_matches_botocore() -> None:
    """The signer the adapter uses writes what botocore (AWS's own SDK) writes, for a
    Bedrock URL whose model id holds a ':' (encoded in the path, encoded again when signed)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = ("https://bedrock-runtime.us-east-1.amazonaws.com/model/"
           "anthropic.claude-3-5-haiku-20241022-v1%3A0/converse")
    body = b'{"messages":[]}'
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, "tok"), "bedrock", "us-east-1").add_auth(
        request)
    when = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=dt.UTC)
    ours = sigv4_headers(method="POST", url=url, body=body, region="us-east-1",
                         service="bedrock", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                         session_token="tok", now=when,
                         headers={"Content-Type": "application/json"})
    theirs = request.headers["Authorization"]
    assert ours["Authorization"] == theirs


def test_chat_signed_and_translated(client: openai.OpenAI, up: FakeUpstream,
                                    verifier: AwsVerifier, vkey: str) -> None:
    r = client.chat.completions.create(
        model="claude-hipaa", max_tokens=200, temperature=0.2, stop=["END"],
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "hello bedrock"}])
    assert r.choices[0].message.content == "You said: hello bedrock"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.prompt_tokens > 0
    assert r.usage.completion_tokens > 0
    assert verifier.signed_with == [ACCESS_KEY]
    assert not verifier.refusals
    sent = up.received[-1]
    assert sent.path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    assert sent.body["system"] == [{"text": "Be brief."}]
    assert sent.body["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.2,
                                            "stopSequences": ["END"]}
    assert SECRET_KEY not in json.dumps(sent.headers)
    assert vkey not in json.dumps(sent.headers) + json.dumps(sent.body)


def test_stream_in_event_stream_framing(client: openai.OpenAI, up: FakeUpstream) -> None:
    stream = client.chat.completions.create(
        model="claude-hipaa", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream me a fairly long sentence please"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream me a fairly long sentence please"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 2
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert up.received[-1].path.endswith("/converse-stream")


def test_tools_round_trip(client: openai.OpenAI, up: FakeUpstream) -> None:
    msgs: list[Any] = [{"role": "user", "content": "find order 42"}]
    r = client.chat.completions.create(model="claude-hipaa", messages=msgs, tools=[TOOL],
                                       tool_choice="required")
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"query": "find order 42"}
    spec = up.received[-1].body["toolConfig"]
    assert spec["toolChoice"] == {"any": {}}
    assert spec["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"] == ["query"]
    msgs += [r.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "shipped"}]
    r2 = client.chat.completions.create(model="claude-hipaa", messages=msgs, tools=[TOOL])
    assert r2.choices[0].message.content == "The tool said: shipped"
    turns = up.received[-1].body["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"][0]["toolResult"]["toolUseId"] == call.id


def test_streamed_tool_call(client: openai.OpenAI, up: FakeUpstream) -> None:
    chunks = list(client.chat.completions.create(
        model="claude-hipaa", stream=True, tools=[TOOL],
        messages=[{"role": "user", "content": "find order 7"}]))
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].function is not None
    assert calls[0].function.name == "lookup"
    args = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert json.loads(args) == {"query": "find order 7"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_anthropic_dialect_stream_and_not(claude: anthropic.Anthropic, up: FakeUpstream) -> None:
    m = claude.messages.create(model="claude-hipaa", max_tokens=100, system="Be brief.",
                               messages=[{"role": "user", "content": "hi from anthropic sdk"}])
    assert m.content[0].type == "text"
    assert m.content[0].text == "You said: hi from anthropic sdk"
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens > 0
    assert m.usage.output_tokens > 0
    with claude.messages.stream(model="claude-hipaa", max_tokens=100,
                                messages=[{"role": "user", "content": "and streamed"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "You said: and streamed"
    assert final.usage.output_tokens > 0
    tool = claude.messages.create(
        model="claude-hipaa", max_tokens=100,
        tools=[{"name": "lookup", "input_schema": {"type": "object",
                                                   "properties": {"query": {"type": "string"}}}}],
        messages=[{"role": "user", "content": "look it up"}])
    assert tool.stop_reason == "tool_use"
    assert tool.content[-1].type == "tool_use"
    assert tool.content[-1].input == {
        "query": "look it up"}


def test_throttling_is_retried_then_answered(gw: GatewayServer, up: FakeUpstream,
                                             vkey: str) -> None:
    up.push(error_behavior("ThrottlingException", 429, "Too many requests, please wait.",
                           retry_after="0"))
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=vkey, max_retries=0)
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="claude-hipaa",
                                       messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 503  # one attempt in this module: throttled, no fallback
    assert e.value.body["code"] == "upstream_unavailable"  # type: ignore[index]
    r = client.chat.completions.create(model="claude-hipaa",
                                       messages=[{"role": "user", "content": "again"}])
    assert r.choices[0].message.content == "You said: again"


def test_validation_error_reaches_the_client(client: openai.OpenAI, up: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="claude-hipaa", temperature=1.5,
                                       messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "upstream_rejected"  # type: ignore[index]
    assert "temperature" in e.value.body["message"]  # type: ignore[index]


def test_mid_stream_exception_ends_the_stream(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(Behavior("cut_stream", body=b'{"message": "model stream error"}',
                     headers={"exception": "throttlingException"}))
    stream = client.chat.completions.create(
        model="claude-hipaa", stream=True,
        messages=[{"role": "user", "content": "describe the weather in Lisbon in spring"}])
    with pytest.raises(openai.APIError):
        list(stream)


def test_corrupt_frame_is_a_bad_response(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(Behavior("malformed"))
    with pytest.raises(openai.APIStatusError) as e:
        list(client.chat.completions.create(
            model="claude-hipaa", stream=True,
            messages=[{"role": "user", "content": "hello"}]))
    assert e.value.status_code == 503


def test_wrong_secret_is_refused_by_the_signature_check(standin: FakeUpstream,
                                                        verifier: AwsVerifier) -> None:
    verifier.refusals.clear()
    env = {**ENV, "BEDROCK_SK": "not-the-secret-key-at-all"}
    with GatewayServer(settings_for(standin.base_url), env=env) as server:
        c = sdk(server)
        with pytest.raises(openai.APIStatusError) as e:
            c.chat.completions.create(model="claude-hipaa",
                                      messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 503
    assert "not-the-secret" not in json.dumps(e.value.body)
    assert verifier.refusals == ["InvalidSignatureException"]


def test_credentials_from_the_standard_environment(standin: FakeUpstream,
                                                   verifier: AwsVerifier) -> None:
    """No references on the provider: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
    verifier.signed_with.clear()
    settings = settings_for(standin.base_url, aws_access_key_id=None,
                            aws_secret_access_key=None)
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    with GatewayServer(settings, env=env) as server:
        c = sdk(server)
        r = c.chat.completions.create(model="claude-hipaa",
                                      messages=[{"role": "user", "content": "env creds"}])
    assert r.choices[0].message.content == "You said: env creds"
    assert verifier.signed_with == [ACCESS_KEY]


def test_web_identity_role_file(standin: FakeUpstream, verifier: AwsVerifier,
                                tmp_path: Path) -> None:
    """AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: STS hands out temporary credentials,
    which sign the Bedrock calls (with their session token) until they near expiry."""
    token_file = tmp_path / "token"
    token_file.write_text("eyJ-web-identity-token\n")
    verifier.roles.add("arn:aws:iam::123456789012:role/bastion")
    verifier.web_identity_token = "eyJ-web-identity-token"
    verifier.signed_with.clear()
    verifier.session_s = 3600
    standin.received.clear()
    settings = settings_for(standin.base_url, aws_access_key_id=None,
                            aws_secret_access_key=None)
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
           "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/bastion",
           "AWS_ENDPOINT_URL_STS": standin.base_url + "/sts"}
    with GatewayServer(settings, env=env) as server:
        c = sdk(server)
        for i in range(2):  # one STS call: the credentials are kept
            r = c.chat.completions.create(model="claude-hipaa",
                                          messages=[{"role": "user", "content": f"role {i}"}])
            assert r.choices[0].message.content == f"You said: role {i}"
        verifier.session_s = 200  # shorter than the five-minute refresh margin
        server.gateway.reload_secrets()  # SIGHUP: fetch credentials again
        for i in range(2):  # credentials about to expire are replaced before each use
            c.chat.completions.create(model="claude-hipaa",
                                      messages=[{"role": "user", "content": f"again {i}"}])
    assert sum(1 for r in standin.received if r.path == "/sts/") == 3
    keys = verifier.signed_with
    assert len(keys) == 4
    assert all(k.startswith("ASIA") for k in keys)
    assert keys[0] == keys[1]
    assert len({keys[1], keys[2], keys[3]}) == 3


def test_bedrock_api_key(standin: FakeUpstream, verifier: AwsVerifier) -> None:
    settings = settings_for(standin.base_url, aws_access_key_id=None,
                            aws_secret_access_key=None, api_key="env:BEDROCK_API_KEY")
    with GatewayServer(settings, env={"BEDROCK_API_KEY": "bedrock-api-key-0123456789"}) as s:
        c = sdk(s)
        r = c.chat.completions.create(model="claude-hipaa",
                                      messages=[{"role": "user", "content": "bearer"}])
    assert r.choices[0].message.content == "You said: bearer"
    assert standin.received[-1].headers["Authorization"] == "Bearer bedrock-api-key-0123456789"


def _floats(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_embeddings_titan_and_cohere(client: openai.OpenAI, up: FakeUpstream) -> None:
    t = client.embeddings.create(model="titan", input=["alpha", "beta"], dimensions=256)
    assert [d.embedding for d in t.data] == [pytest.approx(fake_embedding(x, 256))
                                              for x in ("alpha", "beta")]
    assert t.usage.prompt_tokens == estimate_tokens("alpha") + estimate_tokens("beta")
    assert sum(1 for r in up.received if r.path.endswith("titan-embed-text-v2%3A0/invoke")) == 2
    c = client.embeddings.create(model="cohere", input=["gamma", "delta", "eps"])
    assert len(c.data) == 3
    assert c.usage.prompt_tokens == sum(map(estimate_tokens, ["gamma", "delta", "eps"]))
    assert _floats(client.embeddings.with_raw_response.create(
        model="cohere", input="gamma", encoding_format="base64").http_response.json()[
        "data"][0]["embedding"]) == pytest.approx(fake_embedding("gamma", 256), abs=1e-6)
    assert up.received[-1].body == {"texts": ["gamma"], "input_type": "search_document"}


def test_compliance_fields_reach_the_route(gw: GatewayServer) -> None:
    """Until compliance routing lands: a bedrock provider's compliance settings are read
    into the route's targets, where the compliance predicate looks for them."""
    target = gw.gateway.route.aliases["claude-hipaa"].targets[0]
    assert target.compliance.baa
    assert target.compliance.dpa
    assert target.compliance.regions == ["us"]


def test_region_scopes_the_signature_and_the_endpoint(standin: FakeUpstream,
                                                      verifier: AwsVerifier) -> None:
    """A provider in another region signs for that region (the stand-in serves
    us-east-1, as a regional endpoint would, and refuses the scope); without base_url
    the endpoint is the region's own."""
    from bastion.config.settings import ProviderSettings
    from bastion.providers.registry import build_provider

    verifier.refusals.clear()
    settings = settings_for(standin.base_url, region="eu-central-1")
    with GatewayServer(settings, env=ENV) as server:
        c = sdk(server)
        with pytest.raises(openai.APIStatusError):
            c.chat.completions.create(model="claude-hipaa",
                                      messages=[{"role": "user", "content": "hi"}])
    assert verifier.refusals == ["InvalidSignatureException"]
    async def url() -> str:
        provider, _ = build_provider("b", ProviderSettings(type="bedrock",
                                                           region="eu-central-1"), {}, env={})
        try:
            return str(provider._url("m:1", "converse"))  # type: ignore[attr-defined]
        finally:
            await provider.aclose()

    assert asyncio.run(url()) == (
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/m%3A1/converse")


def test_session_token_reference(standin: FakeUpstream, verifier: AwsVerifier) -> None:
    """Temporary credentials given by reference: the session token is sent and signed."""
    verifier.temporary["ASIATEMPORARYKEY0001"] = TemporaryCredentials(
        "temporary-secret", "session-token-abc", time.time() + 3600)
    env = {"T_AK": "ASIATEMPORARYKEY0001", "T_SK": "temporary-secret",
           "T_ST": "session-token-abc"}
    refs = {"aws_access_key_id": "env:T_AK", "aws_secret_access_key": "env:T_SK"}
    verifier.refusals.clear()
    for token_ref, ok in (("env:T_ST", True), (None, False)):
        settings = settings_for(standin.base_url, aws_session_token=token_ref, **refs)
        with GatewayServer(settings, env=env) as server:
            c = sdk(server)
            try:
                c.chat.completions.create(model="claude-hipaa",
                                          messages=[{"role": "user", "content": "temp"}])
                answered = True
            except openai.APIStatusError:
                answered = False
        assert answered is ok
    assert standin.received[-2].headers["X-Amz-Security-Token"] == "session-token-abc"
    assert verifier.refusals == ["UnrecognizedClientException"]


def test_health_data_goes_to_the_baa_covered_bedrock_target(
        standin: FakeUpstream, verifier: AwsVerifier,
        upstream_factory: Callable[[], FakeUpstream]) -> None:
    """Compliance routing with a real cloud provider: a request carrying health data skips
    the first (non-BAA) target and reaches Bedrock, whose provider says ``baa: true``;
    the pseudonymised request is what Bedrock is sent, and the client gets its words back."""
    public = upstream_factory()
    settings = settings_for(standin.base_url)
    settings["providers"]["public"] = {"type": "openai_compatible", "base_url": public.base_url,
                                       "compliance": {"dpa": True}}
    settings["models"]["care"] = {"targets": ["public/gpt-4o-mini", f"bedrock/{MODEL}"],
                                  "timeout_ms": FAST}
    health = "My email is jane.roe@example-mail.com and I was diagnosed with diabetes."
    standin.received.clear()
    with GatewayServer(settings, env=ENV) as server:
        c = sdk(server)
        r = c.chat.completions.create(model="care",
                                      messages=[{"role": "user", "content": health}])
        plain = c.chat.completions.create(
            model="care", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert r.model == MODEL
    assert public.calls == 1  # only the request without health data
    assert plain.choices[0].message.content == "You said: What is the capital of France?"
    [sent] = [x for x in standin.received if x.path.endswith("/converse")]
    assert "jane.roe@example-mail.com" not in json.dumps(sent.body)  # a stand-in went out
    assert "jane.roe@example-mail.com" in (r.choices[0].message.content or "")  # restored

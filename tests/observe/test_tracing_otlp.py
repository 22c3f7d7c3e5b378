"""Tracing end to end: the official openai SDK in front of a real gateway (with an OTLP
endpoint configured) in front of two FakeUpstream servers, the primary failing once per
request; the spans go over real OTLP/HTTP (protobuf) to a receiver on loopback."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from bastion.observe.tracing import NoopTracer, OtelTracer, TracedStep
from bastion.testing import Behavior, FakeUpstream, GatewayServer, fake_settings
from bastion.testing.aws_standin import AwsVerifier
from bastion.testing.loopthread import LoopThread
from bastion.testing.upstream_bedrock import bedrock_routes

PROMPT = "tell me about the zebra-marker-7f3a"
PROVIDER_KEY = "sk-provider-secret-5b1e9d"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent: str
    attrs: dict[str, Any]
    error: bool
    service: str
    events: list[str]
    kind: int = 0


@dataclass
class Receiver:
    """An OTLP/HTTP trace receiver: keeps every raw body and the spans decoded from it."""

    bodies: list[bytes] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        self.content_types.add(request.content_type)
        self.bodies.append(raw)
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(raw)
        for rs in msg.resource_spans:
            res = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    attrs = {a.key: _value(a.value) for a in s.attributes}
                    self.spans.append(Span(
                        s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                        attrs, s.status.code == s.status.STATUS_CODE_ERROR,
                        res.get("service.name", ""), [e.name for e in s.events], s.kind))
        return web.Response(body=b"", content_type="application/x-protobuf")


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", rec.handle)
    app.router.add_post("/custom/spans", rec.handle)
    thread = LoopThread(app)
    thread.start()
    yield rec, thread.base_url
    thread.stop()


@pytest.fixture
def upstream_pair() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream() as primary, FakeUpstream() as secondary:
        yield primary, secondary


def traced_settings(endpoint: str, primary: str, secondary: str) -> dict[str, Any]:
    return {
        "providers": {
            "primary": {"type": "openai_compatible", "base_url": primary,
                        "api_key": "env:UP_KEY"},
            "secondary": {"type": "openai_compatible", "base_url": secondary,
                          "api_key": "env:UP_KEY"},
        },
        "models": {"chat": {"targets": ["primary/primary-model", "secondary/secondary-model"],
                            "timeout_ms": {"connect": 500, "first_byte": 2000,
                                           "total": 5000}}},
        "resilience": {"otlp_endpoint": endpoint, "service_name": "bastion-under-test"},
    }


def test_spans_of_steps_and_attempts_reach_an_otlp_receiver(
    receiver: tuple[Receiver, str], upstream_pair: tuple[FakeUpstream, FakeUpstream],
) -> None:
    rec, endpoint = receiver
    primary, secondary = upstream_pair
    primary.push(Behavior("status", status=500), Behavior("status", status=500))
    settings = traced_settings(endpoint, primary.base_url, secondary.base_url)
    gw = GatewayServer(settings, env={"UP_KEY": PROVIDER_KEY}).start()
    try:
        vkey = gw.create_key()
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=vkey, max_retries=0,
                               timeout=10)
        msgs: Any = [{"role": "user", "content": PROMPT}]
        plain = client.chat.completions.with_raw_response.create(
            model="chat", messages=msgs, extra_headers={"x-request-id": "rid-plain"})
        assert plain.parse().model == "secondary-model"
        streamed = client.chat.completions.with_raw_response.create(
            model="chat", messages=msgs, stream=True,
            extra_headers={"x-request-id": "rid-stream"})
        text = "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
        assert PROMPT in text
        joined = client.chat.completions.with_raw_response.create(
            model="chat", messages=msgs, extra_headers={
                "x-request-id": "rid-joined",
                "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
        assert joined.parse().model == "primary-model"
        # a provider's refusal that quotes the prompt: the message must not reach a span
        echo = f'{{"error": {{"message": "refused: {PROMPT}"}}}}'.encode()
        primary.push(Behavior("status", status=400, body=echo))
        with pytest.raises(openai.BadRequestError, match="zebra-marker"):
            client.chat.completions.create(model="chat", messages=msgs,
                                           extra_headers={"x-request-id": "rid-refused"})
        step_names = {s.name for s in gw.gateway.pipeline.steps if isinstance(s, TracedStep)}
        assert len(step_names) == len(gw.gateway.pipeline.steps)
        tracer = gw.gateway.tracer
        assert isinstance(tracer, OtelTracer)
        assert tracer.flush(5.0)
    finally:
        gw.stop()
    assert rec.content_types == {"application/x-protobuf"}
    assert {"step.meter", "step.authenticate"} <= step_names
    by_rid: dict[str, list[Span]] = {}
    for s in rec.spans:
        assert s.service == "bastion-under-test"
        by_rid.setdefault(str(s.attrs.get("bastion.request_id")), []).append(s)
    assert set(by_rid) == {"rid-plain", "rid-stream", "rid-joined", "rid-refused"}
    assert not [s.events for s in rec.spans if s.events]  # no exception events, no messages
    refused = {s.name: s for s in by_rid.pop("rid-refused")}
    assert set(refused) == {*step_names, "chat primary-model"}
    assert all(s.error for s in refused.values())
    assert refused["chat primary-model"].attrs["error.type"] == "ProviderBadRequest"
    assert refused["step.meter"].attrs["error.type"] == "UpstreamRejected"

    trace_ids = {}
    for rid, spans in by_rid.items():
        names = [s.name for s in spans]
        assert step_names <= set(names), rid
        assert len({s.trace_id for s in spans}) == 1, rid  # one trace per request
        ids = {s.span_id: s for s in spans}
        roots = [s for s in spans if s.parent not in ids]
        assert [s.name for s in roots] == ["step.meter"], rid
        trace_ids[rid] = spans[0].trace_id
        ups = sorted((s for s in spans if s.attrs.get("gen_ai.operation.name") == "chat"),
                     key=lambda s: int(s.attrs["bastion.attempt"]))
        # every upstream attempt sits inside the innermost step span, inside the root,
        # and names the routing strategy and why its first target was first
        for u in ups:
            assert (u.attrs["bastion.routing.strategy"],
                    u.attrs["bastion.routing.why"]) == ("ordered", "first in order")
            chain = []
            node: Span | None = u
            while node is not None:
                chain.append(node.name)
                node = ids.get(node.parent)
            assert chain[-1] == "step.meter"
            assert set(chain[1:]) == step_names
        if rid == "rid-joined":
            assert [(u.attrs["bastion.target"], u.error) for u in ups] == [
                ("primary/primary-model", False)]
            continue
        assert [(u.attrs["bastion.target"], u.error) for u in ups] == [
            ("primary/primary-model", True), ("secondary/secondary-model", False)]
        assert ups[0].attrs["error.type"] == "ProviderServerError"
        assert ups[1].attrs["bastion.stream"] is (rid == "rid-stream")
        assert not any(s.error for s in spans if s.name.startswith("step.")), rid

    # the client's traceparent is the parent of the root span; its trace id comes back
    joined_root = next(s for s in by_rid["rid-joined"] if s.name == "step.meter")
    assert (joined_root.trace_id, joined_root.parent) == (CLIENT_TRACE, CLIENT_SPAN)
    assert joined.headers["x-bastion-trace-id"] == CLIENT_TRACE
    assert plain.headers["x-bastion-trace-id"] == trace_ids["rid-plain"]
    assert streamed.headers["x-bastion-trace-id"] == trace_ids["rid-stream"]
    assert trace_ids["rid-plain"] != trace_ids["rid-stream"]
    # trace headers are not forwarded to the providers
    for r in primary.received + secondary.received:
        assert not {"traceparent", "tracestate"} & {h.lower() for h in r.headers}

    # nothing secret or private left the gateway in a span
    wire = b"".join(rec.bodies)
    for secret in (PROMPT, "zebra-marker", vkey, PROVIDER_KEY):
        assert secret.encode() not in wire


def test_tracing_off_wraps_nothing() -> None:
    with GatewayServer(fake_settings()) as gw:
        assert isinstance(gw.gateway.tracer, NoopTracer)
        assert gw.gateway.route.tracer is gw.gateway.tracer
        assert not any(isinstance(s, TracedStep) for s in gw.gateway.pipeline.steps)
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                               max_retries=0, timeout=10)
        resp = client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
        assert "x-bastion-trace-id" not in resp.headers


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT",
                                      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_the_standard_environment_variables_turn_tracing_on(
    receiver: tuple[Receiver, str], variable: str,
) -> None:
    rec, endpoint = receiver
    if variable.endswith("TRACES_ENDPOINT"):  # a full URL, used as is
        endpoint += "/custom/spans"
    env = {variable: endpoint, "OTEL_SERVICE_NAME": "from-env"}
    with GatewayServer(fake_settings(), env=env) as gw:
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                               max_retries=0, timeout=10)
        client.chat.completions.create(model="chat",
                                       messages=[{"role": "user", "content": "hi"}])
    # stopping the gateway shuts the tracer down, which exports what is left
    assert {s.service for s in rec.spans} == {"from-env"}
    assert {"step.meter", "chat fake-model"} <= {s.name for s in rec.spans}


# --- the OpenTelemetry GenAI conventions --------------------------------------------------

BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
SYSTEM = "You are terse."


@pytest.fixture
def bedrock() -> Iterator[FakeUpstream]:
    verifier = AwsVerifier(keys={"AKIDEXAMPLE": "secret-example"})
    with FakeUpstream(routes=bedrock_routes(verifier)) as up:
        yield up


def genai_settings(endpoint: str, bedrock: FakeUpstream, **telemetry: Any) -> dict[str, Any]:
    return {
        "providers": {"bedrock": {"type": "bedrock", "region": "us-east-1",
                                  "base_url": bedrock.base_url,
                                  "aws_access_key_id": "env:AK",
                                  "aws_secret_access_key": "env:SK"}},
        "models": {"chat": {"targets": [f"bedrock/{BEDROCK_MODEL}"]},
                   "embed": {"targets": ["bedrock/cohere.embed-english-v3"],
                             "kind": "embeddings"}},
        "resilience": {"otlp_endpoint": endpoint},
        "telemetry": telemetry,
    }


def _run(gw: GatewayServer, prompt: str) -> tuple[Any, list[Any], Any]:
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                           max_retries=0, timeout=10)
    msgs: Any = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    plain = client.chat.completions.create(model="chat", messages=msgs, max_tokens=50,
                                           temperature=0.3)
    chunks = list(client.chat.completions.create(model="chat", messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}))
    emb = client.embeddings.create(model="embed", input=["one", "two"])
    tracer = gw.gateway.tracer
    assert isinstance(tracer, OtelTracer)
    assert tracer.flush(5.0)
    return plain, chunks, emb


def test_genai_spans_and_metrics_follow_the_conventions(
    receiver: tuple[Receiver, str], bedrock: FakeUpstream,
) -> None:
    rec, endpoint = receiver
    env = {"AK": "AKIDEXAMPLE", "SK": "secret-example"}
    with GatewayServer(genai_settings(endpoint, bedrock), env=env) as gw:
        plain, chunks, emb = _run(gw, PROMPT)
        metrics = httpx.get(gw.base_url + "/metrics", timeout=5).text
    calls = [s for s in rec.spans if "gen_ai.operation.name" in s.attrs]
    chat = [s for s in calls if s.attrs["gen_ai.operation.name"] == "chat"]
    assert [s.name for s in chat] == [f"chat {BEDROCK_MODEL}"] * 2
    assert {s.kind for s in calls} == {3}  # SPAN_KIND_CLIENT
    first, streamed = sorted(chat, key=lambda s: "gen_ai.server.time_to_first_token" in s.attrs)
    assert first.attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert first.attrs["gen_ai.request.model"] == BEDROCK_MODEL
    assert first.attrs["gen_ai.response.model"] == plain.model
    assert first.attrs["gen_ai.response.id"] == plain.id
    assert first.attrs["gen_ai.request.max_tokens"] == 50
    assert first.attrs["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert first.attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert first.attrs["gen_ai.usage.input_tokens"] == plain.usage.prompt_tokens
    assert first.attrs["gen_ai.usage.output_tokens"] == plain.usage.completion_tokens
    usage = chunks[-1].usage
    assert streamed.attrs["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert streamed.attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert 0 < streamed.attrs["gen_ai.server.time_to_first_token"] < 5
    [embed] = [s for s in calls if s.attrs["gen_ai.operation.name"] == "embeddings"]
    assert embed.name == "embeddings cohere.embed-english-v3"
    assert embed.attrs["gen_ai.usage.input_tokens"] == emb.usage.prompt_tokens
    for s in calls:  # no content unless opted in
        assert not {"gen_ai.input.messages", "gen_ai.output.messages",
                    "gen_ai.system_instructions"} & set(s.attrs)
    assert PROMPT.encode() not in b"".join(rec.bodies)
    assert SYSTEM.encode() not in b"".join(rec.bodies)
    labels = (f'gen_ai_operation_name="chat",gen_ai_provider_name="aws.bedrock",'
              f'gen_ai_request_model="{BEDROCK_MODEL}"')
    assert f'gen_ai_client_operation_duration_seconds_count{{error_type="",{labels}}} 2.0' in (
        metrics)
    assert f'gen_ai_client_token_usage_count{{{labels},gen_ai_token_type="output"}} 2.0' in (
        metrics)
    assert f"gen_ai_server_time_to_first_token_seconds_count{{{labels}}} 1.0" in metrics


def test_genai_content_only_when_the_operator_opts_in(
    receiver: tuple[Receiver, str], bedrock: FakeUpstream,
) -> None:
    rec, endpoint = receiver
    env = {"AK": "AKIDEXAMPLE", "SK": "secret-example"}
    settings = genai_settings(endpoint, bedrock, capture_content=True, content_max_chars=20)
    with GatewayServer(settings, env=env) as gw:
        plain, _, _ = _run(gw, PROMPT)
    chat = [s for s in rec.spans if s.attrs.get("gen_ai.operation.name") == "chat"]
    assert len(chat) == 2
    for s in chat:
        assert json.loads(str(s.attrs["gen_ai.system_instructions"])) == [
            {"type": "text", "content": SYSTEM}]
        assert json.loads(str(s.attrs["gen_ai.input.messages"])) == [
            {"role": "user", "parts": [{"type": "text", "content": PROMPT[:20] + "…"}]}]
        [out] = json.loads(str(s.attrs["gen_ai.output.messages"]))
        assert out["role"] == "assistant"
        assert out["finish_reason"] == "stop"
        assert out["parts"] == [{"type": "text",
                                 "content": (plain.choices[0].message.content or "")[:20] + "…"}]

"""What a new client meets first: model lists in its own dialect, the right error for
a model that does not exist, and unknown routes visible in the request log."""

from __future__ import annotations

import io
import json

import anthropic
import httpx
import openai
import pytest
from anthropic.types import ModelInfo

from bastion.testing import GatewayServer


def test_models_in_anthropic_shape_for_anthropic_clients(gateway: GatewayServer) -> None:
    key = gateway.create_key(models=["chat"])
    ac = anthropic.Anthropic(base_url=gateway.base_url, api_key=key, max_retries=0)
    page = ac.models.list()
    assert [m.id for m in page.data] == ["chat"]
    raw = httpx.get(gateway.base_url + "/v1/models",
                    headers={"x-api-key": key, "anthropic-version": "2023-06-01"}).json()
    assert raw["has_more"] is False
    assert raw["first_id"] == raw["last_id"] == "chat"
    for m in raw["data"]:
        ModelInfo.model_validate(m)
        assert m["type"] == "model"
        assert m["display_name"] == "chat"
    assert ac.models.retrieve("chat").id == "chat"
    with pytest.raises(anthropic.NotFoundError):
        ac.models.retrieve("embeddings")  # exists, but not for this key
    oc = openai.OpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0)
    assert [m.id for m in oc.models.list()] == ["chat"]
    assert httpx.get(gateway.openai_base_url + "/models",
                     headers={"Authorization": f"Bearer {key}"}).json()["object"] == "list"


def test_unknown_model_is_404_for_every_key_out_of_scope_is_403(
        gateway: GatewayServer) -> None:
    scoped = gateway.create_key(models=["embeddings"])
    for key in (scoped, gateway.create_key()):
        oc = openai.OpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0)
        with pytest.raises(openai.NotFoundError) as e:
            oc.chat.completions.create(model="no-such", messages=[{"role": "user",
                                                                   "content": "x"}])
        assert e.value.code == "model_not_found"
    oc = openai.OpenAI(base_url=gateway.openai_base_url, api_key=scoped, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        oc.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert denied.value.code == "model_not_allowed"
    ac = anthropic.Anthropic(base_url=gateway.base_url, api_key=scoped, max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        ac.messages.count_tokens(model="no-such", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.PermissionDeniedError):
        ac.messages.count_tokens(model="chat", messages=[{"role": "user", "content": "x"}])


def test_unknown_routes_are_in_the_request_log(gateway: GatewayServer,
                                               captured: io.StringIO) -> None:
    r = httpx.post(gateway.base_url + "/v1/assistants?token=abc", json={"secret": "body"})
    assert r.status_code == 404
    r2 = httpx.delete(gateway.base_url + "/v1/chat/completions")
    assert r2.status_code == 405
    lines = [json.loads(x) for x in captured.getvalue().splitlines()]
    logged = [(x["method"], x["path"], x["status"], x["error_code"]) for x in lines
              if x.get("event") == "request" and "method" in x]
    assert logged == [("POST", "/v1/assistants", 404, "not_found"),
                      ("DELETE", "/v1/chat/completions", 405, "method_not_allowed")]
    assert "body" not in captured.getvalue()
    assert "token=abc" not in captured.getvalue()
    assert all(x["request_id"] and x["latency_ms"] >= 0 for x in lines)

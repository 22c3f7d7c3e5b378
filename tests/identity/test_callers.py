"""Service keys acting for their end users: named per request, limited per user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai

from bastion.testing import FakeIdentityProvider, GatewayServer, fake_settings

from .conftest import chat, http, jwt_config, refused

PER_USER = {**fake_settings(), "traffic": {"defaults": {"user": {"rpm": 2}}}}


def new_key(gw: GatewayServer, **spec: Any) -> str:
    r = http().post(gw.base_url + "/admin/keys", json={"name": "backend", **spec},
                    headers={"Authorization": f"Bearer {gw.master_key}"})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def users_in_log(gw: GatewayServer, *users: str) -> dict[str, int]:
    gw.run(gw.gateway.recorder.flush())
    return {u: len(gw.run(gw.gateway.db.usage_for_user(u))) for u in users}


def test_a_service_key_names_users_by_header_or_body(
        gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(PER_USER)
    key = new_key(gw, act_for_users=True)
    for _ in range(2):
        assert chat(gw, key, headers={"x-bastion-user": "u-1"}).status_code == 200
    refused(chat(gw, key, headers={"x-bastion-user": "u-1"}), 429, "rate_limit_exceeded")
    # Another user has their own limit; the OpenAI SDK's `user` field names them too.
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0,
                           http_client=http())
    client.chat.completions.create(model="chat", user="u-2",
                                   messages=[{"role": "user", "content": "hi"}])
    # And the Anthropic SDK's metadata.user_id.
    ac = anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)
    with ac:
        ac.messages.create(model="chat", max_tokens=10, metadata={"user_id": "u-3"},
                           messages=[{"role": "user", "content": "hi"}])
    assert users_in_log(gw, "u-1", "u-2", "u-3") == {"u-1": 3, "u-2": 1, "u-3": 1}


def test_keys_without_the_permission_cannot_name_users(
        gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(PER_USER)
    key = new_key(gw, user="owner")
    msg = refused(chat(gw, key, headers={"x-bastion-user": "victim"}), 403, "user_not_allowed")
    assert "act_for_users" in msg
    # The body's `user` field is passed on but changes nothing: the key's own user pays.
    assert chat(gw, key, user="victim").status_code == 200
    assert users_in_log(gw, "victim", "owner") == {"victim": 0, "owner": 1}


def test_jwt_callers_cannot_name_other_users(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(jwt_config(idp))
    refused(chat(gw, idp.token("me"), headers={"x-bastion-user": "someone"}), 403,
            "user_not_allowed")
    assert chat(gw, idp.token("me"), user="someone").status_code == 200
    assert users_in_log(gw, "me", "someone") == {"me": 1, "someone": 0}


def test_a_named_user_must_be_a_sane_id(gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(fake_settings())
    key = new_key(gw, act_for_users=True)
    refused(chat(gw, key, headers={"x-bastion-user": "x" * 201}), 400, "invalid_request")


def test_the_cli_creates_keys_that_act_for_users(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from bastion.cli import app

    cfg = tmp_path / "bastion.yaml"
    cfg.write_text(f"state: {{database: 'sqlite:///{tmp_path / 'b.db'}'}}\n")
    r = CliRunner().invoke(app, ["keys", "create", "--name", "svc", "--act-for-users",
                                 "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    listed = CliRunner().invoke(app, ["keys", "list", "--json", "--config", str(cfg)])
    assert '"act_for_users": "true"' in listed.output

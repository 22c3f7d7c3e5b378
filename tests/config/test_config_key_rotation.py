"""Provider keys rotate without a restart: after ``reload_secrets()`` (what SIGHUP
calls; the SIGHUP itself is exercised on a real subprocess in
tests/security/test_canary_key.py) or once ``key_ttl_s`` has passed, the next call
to the provider carries the new key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import openai
import pytest
from moto.server import ThreadedMotoServer

from bastion.testing import FakeUpstream, GatewayServer


def settings(up: FakeUpstream, api_key: str, **provider: Any) -> dict[str, Any]:
    return {"providers": {"oa": {"type": "openai", "base_url": up.base_url + "/v1",
                                 "api_key": api_key, **provider}},
            "models": {"chat": {"targets": ["oa/gpt-4o-mini"]}}}


def key_seen(gw: GatewayServer, up: FakeUpstream, vkey: str) -> str:
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=vkey, max_retries=0)
    c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    return up.received[-1].headers["Authorization"].removeprefix("Bearer ")


def reload_secrets(gw: GatewayServer) -> None:
    async def reload() -> None:
        gw.gateway.reload_secrets()

    gw.run(reload())


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def test_file_secret_rotates_on_reload(tmp_path: Path, up: FakeUpstream) -> None:
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-file-old-0001\n")
    with GatewayServer(settings(up, f"file:{key_file}")) as gw:
        vkey = gw.create_key()
        assert key_seen(gw, up, vkey) == "sk-file-old-0001"
        key_file.write_text("sk-file-new-0002\n")
        assert key_seen(gw, up, vkey) == "sk-file-old-0001"  # cached until told
        reload_secrets(gw)
        assert key_seen(gw, up, vkey) == "sk-file-new-0002"


def test_file_secret_rotates_after_ttl(tmp_path: Path, up: FakeUpstream) -> None:
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-ttl-old-0001")
    with GatewayServer(settings(up, f"file:{key_file}", key_ttl_s=0.3)) as gw:
        vkey = gw.create_key()
        assert key_seen(gw, up, vkey) == "sk-ttl-old-0001"
        key_file.write_text("sk-ttl-new-0002")
        time.sleep(0.4)
        assert key_seen(gw, up, vkey) == "sk-ttl-new-0002"


def test_aws_sm_secret_rotates_on_reload(up: FakeUpstream) -> None:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        env = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDROTATION00000000",
               "AWS_SECRET_ACCESS_KEY": "rotation-test-secret",
               "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://{host}:{port}"}
        sm = boto3.client("secretsmanager", region_name="us-east-1",
                          endpoint_url=f"http://{host}:{port}",
                          aws_access_key_id="AKIDROTATION00000000",
                          aws_secret_access_key="rotation-test-secret")
        sm.create_secret(Name="prod/llm", SecretString='{"openai": "sk-aws-old-0001"}')
        with GatewayServer(settings(up, "aws-sm:prod/llm#openai"), env=env) as gw:
            vkey = gw.create_key()
            assert key_seen(gw, up, vkey) == "sk-aws-old-0001"
            sm.put_secret_value(SecretId="prod/llm", SecretString='{"openai": "sk-aws-new-0002"}')
            assert key_seen(gw, up, vkey) == "sk-aws-old-0001"
            reload_secrets(gw)
            assert key_seen(gw, up, vkey) == "sk-aws-new-0002"
    finally:
        moto.stop()

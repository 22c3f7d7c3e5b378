"""The usage log tells served requests from refused ones (and both from cancelled ones)."""

from __future__ import annotations

import httpx
import openai
import pytest

from bastion.testing import GatewayServer, fake_settings


def test_refused_requests_are_not_counted_as_served() -> None:
    with GatewayServer(fake_settings()) as gw:
        key = gw.create_key(rpm=2)
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
        refused = 0
        for _ in range(5):
            try:
                c.chat.completions.create(model="chat",
                                          messages=[{"role": "user", "content": "hi"}])
            except openai.RateLimitError:
                refused += 1
        assert refused == 3
        with pytest.raises(openai.BadRequestError):  # refused before any provider call
            c.chat.completions.create(model="chat", messages=[])
        key_id = gw.run(gw.gateway.keys.list())[0].id
        usage = httpx.get(f"{gw.base_url}/admin/keys/{key_id}/usage",
                          headers={"Authorization": f"Bearer {gw.master_key}"}).json()
        assert usage["requests"] == 2
        assert usage["served"] == 2
        assert usage["refused"] == 3  # the invalid request never reached authentication
        assert usage["cancelled"] == 0
        assert usage["failed"] == 0
        assert usage["prompt_tokens"] > 0

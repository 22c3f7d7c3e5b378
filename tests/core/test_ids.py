"""Request ids say nothing about traffic volume (they used to be a visible counter)."""

from __future__ import annotations

import httpx

from bastion.core.ids import new_id
from bastion.testing import GatewayServer

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def test_request_ids_over_http_are_unrelated_to_each_other(gateway: GatewayServer) -> None:
    key = gateway.create_key()
    ids = []
    for _ in range(20):
        r = httpx.post(gateway.openai_base_url + "/chat/completions", json=CHAT,
                       headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
        ids.append(r.headers["x-request-id"])
    assert len(set(ids)) == 20
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    # a counter shows as a shared prefix and consecutive tails; random ids share neither
    assert len({i[:16] for i in ids}) == 20
    assert len({i[-4:] for i in ids}) >= 19
    tails = sorted(int(i[-8:], 16) for i in ids)
    assert tails[-1] - tails[0] > 1000


def test_ids_are_unique_in_bulk() -> None:
    ids = {new_id() for _ in range(100_000)}
    assert len(ids) == 100_000

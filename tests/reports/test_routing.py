"""What auto routing and context trimming did, from the usage log: the admin API and the
dashboard's overview page show the same numbers."""

from __future__ import annotations

import re

import httpx

from bastion.testing import GatewayServer
from bastion.testing.server import MASTER_KEY

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}


def test_routing_decisions_and_trimming_are_reported() -> None:
    settings = {
        "providers": {"fake": {"type": "fake"}},
        "models": {
            "assistant": {"kind": "auto", "auto": {"cheap": "small", "strong": "big"}},
            "small": {"targets": [{"target": "fake/small", "price": PRICE}]},
            "big": {"targets": [{"target": "fake/big", "price": PRICE}],
                    "context": {"max_prompt_tokens": 100}},
        },
    }
    with GatewayServer(settings) as gw:
        key = gw.create_key()

        def ask(messages: list[dict[str, str]]) -> None:
            r = httpx.post(gw.openai_base_url + "/chat/completions",
                           headers={"authorization": f"Bearer {key}"},
                           json={"model": "assistant", "messages": messages}, timeout=10)
            assert r.status_code == 200, r.text

        for _ in range(2):
            ask([{"role": "user", "content": "Is Oslo in Norway? Yes or no."}])
        ask([{"role": "user", "content": "Design a billing system: " + "detail " * 150},
             {"role": "assistant", "content": "Which parts?"},
             {"role": "user", "content": "Explain the trade-offs of each part."}])
        r = httpx.get(gw.base_url + "/admin/stats/routing?range=1h", headers=ADMIN).json()
        cheap, strong = r["auto_route"]
        assert cheap == {"alias": "assistant", "to": "small", "choice": "cheap",
                         "reason": "yes_no", "requests": 2, "cost_usd": cheap["cost_usd"]}
        assert cheap["cost_usd"] > 0
        assert (strong["to"], strong["choice"], strong["reason"], strong["requests"]) == (
            "big", "strong", "analysis", 1)
        (trim,) = r["trim"]
        assert (trim["alias"], trim["mode"], trim["requests"]) == ("big", "dropped", 1)
        assert trim["tokens_removed"] > 100
        # the overview page shows the same rows
        c = httpx.Client(base_url=gw.base_url, timeout=10)
        page = c.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        c.post("/ui/login", data={"name": "", "password": MASTER_KEY, "csrf": csrf.group(1),
                                  "next": "/ui/"})
        html = c.get("/ui/").text
        assert "Auto routing" in html
        assert "<code>yes_no</code>" in html
        assert "Context trimming" in html
        assert f'{trim["tokens_removed"]:,}' in html
        assert "/admin/stats/routing?range=24h" in html

"""Dashboard test helpers: a gateway with reviews and guards, and a signed-in client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bastion.testing import GatewayServer

PROVIDER_KEY = "sk-provider-secret-0123456789abcdef"
PASSWORD = "a-long-password-for-ann"
ANSWER = ("I'm not sure, but ibuprofen can raise blood pressure and weaken some blood "
          "pressure pills. Please ask your pharmacist before you take them together.")
PRICE = {"input_per_mtok": 250.0, "output_per_mtok": 1000.0}  # big, to show on the pages
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def dashboard_settings(**extra: Any) -> dict[str, Any]:
    return {
        "providers": {"fake": {"type": "fake", "limits": {"rpm": 120, "tpm": 20000}},
                      "careful": {"type": "fake", "fake": {"reply": ANSWER}},
                      "paid": {"type": "openai", "base_url": "http://127.0.0.1:9/v1",
                               "api_key": "env:PAID_KEY"}},
        "models": {
            "chat": {"targets": [{"target": "fake/small", "price": PRICE}]},
            "advice": {"targets": [{"target": "careful/med-1", "price": PRICE}],
                       "review": {"min_confidence": 0.6, "action": "hold",
                                  "reject_message": "A pharmacist could not confirm this "
                                                    "answer. Please call us."}},
            # pii allow: the key in the prompt reaches the echoing fake as written, so the
            # output guard finds it in the answer (the privacy step would send a stand-in)
            "guarded": {"targets": ["fake/small"],
                        "guards": {"output": {"mode": "block"}, "pii": "allow"}},
            "notes": {"targets": ["fake/small"],
                      "guards": {"output": {"mode": "flag"}, "pii": "allow"}},
            "paid": {"targets": ["paid/gpt-4o-mini"]},
        },
        **extra,
    }


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(gw: GatewayServer, name: str, password: str,
            headers: dict[str, str] | None = None) -> httpx.Client:
    """A client holding a dashboard session (it follows no redirects)."""
    c = httpx.Client(base_url=gw.base_url, headers=headers or {}, timeout=10)
    page = c.get("/ui/login")
    r = c.post("/ui/login", data={"name": name, "password": password,
                                  "csrf": csrf_of(page.text), "next": "/ui/"})
    assert r.status_code == 303, r.text
    return c


@pytest.fixture
def gw() -> Iterator[GatewayServer]:
    with GatewayServer(dashboard_settings(), env={"PAID_KEY": PROVIDER_KEY}) as g:
        g.run(g.gateway.admins.accounts.create("ann", "admin", PASSWORD))
        yield g

"""``bastion demo``: the gateway on the fake provider, and a walk through what it does.

Everything runs on this machine; nothing leaves it. Each scene makes a real
HTTP call to the running gateway and says what happened and why.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from bastion.testing.server import GatewayServer

DEMO_SETTINGS: dict[str, Any] = {
    "state": {"database": "memory://"},
    "providers": {
        "fake": {"type": "fake"},
        "flaky": {"type": "fake", "fake": {"faults": [{"kind": "status", "status": 503}]}},
    },
    "models": {
        "chat": {"targets": ["fake/demo-model"]},
        "reports": {"targets": ["fake/demo-model"]},
        "resilient": {"targets": ["flaky/primary", "fake/backup"]},
        "fragile": {"targets": ["flaky/primary"],
                    "fallback_message": "Our assistant is busy right now. Please try again "
                                        "in a minute."},
    },
}


def _call(base: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(  # noqa: S310 - loopback URL we built
        base + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def run_demo(say: Callable[[str], None] = print, serve: bool = True, port: int = 0) -> int:
    """Walk through the scenes; with ``serve``, keep the gateway up until Ctrl-C."""
    from bastion.observe.logging import configure_logging

    configure_logging(level="error")  # the scenes speak for themselves
    with GatewayServer(DEMO_SETTINGS, port=port) as gw:
        base = gw.base_url
        key = gw.create_key("demo-app", models=["chat", "resilient", "fragile"])
        msg = [{"role": "user", "content": "Hello, gateway!"}]
        say(f"Bastion demo gateway on {base} (fake provider: nothing leaves this machine)\n")
        say("1. Your app holds a virtual key, never a provider key.")
        say(f"   key: {key[:8]}…  (stored only as a keyed hash; scoped to chat, resilient, "
            "fragile)")
        status, _, body = _call(base, key, {"model": "chat", "messages": msg})
        answer = body["choices"][0]["message"]["content"]
        say(f"   POST /v1/chat/completions → {status}: {answer!r}\n")
        say("2. A key may use only the models it was given.")
        status, _, body = _call(base, key, {"model": "reports", "messages": msg})
        say(f"   model 'reports' → {status} {body['error']['code']}: {body['error']['message']}\n")
        say("3. A wrong or revoked key is refused, with a message for a person.")
        status, _, body = _call(base, "bst_" + "x" * 43, {"model": "chat", "messages": msg})
        say(f"   → {status} {body['error']['code']}: {body['error']['message']}\n")
        say("4. A provider has a bad hour: Bastion falls back to the next target.")
        status, _, body = _call(base, key, {"model": "resilient", "messages": msg})
        say(f"   primary answers 503, backup answers → {status}: "
            f"{body['choices'][0]['message']['content']!r}\n")
        say("5. Every target down: a friendly degraded answer instead of an outage.")
        status, headers, body = _call(base, key, {"model": "fragile", "messages": msg})
        say(f"   → {status}, x-bastion-degraded: {headers.get('x-bastion-degraded')}: "
            f"{body['choices'][0]['message']['content']!r}\n")
        if not serve:
            return 0
        say("The demo gateway keeps running. Try it yourself:")
        say(f"  curl -s {base}/v1/chat/completions -H 'Authorization: Bearer {key}' "
            "-d '{\"model\": \"chat\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}'")
        say("Press Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say("stopped")
    return 0

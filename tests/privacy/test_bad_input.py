"""Hostile input: a body of several MiB, thousands of candidate numbers, mixed scripts,
text beyond the scan limits. Each is scanned within the limits or refused with a clear
400; nothing hangs (pytest's time-out is the bound)."""

from __future__ import annotations

import httpx

from bastion.testing import FakeUpstream, GatewayServer


def _post(gw: GatewayServer, alias: str, text: str) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions", timeout=120,
                      headers={"Authorization": f"Bearer {gw.create_key()}"},
                      json={"model": alias, "messages": [{"role": "user", "content": text}]})


def test_big_and_number_heavy_and_mixed_script_bodies() -> None:
    with FakeUpstream() as up, GatewayServer({
        "server": {"max_body_bytes": 8 * 1024 * 1024},
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["up/m"]},
                   "small": {"targets": ["up/m"]},
                   "names": {"targets": ["up/m"], "privacy": {"entities": ["PERSON"]}}},
        "privacy": {"max_scan_chars": 6 * 1024 * 1024, "ner_max_chars": 4096},
        "guards": {"injection": "off"},  # it refuses bodies this large on its own
    }) as gw:
        big = ("Notes for the meeting, call +1 415 555 0100 or mail a.b@corp.example. " * 60000)
        assert len(big) > 4 * 1024 * 1024
        r = _post(gw, "chat", big)
        assert r.status_code == 200
        assert "+1 415 555 0100" not in str(up.received[-1].body)[:10000]
        numbers = " ".join(str(10_000_000 + i * 7919) for i in range(100_000))
        assert _post(gw, "chat", numbers).status_code == 200
        mixed = "Ωμέγα 東京 ✓ Привет مرحبا mail: ünïcode@exämple.de 🙂 " * 2000
        assert _post(gw, "chat", mixed).status_code == 200
        r = _post(gw, "names", "x" * 5000)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "pii_scan_too_large"


def test_the_scan_limit_refuses_with_a_clear_400() -> None:
    with GatewayServer({"providers": {"f": {"type": "fake"}},
                        "models": {"chat": {"targets": ["f/m"]}},
                        "privacy": {"max_scan_chars": 2048}}) as gw:
        r = _post(gw, "chat", "y" * 3000)
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == "pii_scan_too_large"
        assert "less text" in err["message"]
        assert _post(gw, "chat", "y" * 1000).status_code == 200

"""`bastion demo` walks through its scenes against a real gateway."""

from __future__ import annotations

from bastion.demo import run_demo


def test_demo_walkthrough() -> None:
    lines: list[str] = []
    assert run_demo(lines.append, serve=False, port=0) == 0
    text = "\n".join(lines)
    assert "→ 200: 'You said: Hello, gateway!'" in text
    assert "403 model_not_allowed" in text
    assert "401 invalid_api_key" in text
    assert "x-bastion-degraded: static" in text

"""Keys identified only by the variable that holds them."""

from __future__ import annotations

import pytest

from bastion.tools.scan.engine import scan_buffer

TAME = "xupoP3Rut9KZDUCim5WepoQQPUWROVun"  # few digits: missed by the context rule alone


@pytest.mark.parametrize("line", [
    f"MISTRAL_API_KEY={TAME}",
    f'export MISTRAL_API_KEY="{TAME}"',
    f"mistral_api_key: '{TAME}'",
    f"The key is MISTRAL_API_KEY = {TAME}.",
])
def test_mistral_by_variable(line: str) -> None:
    [m] = scan_buffer(line.encode())
    assert m.detector == "mistral-api-key"
    assert m.secret == TAME


def test_other_vendors_and_non_keys() -> None:
    [m] = scan_buffer(b"FIREWORKS_API_KEY=fw_3ZkQ9pL2vR8sT4wY6zA1bC5")
    assert m.detector == "llm-provider-key"
    for line in (b"MISTRAL_API_KEY=your-mistral-api-key-here", b"MISTRAL_API_KEY=${KEY}",
                 b"MISTRAL_API_KEY=os.environ['X']", b"MISTRAL_API_KEY=" + b"x" * 32,
                 b"MISTRAL_API_KEY=abcdefghijklmnopqrstuvwxyzabcdef"):
        assert scan_buffer(line) == []

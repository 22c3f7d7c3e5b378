"""Hostile clients at the HTTP level, over a raw socket: lying Content-Length, chunked
bodies over the limit, compressed bodies, slow bodies, odd Authorization headers."""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
import zlib
from collections.abc import Iterator

import httpx
import pytest

from bastion.testing import GatewayServer, fake_settings

LIMIT = 4096
BODY_TIMEOUT_S = 0.5
CHAT = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayServer]:
    settings = {**fake_settings(),
                "server": {"max_body_bytes": LIMIT, "body_timeout_s": BODY_TIMEOUT_S}}
    with GatewayServer(settings) as g:
        yield g


@pytest.fixture(scope="module")
def key(gw: GatewayServer) -> str:
    return gw.create_key("wire")


def request(key: str, body: bytes = CHAT, headers: tuple[str, ...] = (),
            length: int | bool | None = None, auth: str | None = None) -> bytes:
    """A raw HTTP/1.1 POST to the chat route; ``length=False`` sends no Content-Length."""
    lines = ["POST /v1/chat/completions HTTP/1.1", "Host: bastion",
             "Content-Type: application/json", "Connection: close",
             auth if auth is not None else f"Authorization: Bearer {key}"]
    if length is not False:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    lines += headers
    return ("\r\n".join(x for x in lines if x) + "\r\n\r\n").encode() + body


def exchange(gw: GatewayServer, data: bytes, timeout: float = 5.0) -> tuple[int, bytes, float]:
    """Send ``data`` and read one response (or until the server closes): (status, body,
    seconds taken). The server may keep reading a refused body for a while (aiohttp's
    lingering close), so the answer, not the close, is what is waited for."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                break
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body, time.monotonic() - start


def error_code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def test_content_length_shorter_than_body_is_refused(gw: GatewayServer, key: str) -> None:
    status, _, _ = exchange(gw, request(key, length=10))
    assert status == 400  # the body is cut at 10 bytes: not JSON; the rest is not HTTP


def test_content_length_longer_than_body_times_out(gw: GatewayServer, key: str) -> None:
    status, body, took = exchange(gw, request(key, length=len(CHAT) + 50))
    assert status == 408
    assert error_code(body) == "request_timeout"
    assert BODY_TIMEOUT_S * 0.8 <= took < 4.0


def test_stalled_body_is_dropped(gw: GatewayServer, key: str) -> None:
    data = request(key)
    status, body, took = exchange(gw, data[:-5])  # never sends its last bytes
    assert status == 408
    assert "did not arrive" in json.loads(body)["error"]["message"]
    assert took < 4.0


@pytest.mark.parametrize("length", [10**12, LIMIT + 1])
def test_declared_oversize_is_413_before_reading(gw: GatewayServer, key: str,
                                                 length: int) -> None:
    status, body, _ = exchange(gw, request(key, body=b"", length=length))
    assert status == 413
    assert error_code(body) == "request_too_large"


def chunked(payload: bytes, size: int = 1000) -> bytes:
    parts = [payload[i:i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_chunked_body_over_the_limit_is_413(gw: GatewayServer, key: str) -> None:
    big = json.dumps({"model": "chat", "messages": [{"role": "user",
                                                     "content": "a" * (3 * LIMIT)}]}).encode()
    status, body, _ = exchange(gw, request(key, chunked(big), ("Transfer-Encoding: chunked",),
                                           length=False))
    assert status == 413
    assert error_code(body) == "request_too_large"


def test_chunked_body_within_the_limit_is_served(gw: GatewayServer, key: str) -> None:
    status, _, _ = exchange(gw, request(key, chunked(CHAT, 7), ("Transfer-Encoding: chunked",),
                                        length=False))
    assert status == 200


@pytest.mark.parametrize(("encoding", "payload"), [("gzip", gzip.compress(CHAT)),
                                                   ("deflate", zlib.compress(CHAT))])
def test_compressed_bodies_are_accepted(gw: GatewayServer, key: str, encoding: str,
                                        payload: bytes) -> None:
    status, body, _ = exchange(gw, request(key, payload, (f"Content-Encoding: {encoding}",)))
    assert status == 200, body


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_corrupt_compressed_body_is_400(gw: GatewayServer, key: str, encoding: str) -> None:
    status, body, _ = exchange(gw, request(key, b"not compressed at all",
                                           (f"Content-Encoding: {encoding}",)))
    assert status == 400
    assert error_code(body) == "invalid_request"
    assert "Content-Encoding" in json.loads(body)["error"]["message"]


def test_gzip_bomb_stops_at_the_limit(gw: GatewayServer, key: str) -> None:
    bomb = gzip.compress(b" " * 20_000_000)
    status, body, _ = exchange(gw, request(key, bomb, ("Content-Encoding: gzip",)))
    assert status == 413
    assert error_code(body) == "request_too_large"


@pytest.mark.parametrize(("auth", "status"), [
    ("Authorization: ", 401),
    ("Authorization: Bearer    ", 401),
    ("Authorization: Basic dXNlcjpwYXNz", 401),
    ("Authorization: Bearer bst_not_a_key", 401),
    ("", 401),
])
def test_odd_authorization_headers(gw: GatewayServer, key: str, auth: str, status: int) -> None:
    got, body, _ = exchange(gw, request(key, auth=auth))
    assert got == status
    assert error_code(body) == "invalid_api_key"
    assert key not in body.decode()


def test_key_with_trailing_whitespace_is_accepted(gw: GatewayServer, key: str) -> None:
    status, _, _ = exchange(gw, request(key, auth=f"Authorization: Bearer {key} \t"))
    assert status == 200


def test_authorization_wins_over_x_api_key(gw: GatewayServer, key: str) -> None:
    """Both headers with different keys: ``Authorization`` is the one used, always."""
    ok, _, _ = exchange(gw, request(key, headers=("x-api-key: bst_wrong",)))
    assert ok == 200
    bad, body, _ = exchange(gw, request(key, auth="Authorization: Bearer bst_wrong",
                                        headers=(f"x-api-key: {key}",)))
    assert bad == 401
    assert error_code(body) == "invalid_api_key"


def test_gateway_healthy_after_the_abuse(gw: GatewayServer, key: str) -> None:
    for _ in range(3):
        exchange(gw, request(key)[:-5])
    r = httpx.post(gw.openai_base_url + "/chat/completions", content=CHAT,
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200

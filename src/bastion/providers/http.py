"""HTTP plumbing shared by the HTTP adapters: timeouts, SSE, and error mapping.

Vendor failures become :class:`ProviderError` subclasses here, by exception type
and status code, never by matching message text. Vendor bodies are read only to
pull out a short human message for 4xx answers.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import aiohttp
import msgspec
from yarl import URL

from bastion.config.secrets import SecretError, SecretSource
from bastion.core.context import MORE_COMING
from bastion.core.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderStreamBroken,
    ProviderTimeout,
)
from bastion.observe.logging import get_logger
from bastion.providers.base import CallTimeouts

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?"
                       r"(?:(\d+(?:\.\d+)?)ms)?$")
_KEYLIKE = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{10,}|bst_[A-Za-z0-9_\-]{6,}|"
                      r"[A-Za-z0-9_\-]{32,})")
_RESET_HEADERS = (
    "retry-after-ms",
    "retry-after",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
)


def _parse_duration(value: str) -> float | None:
    m = _DURATION.match(value.strip())
    if not m or not any(m.groups()):
        return None
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


def _parse_when(value: str, now: float) -> float | None:
    """Seconds until an HTTP-date or ISO-8601 instant, or ``None``."""
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        dt = None
    if dt is None:
        try:
            from datetime import datetime

            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return max(0.0, dt.timestamp() - now)


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """How long the provider asks us to wait: ``Retry-After`` (seconds or HTTP-date),
    ``retry-after-ms``, or the OpenAI/Anthropic rate-limit reset headers."""
    now = time.time() if now is None else now
    for name in _RESET_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        raw = raw.strip()
        if name == "retry-after-ms":
            try:
                return max(0.0, float(raw) / 1000)
            except ValueError:
                continue
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        seconds = _parse_duration(raw)
        if seconds is None:
            seconds = _parse_when(raw, now)
        if seconds is not None:
            return seconds
    return None


def scrub(text: str, limit: int = 300) -> str:
    """A vendor message made safe to show: no key-like tokens, bounded length."""
    text = _KEYLIKE.sub("[redacted]", text.replace("\n", " ")).strip()
    return text[:limit]


def vendor_message(body: bytes) -> str | None:
    """The human message inside a vendor error body (OpenAI/Anthropic/Gemini shapes)."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return None
    err = data.get("error", data)
    if isinstance(err, dict):
        msg = err.get("message")
        return scrub(msg) if isinstance(msg, str) else None
    return scrub(err) if isinstance(err, str) else None


def error_for_status(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """Convert a vendor's non-2xx answer to the gateway's error, by status code."""
    wait = retry_after_s(headers)
    if status == 429:
        return ProviderRateLimited(provider_status=status, retry_after_s=wait)
    if status in (401, 403):
        return ProviderAuthError(provider_status=status)
    if status == 408:
        return ProviderTimeout(provider_status=status)
    if 400 <= status < 500:
        msg = vendor_message(body)
        return ProviderBadRequest(
            f"The AI provider could not process this request: {msg}" if msg else None,
            provider_status=status,
        )
    return ProviderServerError(provider_status=status, retry_after_s=wait)


ErrorMapper = Callable[[int, Mapping[str, str], bytes], ProviderError]
_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "x-goog-api-key")


def without_secrets(err: ProviderError, headers: Mapping[str, str]) -> ProviderError:
    """``err`` with any credential we sent (a vendor may echo it) cut out of its message."""
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS and value:
            secret = value.partition(" ")[2] if name.lower() == "authorization" else value
            if secret and secret in err.message:
                err.message = err.message.replace(secret, "[redacted]")
                err.args = (err.message,)
    return err


@asynccontextmanager
async def post(
    session: aiohttp.ClientSession,
    url: str | URL,
    body: bytes,
    headers: Mapping[str, str],
    timeouts: CallTimeouts,
    errors: ErrorMapper = error_for_status,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST and yield the response once its head arrived with a 2xx status.

    Raises the matching :class:`ProviderError` for connection failures, time-outs
    and non-2xx statuses (``errors`` converts the latter; a vendor whose error
    bodies carry more precise codes passes its own). The caller reads the body
    inside the ``async with``.
    """
    # aiohttp's own timers, one set per request (cheaper than asyncio.timeout blocks):
    # connect bounds the pool wait and the connection, sock_read every silent gap
    # (time to the head, within the body, between stream events) by the first-byte
    # allowance, total the whole exchange, streams included.
    timeout = aiohttp.ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect, connect=timeouts.connect,
        sock_read=timeouts.first_byte,
    )
    try:
        resp = await session.post(url, data=body, headers=headers, timeout=timeout)
    except TimeoutError:
        raise ProviderTimeout("The AI provider did not start answering in time.") from None
    except aiohttp.ClientResponseError as e:
        raise error_for_status(e.status, e.headers or {}, b"") from None
    except (aiohttp.ClientError, OSError) as e:
        raise ProviderConnectionError() from e
    try:
        if resp.status >= 300:
            try:
                err_body = await resp.content.read(65536)
            except (TimeoutError, aiohttp.ClientError, OSError):
                err_body = b""
            raise without_secrets(errors(resp.status, resp.headers, err_body), headers)
        yield resp
    finally:
        resp.release()


async def read_body(resp: aiohttp.ClientResponse, deadline: float) -> bytes:
    """Read the whole body. The session's timers (see :func:`post`) bound the read;
    ``deadline`` (a ``loop.time()`` instant) is checked once it is in."""
    try:
        body = await resp.read()
    except TimeoutError:
        raise ProviderTimeout() from None
    except (aiohttp.ClientError, OSError) as e:
        raise ProviderConnectionError("The connection to the AI provider broke.") from e
    if asyncio.get_running_loop().time() > deadline:
        raise ProviderTimeout()
    return body


def _parse_event(block: bytes) -> tuple[str, bytes] | None:
    event = ""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
        # comments (":") and other fields are ignored, as the SSE spec says
    if not data:
        return None
    return event or "message", b"\n".join(data)


async def sse_events(
    resp: aiohttp.ClientResponse, first_byte_deadline: float, deadline: float
) -> AsyncIterator[tuple[str, bytes]]:
    """Yield ``(event, data)`` pairs of a server-sent-event stream.

    The first event must arrive before ``first_byte_deadline`` and the stream end
    before ``deadline`` (``loop.time()`` instants); a stall between events is cut by
    the session's ``sock_read`` timeout (see :func:`post`). Reads whatever the socket
    has (one await per network read, not per line). A connection that breaks raises
    :class:`ProviderStreamBroken`.
    """
    loop = asyncio.get_running_loop()
    content = resp.content
    buf = b""
    first = True
    while True:
        try:
            if first:
                async with asyncio.timeout_at(first_byte_deadline):
                    data = await content.readany()
            else:
                data = await content.readany()
        except TimeoutError:
            raise ProviderTimeout() from None
        except (aiohttp.ClientError, OSError) as e:
            raise ProviderStreamBroken() from e
        if not data:
            parsed = _parse_event(buf.replace(b"\r\n", b"\n")) if buf.strip() else None
            if parsed is not None:
                yield parsed
            return
        if loop.time() > deadline:
            raise ProviderTimeout()
        buf += data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        while True:
            cut = buf.find(b"\n\n")
            if cut < 0:
                break
            block, buf = buf[:cut], buf[cut + 2:]
            parsed = _parse_event(block)
            if parsed is not None:
                first = False
                MORE_COMING.set(b"\n\n" in buf)
                yield parsed


async def provider_key(source: SecretSource, provider: str) -> str:
    """The provider's key from ``source``. A key that cannot be read (vault down, file
    gone) is logged with its reason (never the value) and raised as
    :class:`ProviderAuthError`, so the route falls back like for any provider error."""
    try:
        return (await source.get()).reveal()
    except SecretError as e:
        get_logger("bastion.upstream").warning("provider_key_unavailable", provider=provider,
                                               reason=str(e))
        raise ProviderAuthError(
            "The gateway could not read its key for this AI provider.") from None


def new_session(max_connections: int = 256) -> aiohttp.ClientSession:
    """A pooled keep-alive client session for one provider."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=max_connections, keepalive_timeout=30,
        ttl_dns_cache=300, enable_cleanup_closed=False,
    )
    # No cookie jar: a provider's cookies must not be replayed on behalf of every tenant.
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",),
        raise_for_status=False, cookie_jar=aiohttp.DummyCookieJar(),
    )

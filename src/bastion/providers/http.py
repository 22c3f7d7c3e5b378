"""HTTP plumbing shared by the HTTP adapters: timeouts, SSE, and error mapping.

Vendor failures become :class:`ProviderError` subclasses here, by exception type
and status code, never by matching message text. Vendor bodies are read only to
pull out a short human message for 4xx answers, with any run of 8+ characters
of a credential we sent masked.

What a provider (or anything posing as it) can do to the gateway is bounded here:

* **Redirects are never followed.** A 3xx is :class:`ProviderRedirected` and an
  ``upstream_redirect`` log line: the ``api-key``/``x-api-key``/``x-goog-api-key``
  headers and the prompt would otherwise go to whatever host ``Location`` names.
* **Answers have a size cap** per provider (``max_response_bytes`` for a whole
  body, decompressed; ``max_event_bytes`` for one stream event), so a huge or
  endless answer is :class:`ProviderAnswerTooLarge`, never unbounded memory.
  The SSE parser scans each byte once (no quadratic rescans of a growing buffer).
* **Connection slots are counted here** (:class:`ProviderHTTP`, ``max_connections``),
  not in aiohttp's pool, so a wait for a local slot that runs out is
  :class:`ProviderBusy`, which circuit breakers ignore: a full pool on this side
  never opens the breaker of a healthy provider.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
import msgspec
from yarl import URL

from bastion.config.secrets import SecretError, SecretSource
from bastion.config.settings import ProviderSettings
from bastion.core.context import MORE_COMING
from bastion.core.errors import (
    ProviderAnswerTooLarge,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBusy,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimited,
    ProviderRedirected,
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
_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "x-goog-api-key",
                   "x-amz-security-token")
SHARED_RUN = 8  # a run of this many characters shared with a key is masked
_ERROR_BODY_MAX = 16384  # bytes of a vendor's error answer read (for its message)


def mask_shared_runs(text: str, secret: str, run: int = SHARED_RUN) -> str:
    """``text`` with every run of ``run`` or more characters that also occurs in
    ``secret`` replaced by ``[redacted]`` (a vendor may echo part of a key)."""
    if len(secret) < run or len(text) < run:
        return text
    grams = {secret[i:i + run] for i in range(len(secret) - run + 1)}
    hide = bytearray(len(text))
    found = False
    for i in range(len(text) - run + 1):
        if text[i:i + run] in grams:
            hide[i:i + run] = b"\x01" * run
            found = True
    if not found:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if hide[i]:
            while i < len(text) and hide[i]:
                i += 1
            out.append("[redacted]")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def sent_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credentials among the headers we sent."""
    out = []
    for name, value in headers.items():
        low = name.lower()
        if low in _SECRET_HEADERS and value:
            secret = value.partition(" ")[2] if low == "authorization" else value
            if secret.strip():
                out.append(secret.strip())
    return out


def without_secrets(data: bytes, headers: Mapping[str, str]) -> bytes:
    """A vendor's bytes (an error body or event) with every credential we sent, whole
    or in part (:data:`SHARED_RUN` characters in a row), masked, before anything is
    read from them. Our own wording is never masked, only what the vendor wrote."""
    secrets = sent_secrets(headers)
    if not secrets or not data:
        return data
    text = data.decode("latin-1")  # bytes ↔ characters one to one; keys are ASCII
    for secret in secrets:
        text = mask_shared_runs(text, secret)
    return text.encode("latin-1")


def _redirect(resp: aiohttp.ClientResponse, url: str) -> ProviderRedirected:
    """A 3xx answer: never followed (see the module doc). The log names the hosts only:
    a URL's path or query may hold a token."""
    where = resp.headers.get("Location", "")
    target = urlsplit(where).hostname if where else None
    get_logger("bastion.upstream").error(
        "upstream_redirect", status=resp.status, host=urlsplit(url).hostname,
        location_host=target or ("(same host)" if where else None))
    return ProviderRedirected(
        f"The AI provider answered {resp.status} (a redirect{f' to {target}' if target else ''}"
        "), which the gateway never follows: check the provider's base_url.",
        provider_status=resp.status)


@asynccontextmanager
async def post(
    http: ProviderHTTP,
    url: str | URL,
    body: bytes,
    headers: Mapping[str, str],
    timeouts: CallTimeouts,
    errors: ErrorMapper = error_for_status,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST and yield the response once its head arrived with a 2xx status.

    Raises the matching :class:`ProviderError` for connection failures, time-outs
    and non-2xx statuses (``errors`` converts the latter; a vendor whose error
    bodies carry more precise codes passes its own; a 3xx is never followed). The
    caller reads the body inside the ``async with``, which holds one of ``http``'s
    connection slots (a wait longer than the first-byte allowance: :class:`ProviderBusy`).
    """
    # aiohttp's own timers, one set per request (cheaper than asyncio.timeout blocks):
    # sock_connect bounds the connection, sock_read every silent gap (time to the head,
    # within the body, between stream events) by the first-byte allowance, total the
    # whole exchange, streams included. The slot wait is ours (see ProviderHTTP).
    timeout = aiohttp.ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.first_byte,
    )
    await http.acquire(timeouts.first_byte)
    try:
        resp = await http.session.post(url, data=body, headers=headers, timeout=timeout,
                                       allow_redirects=False)
    except TimeoutError:
        http.release()
        raise ProviderTimeout("The AI provider did not start answering in time.") from None
    except aiohttp.ClientResponseError as e:
        http.release()
        raise error_for_status(e.status, e.headers or {}, b"") from None
    except (aiohttp.ClientError, OSError) as e:
        http.release()
        raise ProviderConnectionError() from e
    except BaseException:
        http.release()
        raise
    try:
        if 300 <= resp.status < 400:
            raise _redirect(resp, str(url))
        if resp.status >= 300:
            try:
                err_body = await resp.content.read(_ERROR_BODY_MAX)
            except (TimeoutError, aiohttp.ClientError, OSError):
                err_body = b""
            raise errors(resp.status, resp.headers, without_secrets(err_body, headers))
        yield resp
    finally:
        resp.release()
        http.release()


def _too_large(what: str, limit: int) -> ProviderAnswerTooLarge:
    get_logger("bastion.upstream").warning("upstream_too_large", part=what, limit_bytes=limit)
    return ProviderAnswerTooLarge(f"The AI provider sent {what} larger than the "
                                  f"{limit:,}-byte limit this gateway accepts.")


async def read_body(resp: aiohttp.ClientResponse, deadline: float,
                    limit: int | None = None) -> bytes:
    """Read the whole body, at most ``limit`` bytes once decompressed (more:
    :class:`ProviderAnswerTooLarge`, without reading the rest). The session's timers (see
    :func:`post`) bound the read; ``deadline`` (a ``loop.time()`` instant) is checked
    once it is in."""
    limit = DEFAULT_MAX_RESPONSE_BYTES if limit is None else limit
    try:
        length = resp.content_length
        if length is not None and length > limit:
            raise _too_large("an answer", limit)
        if length is not None and "Content-Encoding" not in resp.headers:
            body = await resp.read()  # the usual case: a known, plain length within the cap
        else:
            parts: list[bytes] = []
            size = 0
            while data := await resp.content.readany():
                size += len(data)
                if size > limit:
                    raise _too_large("an answer", limit)
                parts.append(data)
            body = b"".join(parts)
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


class EventSplitter:
    """Cuts an SSE byte stream into event blocks, scanning each byte once.

    :meth:`feed` takes the bytes of one network read and returns the blocks it
    completed; what is left over (an event still arriving) may not exceed ``limit``
    bytes (:class:`ProviderAnswerTooLarge`). CRLF line ends become LF as they arrive.
    """

    __slots__ = ("_buf", "limit")

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self.limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        if b"\r" in data:  # a CRLF pair may straddle two reads
            if buf.endswith(b"\r") and data.startswith(b"\n"):
                del buf[-1]
            data = data.replace(b"\r\n", b"\n")
        scan = max(0, len(buf) - 1)  # a separator may straddle two reads
        buf += data
        blocks: list[bytes] = []
        start = 0
        while (cut := buf.find(b"\n\n", scan)) >= 0:
            blocks.append(bytes(buf[start:cut]))
            start = scan = cut + 2
        if start:
            del buf[:start]  # cheap from the front of a bytearray
        if len(buf) > self.limit:
            raise _too_large("a stream event", self.limit)
        return blocks

    def tail(self) -> bytes:
        """What is left once the stream ended (an event without its blank line)."""
        return bytes(self._buf).rstrip(b"\r\n") if self._buf.strip() else b""


async def sse_events(
    resp: aiohttp.ClientResponse, first_byte_deadline: float, deadline: float,
    max_event: int | None = None,
) -> AsyncIterator[tuple[str, bytes]]:
    """Yield ``(event, data)`` pairs of a server-sent-event stream.

    The first event must arrive before ``first_byte_deadline`` and the stream end
    before ``deadline`` (``loop.time()`` instants); a stall between events is cut by
    the session's ``sock_read`` timeout (see :func:`post`). Reads whatever the socket
    has (one await per network read, not per line; :class:`EventSplitter`). An event
    longer than ``max_event`` bytes raises :class:`ProviderAnswerTooLarge`; a
    connection that breaks raises :class:`ProviderStreamBroken`.
    """
    loop = asyncio.get_running_loop()
    content = resp.content
    splitter = EventSplitter(DEFAULT_MAX_EVENT_BYTES if max_event is None else max_event)
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
            parsed = _parse_event(splitter.tail())
            if parsed is not None:
                yield parsed
            return
        if loop.time() > deadline:
            raise ProviderTimeout()
        blocks = splitter.feed(data)
        for i, block in enumerate(blocks):
            parsed = _parse_event(block)
            if parsed is not None:
                first = False
                MORE_COMING.set(i + 1 < len(blocks))
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


DEFAULT_MAX_CONNECTIONS = 10_000
DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


def new_session() -> aiohttp.ClientSession:
    """A keep-alive client session for one provider. aiohttp's pool is unlimited: the
    slots of :class:`ProviderHTTP` are the limit (so their waits are told apart)."""
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, keepalive_timeout=30, ttl_dns_cache=300,
        enable_cleanup_closed=False,
    )
    # No cookie jar: a provider's cookies must not be replayed on behalf of every tenant.
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",),
        raise_for_status=False, cookie_jar=aiohttp.DummyCookieJar(),
    )


class ProviderHTTP:
    """One provider's pooled session, its connection slots and its answer-size caps.

    ``max_connections`` calls may be in flight at once (a stream holds its slot until
    it ends); a call that finds none free waits, at most the call's first-byte
    allowance, and then fails with :class:`ProviderBusy`, a local condition that
    circuit breakers do not count against the provider."""

    def __init__(self, max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.session = new_session()
        self.max_connections = max_connections
        self.max_response_bytes = max_response_bytes
        self.max_event_bytes = max_event_bytes
        self._slots = asyncio.Semaphore(max_connections)
        self.in_use = 0  # slots held now

    async def acquire(self, wait_s: float) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: no timer
            self.in_use += 1
            return
        try:
            async with asyncio.timeout(wait_s):
                await self._slots.acquire()
            self.in_use += 1
        except TimeoutError:
            get_logger("bastion.upstream").warning(
                "upstream_pool_full", max_connections=self.max_connections, waited_s=wait_s)
            raise ProviderBusy(
                f"All {self.max_connections:,} connections this gateway may open to the AI "
                "provider are in use. Please try again in a moment.",
                retry_after_s=1.0) from None

    def release(self) -> None:
        self.in_use -= 1
        self._slots.release()

    async def aclose(self) -> None:
        await self.session.close()


def http_for(settings: ProviderSettings) -> ProviderHTTP:
    """The :class:`ProviderHTTP` a provider's settings ask for."""
    return ProviderHTTP(settings.max_connections, settings.max_response_bytes,
                        settings.max_event_bytes)

"""Writing a stream of server-sent events to the client, and cleaning up after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from aiohttp import web

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


async def write_sse(
    request: web.Request, headers: dict[str, str], events: AsyncIterator[bytes]
) -> web.StreamResponse:
    """Send ``events`` (already SSE-framed) as they come; stop quietly if the client left.

    Whatever happens, ``events`` is closed, which closes every wrapped stream down
    to the provider's connection.
    """
    resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    async with aclosing(events):  # type: ignore[type-var]
        try:
            await resp.prepare(request)
            async for frame in events:
                await resp.write(frame)
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away; aclosing() tears the stream down
    return resp

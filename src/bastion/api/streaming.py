"""Writing a stream of server-sent events to the client, and cleaning up after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from aiohttp import web

from bastion.core.context import MORE_COMING

_COALESCE_MAX = 64 * 1024
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
    pending: list[bytes] = []
    size = 0
    async with aclosing(events):  # type: ignore[type-var]
        try:
            await resp.prepare(request)
            async for frame in events:
                # Frames whose source says more is at hand go out together, in one write.
                pending.append(frame)
                size += len(frame)
                if MORE_COMING.get() and size < _COALESCE_MAX:
                    continue
                await resp.write(pending[0] if len(pending) == 1 else b"".join(pending))
                pending.clear()
                size = 0
            if pending:
                await resp.write(b"".join(pending))
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away; aclosing() tears the stream down
    return resp

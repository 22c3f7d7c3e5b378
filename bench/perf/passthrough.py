"""The naive pass-through, the Python limit to compare with: aiohttp + uvloop, one session,
the body forwarded as bytes to the same path on the upstream, the answer copied back
(streamed as it comes for SSE). No auth, no parsing, no logging. Run as its own process:

    python passthrough.py PORT UPSTREAM_PORT
"""

from __future__ import annotations

import sys


def serve(port: int, upstream: int) -> None:
    import aiohttp
    import uvloop
    from aiohttp import web

    async def make() -> web.Application:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        base = f"http://127.0.0.1:{upstream}"

        async def proxy(request: web.Request) -> web.StreamResponse:
            data = await request.read()
            async with session.post(base + request.path, data=data,
                                    headers={"Content-Type": "application/json"}) as up:
                if up.content_type != "text/event-stream":
                    return web.Response(body=await up.read(), status=up.status,
                                        content_type="application/json")
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                return resp

        app = web.Application()
        app.router.add_post("/{tail:.*}", proxy)
        return app

    uvloop.install()
    web.run_app(make(), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))

"""Every route's last line of defence, without an aiohttp middleware.

aiohttp builds a middleware chain per request (partials and a context manager
each time), which costs more than the rest of a small request's handling, so the
gateway has none. Instead :func:`add_route` wraps each handler once, at start-up,
in :func:`guarded`: a :class:`GatewayError` becomes its JSON error, anything
unexpected is logged with its trace and answered with a polite 500. A catch-all
route (:func:`add_fallback`, registered last) answers unknown paths with 404 and
known paths with the wrong method with 405, in the same JSON shape.

Nothing the gateway answers is ever a stack trace; the trace goes to the log.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bastion.api.common import error_response, request_id
from bastion.core.errors import BodyTooLarge, GatewayError, InvalidRequest, NotFound
from bastion.observe.logging import get_logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RouteLog = Callable[[str, str, str, int, float, str | None], None]
_log = get_logger("bastion.server")


class MethodNotAllowed(InvalidRequest):
    status = 405
    code = "method_not_allowed"
    default_message = "That HTTP method is not supported on this path."


def _shape(request: web.Request) -> str:
    return "anthropic" if request.path.startswith("/v1/messages") else "openai"


def guarded(handler: Handler) -> Handler:
    """``handler`` with gateway errors and unexpected failures turned into JSON errors."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except GatewayError as e:
            return error_response(e, request_id(request), _shape(request))
        except web.HTTPRequestEntityTooLarge:
            return error_response(BodyTooLarge(), request_id(request), _shape(request))
        except web.HTTPException:
            raise
        except Exception:  # noqa: BLE001 - the last line of defence: log it, answer politely
            _log.exception("unhandled_error", path=request.path, method=request.method)
            return error_response(GatewayError(), request_id(request), _shape(request))

    run.__qualname__ = f"guarded({getattr(handler, '__qualname__', 'handler')})"
    return run


def add_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Register ``handler`` for ``method`` on ``path``, guarded (see the module docstring)."""
    app.router.add_route(method, path, guarded(handler))
    if method == "GET":
        app.router.add_route("HEAD", path, guarded(handler))


def add_fallback(app: web.Application, log: RouteLog | None = None) -> None:
    """The catch-all route: 405 for a known path with another method, else 404. Each
    such request is passed to ``log`` (request id, method, path, status, seconds, code),
    so operators see clients calling endpoints that do not exist."""
    resource = app.router.add_resource("/{tail:.*}")

    async def fallback(request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        rid = request_id(request)
        err: GatewayError = NotFound(f"No route for {request.path[:200]}.")
        for other in request.app.router.resources():
            if other is resource:
                continue
            match, allowed = await other.resolve(request)
            if match is None and allowed:
                err = MethodNotAllowed()
                break
        if log is not None:
            log(rid, request.method, request.path, err.status, time.monotonic() - started,
                err.code)
        return error_response(err, rid, _shape(request))

    resource.add_route("*", fallback)

"""The one middleware: unknown routes and unexpected failures become JSON errors.

Nothing the gateway answers is ever a stack trace; the trace goes to the log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bastion.api.common import error_response, request_id
from bastion.core.errors import GatewayError, InvalidRequest, NotFound
from bastion.observe.logging import get_logger

_log = get_logger("bastion.server")


class MethodNotAllowed(InvalidRequest):
    status = 405
    code = "method_not_allowed"
    default_message = "That HTTP method is not supported on this path."


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    shape = "anthropic" if request.path.startswith("/v1/messages") else "openai"
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return error_response(NotFound(f"No route for {request.path}."), request_id(request),
                              shape)
    except web.HTTPMethodNotAllowed:
        return error_response(MethodNotAllowed(), request_id(request), shape)
    except web.HTTPRequestEntityTooLarge:
        from bastion.core.errors import BodyTooLarge

        return error_response(BodyTooLarge(), request_id(request), shape)
    except web.HTTPException:
        raise
    except GatewayError as e:
        return error_response(e, request_id(request), shape)
    except Exception:  # noqa: BLE001 - the last line of defence: log it, answer politely
        _log.exception("unhandled_error", path=request.path, method=request.method)
        return error_response(GatewayError(), request_id(request), shape)

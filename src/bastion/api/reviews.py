"""``GET /v1/bastion/reviews/{id}``: a client polls an answer that waits for review.

The caller presents the same credential as the request that was held (a virtual key,
or a caller JWT of the same user); anyone else gets 404, as for an unknown id.

=====================  ======  =========================================================
state                  status  body
=====================  ======  =========================================================
pending                202     ``{"id", "object": "bastion.review", "status": "pending",
                               "poll_url", …}`` with ``Retry-After``
approved / edited      200     the answer, as the original endpoint would have answered
                               (chat completion, Anthropic message, Responses object,
                               legacy completion); ``x-bastion-review: approved|edited``
rejected               422     ``answer_rejected``: the alias's ``reject_message``
expired                410     ``review_expired``
=====================  ======  =========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.common import error_response, request_id
from bastion.api.middleware import add_route
from bastion.core.errors import (
    AnswerRejected,
    GatewayError,
    NotFound,
    ReviewExpired,
    ReviewPending,
)
from bastion.core.types import ChatResponse
from bastion.stores.review import ReviewItem

if TYPE_CHECKING:
    from bastion.app import Gateway


def render(item: ReviewItem, resp: ChatResponse) -> bytes:
    """The answer in the dialect of the request that was held."""
    if item.dialect == "anthropic":
        from bastion.api.anthropic_translate import to_anthropic
        from bastion.api.anthropic_wire import encoder

        return encoder.encode(to_anthropic(resp, item.alias, None))
    if item.dialect == "responses":
        from bastion.api.responses_translate import echo, now, response_id, to_response
        from bastion.api.responses_wire import ResponsesRequest, encoder

        base = echo(ResponsesRequest(model=item.alias), response_id(), now())
        return encoder.encode(to_response(resp, base))
    if item.dialect == "completions":
        import msgspec

        from bastion.api.completions import CompletionRequest, completion_body
        from bastion.core.ids import new_id

        body = completion_body(CompletionRequest(model=item.alias), "cmpl-" + new_id(),
                               resp.created, [("", resp)])
        return msgspec.json.encode(body)
    from bastion.api.openai import wire_body

    return wire_body(resp)


class ReviewPollRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        add_route(app, "GET", "/v1/bastion/reviews/{id}", self.poll)

    async def poll(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        shape = "anthropic" if "x-api-key" in request.headers else "openai"
        try:
            ident = await self.gw.callers.identify(request.headers)
            item = await self.gw.reviews.queue.get(request.match_info["id"])
            if item is None or item.key_id != ident.key_id:
                raise NotFound("No review with that id was made for this key.")
            shape = "anthropic" if item.dialect == "anthropic" else "openai"
            status = item.effective_status()
            if status == "pending":
                raise ReviewPending(item.id, item.expires_at)
            if status == "rejected":
                raise AnswerRejected(self.gw.reviews.reject_message(item.alias))
            resp = self.gw.reviews.answer_of(item) if status != "expired" else None
            if resp is None:
                raise ReviewExpired() if status == "expired" else ReviewExpired(
                    "This answer was reviewed, but it is no longer kept. Please ask again.")
        except GatewayError as e:
            return error_response(e, rid, shape)
        headers = {"x-request-id": rid, "x-bastion-review": status,
                   "x-bastion-review-id": item.id}
        return web.Response(body=render(item, resp), headers=headers,
                            content_type="application/json")

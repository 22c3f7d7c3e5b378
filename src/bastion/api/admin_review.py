"""The review queue's admin API (the reviewer role).

=============================  ============================================================
``GET /admin/review``          held items, newest first, without their text:
                               ``?status=pending`` (default) | approved | edited | rejected |
                               expired | all, ``?alias=``, ``?limit=`` (100), ``?offset=``
``GET /admin/review/{id}``     one item with the conversation's last turns (``prompt``),
                               the held ``answer`` and what the client gets (``final``)
``POST /admin/review/{id}``    ``{"decision": "approve"|"edit"|"reject", "text"?, "note"?}``:
                               the decision, recorded with who and when (and audited as
                               ``review.decide``)
=============================  ============================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from bastion.api.common import decode, json_response, read_body
from bastion.api.middleware import add_route
from bastion.core.errors import InvalidRequest
from bastion.core.types import chat_response_decoder
from bastion.identity.admins import ACTOR, audit_detail
from bastion.stores.review import ReviewItem

if TYPE_CHECKING:
    from bastion.app import Gateway

STATUSES = ("pending", "approved", "edited", "rejected", "expired", "all")


class DecideBody(msgspec.Struct, forbid_unknown_fields=True):
    decision: str
    text: str | None = None
    note: str | None = None


_decide = msgspec.json.Decoder(DecideBody)


def _answer_text(raw: str | None) -> list[dict[str, Any]] | None:
    if not raw:
        return None
    resp = chat_response_decoder.decode(raw)
    return [{"index": c.index, "text": c.message.text(), "refusal": c.message.refusal,
             "finish_reason": c.finish_reason,
             "tool_calls": [{"name": t.function.name, "arguments": t.function.arguments}
                            for t in c.message.tool_calls or []]} for c in resp.choices]


def item_view(item: ReviewItem) -> dict[str, Any]:
    """An item with its text: the prompt's last turns and each choice's answer, as
    reviewers see them (marked personal values masked); ``final`` is a reviewer's edit."""
    return {**item.summary(), "prompt": item.prompt,
            "answer": _answer_text(item.answer_shown or item.answer),
            "final": _answer_text(item.final_answer) if item.status == "edited" else None}


def list_args(query: Any) -> dict[str, Any]:
    status = query.get("status", "pending")
    if status not in STATUSES:
        raise InvalidRequest(f"`status` is one of {', '.join(STATUSES)}.", param="status")
    try:
        limit = int(query.get("limit", "100"))
        offset = int(query.get("offset", "0"))
    except ValueError:
        raise InvalidRequest("`limit` and `offset` are whole numbers.", param="limit") from None
    return {"status": None if status == "all" else status, "alias": query.get("alias"),
            "limit": limit, "offset": offset}


class ReviewAdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        g = self.gw.admins.route
        add_route(app, "GET", "/admin/review", g(self.list, "reviewer"))
        add_route(app, "GET", "/admin/review/{id}", g(self.get, "reviewer"))
        add_route(app, "POST", "/admin/review/{id}", g(self.decide, "reviewer",
                                                       "review.decide"))

    async def list(self, request: web.Request) -> web.StreamResponse:
        items = await self.gw.reviews.queue.list(**list_args(request.query))
        return json_response({"data": [i.summary() for i in items]})

    async def get(self, request: web.Request) -> web.StreamResponse:
        item = await self.gw.reviews.item(request.match_info["id"])
        return json_response(item_view(item))

    async def decide(self, request: web.Request) -> web.StreamResponse:
        raw = await read_body(request, 1024 * 1024, self.gw.settings.server.body_timeout_s)
        body = decode(raw, _decide.decode)
        item = await self.gw.reviews.decide(request.match_info["id"], body.decision,
                                            request[ACTOR].id, text=body.text, note=body.note)
        audit_detail(request, decision=item.status, alias=item.alias)
        return json_response(item_view(item))

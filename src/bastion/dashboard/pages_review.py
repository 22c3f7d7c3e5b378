"""The review queue's pages (the reviewer role): held answers, one item, the decision.

The same service as ``GET /admin/review`` and ``POST /admin/review/{id}``; decisions
are recorded with who and when and audited as ``review.decide``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.admin_review import STATUSES, item_view
from bastion.api.middleware import add_route
from bastion.core.errors import InvalidRequest
from bastion.dashboard import html as h

if TYPE_CHECKING:
    from bastion.dashboard.routes import Dashboard, Ui
    from bastion.review.service import Reviews


def _confidence(v: float | None) -> str:
    return h.DASH if v is None else f"{v:.2f}"


class ReviewPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    @property
    def reviews(self) -> Reviews:
        """The current config generation's (policies change with a reload)."""
        return self.dash.gw.reviews

    async def list(self, ui: Ui) -> web.StreamResponse:
        status = ui.request.query.get("status", "pending")
        if status not in STATUSES:
            raise InvalidRequest(f"`status` is one of {', '.join(STATUSES)}.")
        items = await self.reviews.queue.list(status=None if status == "all" else status,
                                              limit=200)
        tabs = "".join(h.link(f"/ui/review?status={s}", s, s == status) for s in STATUSES)
        rows = [[f'<a href="/ui/review/{h.attr(i.id)}">{h.esc(i.id)}</a>',
                 h.esc(h.when(i.created_at)), h.esc(i.alias), h.esc(i.reason),
                 _confidence(i.confidence), h.esc(", ".join(i.signals) or h.DASH),
                 h.esc(i.effective_status()), h.esc(i.decided_by)] for i in items]
        body = (f'<div class="ranges">Show: {tabs}</div>' + h.table(
            ["Review", "Held at", "Alias", "Why", "Confidence", "Signals", "Status",
             "Decided by"], rows, "review") +
            h.api_hint(f"/admin/review?status={status}"))
        return ui.render("Review queue", body, "/ui/review")

    async def item(self, ui: Ui, flash: str = "") -> web.StreamResponse:
        item = await self.reviews.item(ui.request.match_info["id"])
        view = item_view(item)
        turns = "".join(f'<div class="turn {h.attr(t["role"])}"><span class="role">'
                        f'{h.esc(t["role"])}</span><pre>{h.esc(t["text"])}</pre></div>'
                        for t in view["prompt"] or [])
        answers = "".join(
            f'<div class="turn assistant"><span class="role">answer {c["index"]}</span>'
            f'<pre id="answer-{c["index"]}">{h.esc(c["text"] or c["refusal"] or "")}</pre>'
            + "".join(f'<p>Tool call <code>{h.esc(t["name"])}</code>: '
                      f'<code>{h.esc(t["arguments"])}</code></p>' for t in c["tool_calls"])
            + "</div>" for c in view["answer"] or [])
        meta = h.cards([("Status", h.esc(item.effective_status())),
                        ("Alias", h.esc(item.alias)), ("Why", h.esc(item.reason)),
                        ("Confidence", _confidence(item.confidence)),
                        ("Signals", h.esc(", ".join(item.signals) or h.DASH)),
                        ("Held at", h.esc(h.when(item.created_at))),
                        ("Decided", h.esc(f"{item.decided_by} at {h.when(item.decided_at)}"
                                          if item.decided_by else h.DASH))])
        decide = ""
        if item.effective_status() == "pending":
            first = (view["answer"] or [{"text": ""}])[0]["text"] or ""
            decide = h.form(
                f"/ui/review/{h.attr(item.id)}", ui.session.csrf,
                '<label>Answer (edit it to send your version)<textarea name="text" rows="8">'
                f'{h.esc(first)}</textarea></label>'
                '<label>Note (kept with the decision) <input name="note" maxlength="2000">'
                '</label><div class="buttons">'
                '<button type="submit" name="decision" value="approve">Approve</button>'
                '<button type="submit" name="decision" value="edit">Send edited</button>'
                '<button type="submit" name="decision" value="reject" class="danger">'
                "Reject</button></div>", "decide")
        elif view["final"]:
            decide = "<h2>What the client gets</h2>" + "".join(
                f'<pre class="final">{h.esc(c["text"])}</pre>' for c in view["final"])
        body = (flash + meta + "<h2>Conversation</h2>" + (turns or '<p class="empty">'
                "The text was erased (retention).</p>") + "<h2>Held answer</h2>" +
                (answers or '<p class="empty">Erased.</p>') + decide +
                h.api_hint(f"/admin/review/{item.id}"))
        return ui.render(f"Review {item.id}", body, "/ui/review")

    async def decide(self, ui: Ui) -> web.StreamResponse:
        f = ui.form
        decision = f.get("decision", "")
        text = f.get("text") if decision == "edit" else None
        item = await self.reviews.decide(ui.request.match_info["id"], decision, ui.actor.id,
                                         text=text, note=f.get("note") or None)
        ui.audit.update(target=item.id, decision=item.status, alias=item.alias)
        return await self.item(ui, h.flash(f"Decision recorded: {item.status}."))


def register(dash: Dashboard, app: web.Application) -> None:
    p = ReviewPages(dash)
    add_route(app, "GET", "/ui/review", dash.page(p.list, "reviewer"))
    add_route(app, "GET", "/ui/review/{id}", dash.page(p.item, "reviewer"))
    add_route(app, "POST", "/ui/review/{id}", dash.page(p.decide, "reviewer",
                                                        "review.decide"))

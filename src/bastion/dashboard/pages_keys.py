"""The keys page: list with usage (viewer); create, change limits, revoke, rotate
(operator).

The same checks and audit actions as ``POST /admin/keys``, ``PATCH /admin/keys/{id}``,
``DELETE /admin/keys/{id}`` and ``POST /admin/keys/{id}/rotate``. A new or rotated key is
shown once, on the page that answers the form (never in a URL or a log).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.admin import (
    MAX_BUDGET_USD,
    MAX_GRACE_S,
    MAX_LIMIT,
    CreateKey,
    check_create,
    key_id,
)
from bastion.api.middleware import add_route
from bastion.core.errors import InvalidRequest
from bastion.dashboard import html as h
from bastion.reports import Stats
from bastion.stores.base import KeyRecord

if TYPE_CHECKING:
    from bastion.dashboard.routes import Dashboard, Ui


def _num(form: dict[str, str], name: str, kind: type[int] | type[float]) -> float | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InvalidRequest(f"`{name}` must be a number.", param=name) from None


def _status(k: KeyRecord) -> str:
    if k.revoked_at is not None:
        return '<span class="badge open">revoked</span>'
    if k.expires_at is not None and k.expires_at <= time.time():
        return '<span class="badge half-open">expired</span>'
    return '<span class="badge closed">active</span>'


class KeyPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self.gw = dash.gw

    def _create_form(self, ui: Ui) -> str:
        aliases = "".join(
            f'<label class="check"><input type="checkbox" name="model_{h.attr(a)}" '
            f'value="1"> {h.esc(a)}</label>' for a in self.gw.settings.models)
        inner = ('<label>Name <input name="name" required maxlength="200"></label>'
                 '<label>User <input name="user" maxlength="200"></label>'
                 '<label>Team <input name="team" maxlength="200"></label>'
                 '<label>RPM <input name="rpm" inputmode="numeric"></label>'
                 '<label>TPM <input name="tpm" inputmode="numeric"></label>'
                 '<label>Budget (USD) <input name="budget_usd" inputmode="decimal"></label>'
                 '<label>Expires in (days) <input name="expires_days" inputmode="decimal">'
                 f'</label><fieldset><legend>Aliases (none ticked: all)</legend>{aliases}'
                 '</fieldset><button type="submit">Create key</button>')
        return "<h2>Create a key</h2>" + h.form("/ui/keys", ui.session.csrf, inner, "create")

    async def list(self, ui: Ui, flash: str = "") -> web.StreamResponse:
        keys = await self.gw.keys.list()
        report = await Stats(self.gw).usage(["key"], None, None)
        usage = {r["key"]: r for r in report.rows}
        may_change = ui.actor.may("operator")
        rows = []
        for k in reversed(keys):
            u = usage.get(k.id, {"requests": 0, "cost_usd": 0.0})
            limits = ", ".join(f"{n} {v:g}" for n, v in (("rpm", k.rpm), ("tpm", k.tpm),
                                                          ("budget $", k.budget_usd)) if v)
            actions = ""
            if may_change and k.revoked_at is None:
                actions = self._limits_form(ui, k) + (
                           h.form(f"/ui/keys/{h.attr(k.id)}/rotate", ui.session.csrf,
                                  '<input type="hidden" name="grace_s" value="3600">'
                                  '<button type="submit">Rotate</button>', "inline") +
                           h.form(f"/ui/keys/{h.attr(k.id)}/revoke", ui.session.csrf,
                                  '<button type="submit" class="danger" data-confirm='
                                  '"Revoke this key? Its callers stop at once.">Revoke'
                                  "</button>", "inline"))
            rows.append([f'<code>{h.esc(k.id)}</code>', h.esc(k.name),
                         f'<code>{h.esc(k.prefix)}…</code>', h.esc(k.user), h.esc(k.team),
                         h.esc(", ".join(k.models) if k.models else "all"),
                         h.esc(limits or h.DASH), f'{u["requests"]:,}', h.money(u["cost_usd"]),
                         h.esc(h.when(k.created_at)), _status(k), actions])
        body = (flash + h.table(["Id", "Name", "Prefix", "User", "Team", "Aliases", "Limits",
                                 "Requests", "Spend", "Created", "Status", ""], rows, "keys") +
                (self._create_form(ui) if may_change else "") +
                h.api_hint("/admin/keys") + h.api_hint("/admin/reports/usage?group_by=key"))
        return ui.render("Keys", body, "/ui/keys")

    @staticmethod
    def _limits_form(ui: Ui, k: KeyRecord) -> str:
        def field(name: str, label: str, value: float | None) -> str:
            shown = "" if value is None else f"{value:g}"
            return (f'<label>{h.esc(label)} <input name="{name}" value="{h.attr(shown)}" '
                    'size="6"></label>')

        inner = (field("rpm", "RPM", k.rpm) + field("tpm", "TPM", k.tpm) +
                 field("budget_usd", "Budget $", k.budget_usd) +
                 '<button type="submit">Save</button>')
        return ('<details class="limits"><summary>Limits</summary>' +
                h.form(f"/ui/keys/{h.attr(k.id)}/limits", ui.session.csrf, inner) +
                "</details>")

    async def limits(self, ui: Ui) -> web.StreamResponse:
        """New rpm, tpm and budget (a blank field removes that limit), as PATCH does."""
        kid = key_id(ui.request)
        changes: dict[str, float | None] = {
            "rpm": _num(ui.form, "rpm", int), "tpm": _num(ui.form, "tpm", int),
            "budget_usd": _num(ui.form, "budget_usd", float)}
        for name, most in (("rpm", MAX_LIMIT), ("tpm", MAX_LIMIT),
                           ("budget_usd", MAX_BUDGET_USD)):
            v = changes[name]
            if v is not None and not 0 < v <= most:
                raise InvalidRequest(f"`{name}` must be positive and at most {most:,.0f}.",
                                     param=name)
        old = await self.gw.keys.get(kid)
        await self.gw.keys.update_limits(kid, changes)
        ui.audit.update({f"{k}_before": getattr(old, k) for k in changes}, **changes)
        return await self.list(ui, h.flash(f"Limits of {kid} saved."))

    async def create(self, ui: Ui) -> web.StreamResponse:
        f = ui.form
        models = [a for a in self.gw.settings.models if f.get(f"model_{a}")] or None
        days = _num(f, "expires_days", float)
        spec = CreateKey(name=f.get("name", ""), user=f.get("user") or None,
                         team=f.get("team") or None, models=models,
                         rpm=_num(f, "rpm", int), tpm=_num(f, "tpm", int),  # type: ignore[arg-type]
                         budget_usd=_num(f, "budget_usd", float),
                         expires_in_s=days * 86400 if days is not None else None)
        check_create(spec, self.gw.settings.models)
        new = await self.gw.keys.create(
            spec.name, user=spec.user, team=spec.team, models=spec.models, rpm=spec.rpm,
            tpm=spec.tpm, budget_usd=spec.budget_usd, expires_in_s=spec.expires_in_s)
        ui.audit.update(target=new.record.id, models=spec.models, rpm=spec.rpm, tpm=spec.tpm,
                        budget_usd=spec.budget_usd, expires_in_s=spec.expires_in_s)
        return await self.list(ui, self._shown_once("New key created", new.record.id,
                                                    new.key))

    @staticmethod
    def _shown_once(title: str, kid: str, key: str) -> str:
        return (f'<div class="flash ok newkey"><strong>{h.esc(title)}: '
                f'<code>{h.esc(kid)}</code></strong><p>Copy it now; it is not shown again:'
                f'</p><code class="secret" id="new-key">{h.esc(key)}</code></div>')

    async def revoke(self, ui: Ui) -> web.StreamResponse:
        kid = key_id(ui.request)
        await self.gw.keys.revoke(kid)
        return await self.list(ui, h.flash(f"Key {kid} revoked."))

    async def rotate(self, ui: Ui) -> web.StreamResponse:
        kid = key_id(ui.request)
        grace = _num(ui.form, "grace_s", float) or 0.0
        if not 0 <= grace <= MAX_GRACE_S:
            raise InvalidRequest("The grace period is out of range.", param="grace_s")
        new = await self.gw.keys.rotate(kid, grace)
        ui.audit.update(grace_s=grace)
        return await self.list(ui, self._shown_once(
            f"Key rotated (the old one works for {grace:g} s more)", kid, new.key))


def register(dash: Dashboard, app: web.Application) -> None:
    p = KeyPages(dash)
    add_route(app, "GET", "/ui/keys", dash.page(p.list, "viewer"))
    add_route(app, "POST", "/ui/keys", dash.page(p.create, "operator", "key.create"))
    add_route(app, "POST", "/ui/keys/{id}/limits", dash.page(p.limits, "operator",
                                                             "key.update"))
    add_route(app, "POST", "/ui/keys/{id}/revoke", dash.page(p.revoke, "operator",
                                                             "key.revoke"))
    add_route(app, "POST", "/ui/keys/{id}/rotate", dash.page(p.rotate, "operator",
                                                             "key.rotate"))

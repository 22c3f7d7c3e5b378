"""The dashboard's routes under ``/ui/``, served by the gateway itself.

Each page is registered with :meth:`Dashboard.page`: no session → a redirect to the
sign-in page (a POST is refused); a role the page needs that the actor lacks → 403;
a POST must carry the session's CSRF token and come from this site; a page that
changes something is audited like the admin API (same action names, ``via:
dashboard``). Every answer carries a strict Content-Security-Policy (scripts,
styles, images and connections from the gateway only; no inline code; no framing)
and ``Cache-Control: no-store``. The static files (one stylesheet, one script) are
part of the package.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from bastion.api.middleware import add_route
from bastion.core.errors import GatewayError, InsufficientRole
from bastion.dashboard import html as h
from bastion.dashboard.session import COOKIE, LOGIN_COOKIE, UiSession, UiSessions, log
from bastion.identity.roles import Actor, Role

if TYPE_CHECKING:
    from bastion.app import Gateway

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
MAX_FORM_BYTES = 512 * 1024


@dataclass(slots=True)
class Ui:
    """One dashboard request: the session, the form (POST), what to audit."""

    request: web.Request
    session: UiSession
    refresh_s: int
    form: dict[str, str] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> Actor:
        return self.session.actor

    def render(self, title: str, body: str, current: str = "", status: int = 200,
               refresh: bool = False) -> web.Response:
        doc = h.page(title, body, actor=self.actor, csrf=self.session.csrf, current=current,
                     refresh_s=self.refresh_s if refresh else None)
        return html_response(doc, status)


Page = Callable[[Ui], Awaitable[web.StreamResponse]]


def html_response(doc: str, status: int = 200) -> web.Response:
    return web.Response(text=doc, status=status, content_type="text/html",
                        headers=SECURITY_HEADERS)


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


class Dashboard:
    """Registers the pages (see the module docstring)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.sessions = UiSessions(gw.admins.accounts, gw.master_key, gw.keys.hash_key)
        self.refresh_s = gw.settings.dashboard.auto_refresh_s

    def page(self, handler: Page, needs: Role, action: str | None = None) -> Callable[
            [web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            session = await self.sessions.current(request)
            if session is None:
                if request.method == "GET":
                    return redirect("/ui/login?next=" + quote(request.path_qs, safe=""))
                return self._refusal(None, "Your session has ended. Sign in again.", 403)
            ui = Ui(request, session, self.refresh_s)
            status = 500
            try:
                if request.method == "POST":
                    if (request.content_length or 0) > MAX_FORM_BYTES:
                        return self._refusal(session, "That form is too large.", 413)
                    ui.form = {k: str(v) for k, v in (await request.post()).items()}
                    self.sessions.check_post(request, ui.form.get("csrf"), session.csrf)
                if not session.actor.may(needs):
                    raise InsufficientRole(f"This page needs the {needs} role; "
                                           f"{session.actor.id} has {session.actor.role}.")
                resp = await handler(ui)
                status = resp.status
                return resp
            except GatewayError as e:
                status = e.status
                return self._refusal(session, e.message, e.status)
            finally:
                if action is not None and (request.method == "POST"):
                    await self._audit(ui, action, status)

        return run

    async def _audit(self, ui: Ui, action: str, status: int) -> None:
        detail = dict(ui.audit)
        target = detail.pop("target", ui.request.match_info.get("id"))
        outcome = "ok" if status < 400 else "denied" if status == 403 else "failed"
        await self.gw.admins.audit.record(ui.actor, action, target,
                                          source=ui.request.remote, status=status,
                                          outcome=outcome, via_ui="dashboard", **detail)

    def _refusal(self, session: UiSession | None, message: str, status: int) -> web.Response:
        body = h.flash(message, "error") + '<p><a href="/ui/">Back to the overview</a></p>'
        return html_response(h.page("Not allowed" if status in (401, 403) else "Problem",
                                    body, actor=session.actor if session else None,
                                    csrf=session.csrf if session else ""), status)

    def register(self, app: web.Application) -> None:
        from bastion.dashboard import pages, pages_keys, pages_reports, pages_review

        add_route(app, "GET", "/ui", self.to_root)
        add_route(app, "GET", "/ui/login", self.login_form)
        add_route(app, "POST", "/ui/login", self.login)
        add_route(app, "POST", "/ui/logout", self.page(self.logout, "viewer"))
        add_route(app, "GET", "/ui/static/{name}", self.static)
        for module in (pages, pages_keys, pages_review, pages_reports):
            module.register(self, app)

    async def to_root(self, request: web.Request) -> web.StreamResponse:
        return redirect("/ui/")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        data = resources.files("bastion.dashboard").joinpath("static", name).read_bytes()
        return web.Response(body=data, content_type=_STATIC[name], headers={
            **SECURITY_HEADERS, "Cache-Control": "public, max-age=300"})

    # Sign-in and sign-out.
    async def login_form(self, request: web.Request, message: str | None = None,
                         status: int = 200) -> web.StreamResponse:
        if message is None and await self.sessions.current(request) is not None:
            return redirect("/ui/")
        token = request.cookies.get(LOGIN_COOKIE) or ""
        if len(token) != 32 or not token.isalnum():
            token = secrets.token_hex(16)
        nxt = request.query.get("next", "/ui/")
        body = (h.flash(message, "error") +
                '<form method="post" action="/ui/login" class="login">'
                f'{h.csrf_field(token)}<input type="hidden" name="next" value="{h.attr(nxt)}">'
                '<label>Account <input name="name" autocomplete="username" autofocus></label>'
                '<label>Password <input name="password" type="password" '
                'autocomplete="current-password" required></label>'
                '<button type="submit">Sign in</button>'
                '<p class="hint">Break-glass: the master key in the password field '
                '(its use is logged).</p></form>')
        resp = html_response(h.page("Sign in", body, actor=None), status)
        self.sessions.set_cookie(resp, request, LOGIN_COOKIE, token, 3600)
        return resp

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        try:
            self.sessions.check_post(request, form.get("csrf"),
                                     request.cookies.get(LOGIN_COOKIE) or "")
        except GatewayError as e:
            return await self.login_form(request, e.message, 403)
        name, password = form.get("name", "")[:128], form.get("password", "")[:1024]
        found = await self.sessions.login(name, password)
        audit = self.gw.admins.audit
        if found is None:
            await audit.record("account:" + name.strip().lower()[:64] if name.strip()
                               else "anonymous", "login.failed", source=request.remote,
                               via_ui="dashboard")
            return await self.login_form(request, "That name and password do not match.",
                                         401)
        token, actor, until = found
        if actor.via == "master-key":
            log.warning("admin_master_key_used", method="POST", path="/ui/login",
                        source=request.remote)
            await audit.record(actor, "login.master-key", source=request.remote,
                               via_ui="dashboard")
        else:
            await audit.record(actor, "login.ok", source=request.remote, via_ui="dashboard")
        nxt = form.get("next", "/ui/")
        if not nxt.startswith("/ui/") or nxt.startswith("//"):
            nxt = "/ui/"
        resp = redirect(nxt)
        self.sessions.set_cookie(resp, request, COOKIE, token, until - time.time())
        self.sessions.clear_cookie(resp, request, LOGIN_COOKIE)
        return resp

    async def logout(self, ui: Ui) -> web.StreamResponse:
        await self.sessions.end(ui.session)
        await self.gw.admins.audit.record(ui.actor, "session.end", source=ui.request.remote,
                                          via_ui="dashboard")
        resp = redirect("/ui/login")
        self.sessions.clear_cookie(resp, ui.request, COOKIE)
        return resp

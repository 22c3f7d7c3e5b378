"""The dashboard in a real browser (Playwright driving Debian's chromium, headless).

One browser for the module. The gateway gets real traffic first (the official
SDKs through its front doors); then a person signs in, reads the charts, creates and
revokes a key, approves one held answer and rejects another while the clients that
asked poll for them. Each page is photographed: into ``BASTION_SCREENSHOTS`` when set
(``make screenshots`` writes ``docs/screenshots/``), else into the test's temporary
folder.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from bastion.testing import GatewayServer

from .conftest import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser for the module's tests. Module scope, not session: Playwright's sync
    API keeps an event loop running on this thread while it is open, which the suite's
    async tests could not share."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("BASTION_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


class Poller(threading.Thread):
    """A client waiting for a held answer: polls until it is not 202 any more."""

    def __init__(self, gw: GatewayServer, key: str, review_id: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{gw.base_url}/v1/bastion/reviews/{review_id}"
        self.key = key
        self.result: httpx.Response | None = None
        self.polls = 0

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = httpx.get(self.url, headers={"authorization": f"Bearer {self.key}"})
            self.polls += 1
            if r.status_code != 202:
                self.result = r
                return
            time.sleep(0.1)


def traffic(gw: GatewayServer) -> tuple[str, list[str]]:
    """Real requests through the front doors; the key and two held review ids."""
    key = gw.create_key("web-shop", user="alice", team="shop", budget_usd=100.0)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
    for i in range(6):
        client.chat.completions.create(model="chat", messages=[
            {"role": "user", "content": f"Where is my order {i}?"}])
    with client.chat.completions.create(model="chat", stream=True, messages=[
            {"role": "user", "content": "Stream me the opening hours"}]) as s:
        assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    with pytest.raises(openai.BadRequestError):  # the output guard stops a leaked key
        client.chat.completions.create(model="guarded", messages=[
            {"role": "user", "content": "here is sk-proj-" + "A1b2C3d4E5" * 5}])
    flagged = client.chat.completions.with_raw_response.create(model="notes", messages=[
        {"role": "user", "content": "note: sk-proj-" + "A1b2C3d4E5" * 5}])
    assert flagged.headers["x-bastion-guard"].startswith("secret")  # flagged, delivered
    with pytest.raises(openai.APIStatusError):  # this provider is down
        client.chat.completions.create(model="paid", messages=[
            {"role": "user", "content": "hello"}])
    held = []
    for q in ("Can I take ibuprofen with my blood pressure pills?",
              "What dose of paracetamol for a child of 20 kg?"):
        raw = client.chat.completions.with_raw_response.create(
            model="advice", messages=[{"role": "user", "content": q}])
        assert raw.status_code == 202
        held.append(raw.headers["x-bastion-review-id"])
    return key, held


def test_an_operator_works_the_dashboard_in_a_browser(gw: GatewayServer, browser: Any,
                                                      shots: Path) -> None:
    key, (approve_id, reject_id) = traffic(gw)
    pollers = [Poller(gw, key, approve_id), Poller(gw, key, reject_id)]
    for p in pollers:
        p.start()
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    page = ctx.new_page()
    foreign: list[str] = []
    page.route("**/*", lambda route: (route.continue_() if route.request.url.startswith(
        gw.base_url) else (foreign.append(route.request.url), route.abort())))
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: d.accept())

    # Sign in: the dashboard sends us to the form first.
    page.goto(gw.base_url + "/ui/?range=1h")
    assert "/ui/login" in page.url
    page.screenshot(path=str(shots / "login.png"))
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(gw.base_url + "/ui/?range=1h")

    # The overview: charts drawn from the requests above; the cards agree with the API.
    page.wait_for_selector("figure.chart.drawn svg")
    assert page.locator("figure.chart.drawn").count() == 4
    assert page.locator("figure.chart svg polyline").count() >= 2
    assert page.locator("figure.chart svg circle").count() >= 1
    api = httpx.get(gw.base_url + "/admin/stats/overview?range=1h",
                    headers={"authorization": f"Bearer {gw.master_key}"}).json()
    cards = dict(zip(page.locator(".card .label").all_inner_texts(),
                     page.locator(".card .value").all_inner_texts(), strict=True))
    assert cards["Requests"] == f"{api['totals']['requests']:,}" == "12"
    assert cards["Errors"] == "2"
    assert cards["Awaiting review"] == "2"
    assert "web-shop" in page.inner_text("main")
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    page.goto(gw.base_url + "/ui/security")
    assert "content_filtered" in page.inner_text("main")
    assert "A1b2C3d4E5" not in page.content()  # labels and counts, never the secret

    for path, name, expect in (("/ui/providers", "providers", "paid/gpt-4o-mini"),
                               ("/ui/security", "security", "guards_output"),
                               ("/ui/reports?group_by=alias&since=7d", "reports", "advice")):
        page.goto(gw.base_url + path)
        page.wait_for_selector("body.ready")
        assert expect in page.inner_text("main")
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#csv")
    csv_text = Path(dl.value.path()).read_text()
    assert csv_text.splitlines()[0] == ("alias,requests,errors,prompt_tokens,"
                                        "completion_tokens,cost_usd")
    assert any(line.startswith("chat,7,0,") for line in csv_text.splitlines())

    # Keys: create one, use it, revoke it.
    page.goto(gw.base_url + "/ui/keys")
    page.fill("form.create input[name=name]", "browser-made")
    page.fill("form.create input[name=rpm]", "60")
    page.check("form.create input[name=model_chat]")
    page.click("form.create button[type=submit]")
    new_key = page.inner_text("#new-key").strip()
    assert new_key.startswith("bst_")
    row = page.locator("table.keys tr", has_text="browser-made")
    assert "rpm 60" in row.inner_text()
    used = httpx.post(gw.openai_base_url + "/chat/completions",
                      headers={"authorization": f"Bearer {new_key}"},
                      json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert used.status_code == 200
    page.screenshot(path=str(shots / "keys.png"), full_page=True)
    row.locator("button.danger").click()
    page.wait_for_selector("text=revoked.")
    assert "revoked" in page.locator("table.keys tr", has_text="browser-made").inner_text()
    gone = httpx.post(gw.openai_base_url + "/chat/completions",
                      headers={"authorization": f"Bearer {new_key}"},
                      json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert gone.status_code == 401

    # Review: approve one held answer, reject the other; the pollers get the outcome.
    page.goto(gw.base_url + "/ui/review")
    assert page.locator("table.review tbody tr").count() == 2
    page.screenshot(path=str(shots / "review.png"), full_page=True)
    page.click(f"a[href='/ui/review/{approve_id}']")
    assert "ibuprofen" in page.inner_text("main")
    assert "hedging" in page.inner_text("main")  # why it was held: the answer hedged
    page.screenshot(path=str(shots / "review-item.png"), full_page=True)
    page.click("button[value=approve]")
    page.wait_for_selector("text=Decision recorded: approved.")
    page.goto(gw.base_url + f"/ui/review/{reject_id}")
    page.fill("input[name=note]", "dose depends on the product")
    page.click("button[value=reject]")
    page.wait_for_selector("text=Decision recorded: rejected.")
    for p in pollers:
        p.join(30)
    approved, rejected = (p.result for p in pollers)
    assert approved is not None
    assert approved.status_code == 200
    assert "ibuprofen" in approved.json()["choices"][0]["message"]["content"]
    assert approved.headers["x-bastion-review"] == "approved"
    assert rejected is not None
    assert rejected.status_code == 422
    assert rejected.json()["error"]["message"] == (
        "A pharmacist could not confirm this answer. Please call us.")
    assert all(p.polls >= 2 for p in pollers)  # they were waiting while we decided
    decided = gw.run(gw.gateway.admins.audit.export(action="review."))
    assert [(e.actor, e.detail["decision"]) for e in decided] == [
        ("account:ann", "approved"), ("account:ann", "rejected")]

    assert foreign == []  # nothing but the gateway's own pages, styles and script
    assert problems == []  # no script errors, no Content-Security-Policy violations
    ctx.close()


def test_a_forged_cross_site_form_is_refused_in_the_browser(gw: GatewayServer, browser: Any
                                                           ) -> None:
    """A page on another origin posts a form at the dashboard of a signed-in operator."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(gw.base_url + "/ui/login")
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(gw.base_url + "/ui/")
    before = len(gw.run(gw.gateway.keys.list()))
    evil = (f'<form id="f" method="post" action="{gw.base_url}/ui/keys">'
            '<input name="name" value="planted"></form>')
    page.route("http://evil.test/", lambda route: route.fulfill(
        status=200, content_type="text/html", body=evil))
    page.goto("http://evil.test/")
    with page.expect_navigation():
        page.eval_on_selector("#f", "f => f.submit()")
    assert len(gw.run(gw.gateway.keys.list())) == before
    assert "Create key" not in page.content()
    ctx.close()

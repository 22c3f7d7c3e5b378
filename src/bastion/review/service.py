"""Human review, as the gateway runs it: the policies, the step, decisions and polls.

:class:`Reviews` is built once from the settings (``gateway.reviews``). The admin API
(``GET /admin/review``, ``POST /admin/review/{id}``), the dashboard's review page and
the clients' poll (``GET /v1/bastion/reviews/{id}``) all go through it, so a decision
made in one place is seen by every other, on every replica (the queue lives in the
database). A background task marks unanswered items expired and erases the text of
old ones (every ``PURGE_EVERY_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec

from bastion.config.review_settings import DEFAULT_REJECT_MESSAGE
from bastion.config.settings import Settings
from bastion.core.errors import InvalidRequest, NotFound
from bastion.core.pipeline import Step
from bastion.core.types import ChatResponse, chat_response_decoder
from bastion.observe.logging import get_logger
from bastion.steps.review import LOGPROB_PROVIDERS, ReviewPolicy, ReviewStep
from bastion.stores.base import SQL
from bastion.stores.review import ReviewItem, ReviewQueue, Status

Decision = Literal["approve", "edit", "reject"]
DECISIONS: dict[str, Status] = {"approve": "approved", "edit": "edited", "reject": "rejected"}
PURGE_EVERY_S = 600.0
MAX_EDIT_CHARS = 200_000
MAX_NOTE_CHARS = 2000
_log = get_logger("bastion.review")
Hooks = list[Callable[[], Awaitable[None]]]


def build_policies(settings: Settings) -> dict[str, ReviewPolicy]:
    policies = {}
    g = settings.guards.output
    for name, alias in settings.models.items():
        if alias.review is None or alias.kind != "chat":
            continue
        types = {settings.providers[t.provider].type for t in alias.targets}
        judges = not alias.review.always or alias.review.action == "flag"
        wants = judges and bool(types & LOGPROB_PROVIDERS) and "gemini" not in types
        out = alias.guards.output.over(g) if alias.guards.output else g
        policies[name] = ReviewPolicy(alias.review, wants, out.harmful_threshold)
    return policies


def edited_answer(answer: str, text: str) -> str:
    """``answer`` (canonical JSON) with its first choice's text replaced by ``text``."""
    resp = chat_response_decoder.decode(answer)
    if resp.choices:
        msg = resp.choices[0].message
        msg.content = text
        msg.refusal = None
        resp.choices[0].logprobs = None
    return msgspec.json.encode(resp).decode()


class Reviews:
    """The review queue and its policies (see the module docstring)."""

    def __init__(self, settings: Settings, db: SQL) -> None:
        self.settings = settings
        self.queue = ReviewQueue(db)
        self.policies = build_policies(settings)
        self._task: asyncio.Task[None] | None = None

    def steps(self) -> list[Step]:
        return [ReviewStep(self.policies, self.queue)] if self.policies else []

    def reject_message(self, alias: str) -> str:
        policy = self.policies.get(alias)
        return policy.settings.reject_message if policy else DEFAULT_REJECT_MESSAGE

    def ttl_s(self, alias: str) -> float:
        policy = self.policies.get(alias)
        return policy.settings.ttl_s if policy else 86400.0

    async def item(self, item_id: str) -> ReviewItem:
        found = await self.queue.get(item_id)
        if found is None:
            raise NotFound("No review item has that id.")
        return found

    async def decide(self, item_id: str, decision: str, actor: str, *,
                     text: str | None = None, note: str | None = None) -> ReviewItem:
        """Approve, edit (``text`` replaces the answer) or reject a pending item."""
        status = DECISIONS.get(decision)
        if status is None:
            raise InvalidRequest("`decision` is one of approve, edit, reject.",
                                 param="decision")
        if note is not None and (len(note) > MAX_NOTE_CHARS):
            raise InvalidRequest(f"`note` is at most {MAX_NOTE_CHARS} characters.",
                                 param="note")
        item = await self.item(item_id)
        current = item.effective_status()
        if current != "pending":
            who = f" by {item.decided_by}" if item.decided_by else ""
            raise InvalidRequest(f"This item is {current}{who} already; it cannot be decided "
                                 "again.", param="id")
        final: str | None = None
        if status == "edited":
            if not text or not text.strip() or len(text) > MAX_EDIT_CHARS:
                raise InvalidRequest(f"An edit needs the new answer in `text` (1 to "
                                     f"{MAX_EDIT_CHARS} characters).", param="text")
            final = edited_answer(item.answer or "{}", text)
        elif status == "approved":
            final = item.answer
        if not await self.queue.decide(item.id, status, actor=actor, final_answer=final,
                                       note=note or None, ttl_s=self.ttl_s(item.alias)):
            raise InvalidRequest("This item was decided by someone else a moment ago.",
                                 param="id")
        _log.info("review_decided", review_id=item.id, decision=status, actor=actor)
        return await self.item(item.id)

    @staticmethod
    def answer_of(item: ReviewItem) -> ChatResponse | None:
        raw = item.final_answer
        return chat_response_decoder.decode(raw) if raw else None

    # The purge loop.
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._purge_loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _purge_loop(self) -> None:
        while True:
            try:
                n = await self.queue.purge()
                if n:
                    _log.info("review_text_erased", items=n)
            except Exception as e:  # noqa: BLE001 - the loop must survive a database hiccup
                _log.warning("review_purge_failed", error=type(e).__name__)
            await asyncio.sleep(PURGE_EVERY_S)

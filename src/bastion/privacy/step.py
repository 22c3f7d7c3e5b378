"""privacy → PII/PHI detection, then pseudonymise, redact or block; data classes →
compliance constraints on the route;  ← restore pseudonyms (streams and tool calls too).

Placed before the cache steps and outside output moderation: the cache stores and
serves answers that hold stand-ins, and moderation judges the provider's own words.

On the way down, for an alias whose policy is active: every text piece of the
request (messages, text parts, tool-call arguments, tool results, embedding inputs)
is scanned in one go (offloaded to a worker thread when large; refused with 400
``pii_scan_too_large`` beyond ``privacy.max_scan_chars``, or ``ner_max_chars`` with
names on). Each finding gets its action (see :class:`~bastion.privacy.policy.AliasPolicy`);
any ``block`` refuses the request with 400 ``pii_blocked`` naming the entity types,
never the values. The request's data classes go to ``ctx.data_classes`` (the route's
compliance predicate reads them); when no target of the alias may receive them, 422
``no_compliant_provider`` names the rule. Then values are replaced: stand-ins
(``pseudonymize``) or ``[TYPE]`` (``redact``).

On the way back, stand-ins in the answer are replaced by the originals: whole
answers, streams (through :mod:`bastion.core.holdback`, so a stand-in split across
chunks is restored whole) and tool-call arguments (JSON-escaped). ``ctx.decisions
["pii"]`` holds counts per entity type and action: types, never values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bastion.config.settings import Compliance
from bastion.core import holdback
from bastion.core.context import Context, Reply
from bastion.core.errors import NoCompliantProvider, PIIBlocked, PIIScanTooLarge
from bastion.core.offload import run_bounded
from bastion.core.pipeline import Next
from bastion.core.types import ChatRequest, EmbeddingRequest
from bastion.privacy.compliance import ComplianceRules
from bastion.privacy.entities import (
    EU_PERSONAL,
    HEALTH,
    MEDICAL_RECORD_NUMBER,
    PHI,
    PII,
    SECRET,
    Finding,
)
from bastion.privacy.policy import AliasPolicy, EUMarks
from bastion.privacy.pseudonyms import Pseudonyms, RestoreFilter, Restorer
from bastion.privacy.rewrite import Piece, chat_pieces, embedding_pieces, joined

if TYPE_CHECKING:
    from bastion.privacy.retention import BodyStore, PrivacyEvents

STATE_KEY = "privacy"
TargetsOf = Callable[[str], Iterable[tuple[str, Compliance]]]


def data_classes(findings: Iterable[Finding], eu: bool) -> set[str]:
    out: set[str] = set()
    for f in findings:
        if f.entity == SECRET:
            continue
        out.add(PII)
        if f.entity in (HEALTH, MEDICAL_RECORD_NUMBER):
            out.add(PHI)
    if out and eu:
        out.add(EU_PERSONAL)
    return out


class PrivacyKey:
    """The gateway's pseudonym key (from its database at start; random until then)."""

    def __init__(self, value: bytes) -> None:
        self.value = value


class PrivacyStep:
    """The step (see the module docstring)."""

    def __init__(self, policies: dict[str, AliasPolicy], *, eu: EUMarks,
                 rules: ComplianceRules, targets_of: TargetsOf, key: PrivacyKey,
                 max_scan_chars: int, ner_max_chars: int,
                 events: PrivacyEvents | None = None, bodies: BodyStore | None = None) -> None:
        self.policies = policies
        self.eu = eu
        self.rules = rules
        self.targets_of = targets_of
        self.key = key
        self.max_scan_chars = max_scan_chars
        self.ner_max_chars = ner_max_chars
        self.events = events
        self.bodies = bodies

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        policy = self.policies.get(ctx.alias)
        if policy is None or not policy.active:
            return await call_next(ctx)
        req = ctx.request
        pieces = chat_pieces(req) if isinstance(req, ChatRequest) else (
            embedding_pieces(req) if isinstance(req, EmbeddingRequest) else [])
        text, starts = joined(pieces)
        limit = self.ner_max_chars if policy.detector.uses_names else self.max_scan_chars
        if len(text) > limit:
            raise PIIScanTooLarge()
        findings = await run_bounded(len(text), policy.detector.analyze, text) if text else []
        eu = self.eu.marks(ctx.identity)
        classes = data_classes(findings, eu)
        ctx.data_classes |= classes
        actions = [policy.action(f, eu) for f in findings]
        if findings:
            summary: Counter[tuple[str, str]] = Counter(
                (f.entity, a) for f, a in zip(findings, actions, strict=True))
            ctx.decisions["pii"] = {f"{e}:{a}": n for (e, a), n in sorted(summary.items())}
        blocked = sorted({f.entity for f, a in zip(findings, actions, strict=True)
                          if a == "block"})
        if blocked:
            raise PIIBlocked("The request contains personal data that this gateway may not "
                             f"send to an AI provider: {', '.join(blocked)}.")
        refusal = self.rules.refusal(ctx.alias, classes, self.targets_of(ctx.alias))
        if refusal is not None:
            raise NoCompliantProvider(refusal)
        names = self._rewrite(ctx, pieces, text, starts, findings, actions)
        reply = await call_next(ctx)
        if self.events is not None:
            if findings:
                self.events.add(ctx, policy.alias, classes, ctx.decisions.get("pii", {}))
            self.events.cache_entry(ctx)
        if self.bodies is not None and policy.store_bodies:
            reply = self.bodies.keep(ctx, reply)
        if names is None or not names.originals:
            return reply
        restorer = Restorer(names.originals)
        reply = holdback.apply(reply, lambda: RestoreFilter(restorer))
        _restore_extras(reply, restorer)
        return reply

    def _rewrite(self, ctx: Context, pieces: list[Piece], text: str, starts: list[int],
                 findings: list[Finding], actions: list[str]) -> Pseudonyms | None:
        if not any(a in ("pseudonymize", "redact") for a in actions):
            return None
        who = ctx.identity
        scope = "anon" if who is None else (f"u:{who.user}" if who.user else f"k:{who.key_id}")
        names = Pseudonyms(self.key.value, scope, text)
        ctx.state[STATE_KEY] = names
        # Whole names first, so a lone first name later takes the matching part.
        order = sorted(range(len(findings)), key=lambda i: -len(findings[i].value.split()))
        replacement: dict[int, str] = {}
        for i in order:
            f, a = findings[i], actions[i]
            if a == "pseudonymize":
                replacement[i] = names.get(f.entity, f.value)
            elif a == "redact":
                replacement[i] = f"[{f.entity}]"
        for n, piece in enumerate(pieces):
            lo, hi = starts[n], starts[n] + len(piece.text)
            out, pos, changed = [], lo, False
            for i, f in enumerate(findings):
                if i not in replacement or f.start < lo or f.end > hi:
                    continue
                out.append(text[pos:f.start])
                out.append(replacement[i])
                pos, changed = f.end, True
            if changed:
                out.append(text[pos:hi])
                piece.write("".join(out))
        return names


def _restore_extras(reply: Reply, restorer: Restorer) -> None:
    """What holdback leaves alone in a whole answer: text parts, reasoning, refusals."""
    from bastion.core.types import ChatResponse

    if not isinstance(reply.response, ChatResponse):
        return
    for choice in reply.response.choices:
        m = choice.message
        if isinstance(m.content, list):
            for part in m.content:
                if isinstance(part.get("text"), str):
                    part["text"] = restorer.text(part["text"])
        if m.reasoning_content:
            m.reasoning_content = restorer.text(m.reasoning_content)
        if m.refusal:
            m.refusal = restorer.text(m.refusal)

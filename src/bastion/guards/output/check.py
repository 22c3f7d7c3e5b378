"""The output checks of one alias, applied to whole answers and to held-back streams.

:class:`OutputPolicy` is an alias's ``guards.output`` and ``guards.tools``,
resolved once. Per request, :class:`AnswerChecks` holds what the checks need
(the system prompt's leak detector, whether the firewall is on, the tools the
client offered) and makes one :class:`GuardFilter` per choice for
:mod:`bastion.core.holdback`. The filter judges text with a window of
``window_chars`` after it (widened so a key-like run of characters is never
released in part), gathers moderation cues over the whole answer, and judges
each tool call once it is complete. A blocking finding raises
:class:`ContentFiltered`; in ``flag`` mode findings are reported to a callback
and the text goes on. A check that raises follows ``on_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bastion.config.guard_output_settings import OutputGuard, ToolFirewall
from bastion.core.errors import ContentFiltered, OutputSchemaMismatch
from bastion.core.holdback import PassThrough
from bastion.guards.output.base import Finding
from bastion.guards.output.leak import LeakDetector
from bastion.guards.output.moderation import Cue, CueTracker, score_cues
from bastion.guards.output.remote import RemoteModeration
from bastion.guards.output.schema import check_json
from bastion.guards.output.secrets import MAX_SECRET_CHARS, find_secrets
from bastion.guards.tools.firewall import FirewallPolicy, Trusted, check_call

log = logging.getLogger("bastion.guards")
_KEYISH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=")
Report = Callable[[list[Finding]], None]
SUSPICION = 0.4  # of the harmful threshold: from there on, hold the whole window
CONTEXT_CHARS = 160  # released text re-read with new text: a key's name, a leak's start


@dataclass(frozen=True, slots=True)
class OutputPolicy:
    """An alias's output checks and firewall, resolved from settings."""

    output: OutputGuard
    tools: ToolFirewall
    firewall: FirewallPolicy = field(default_factory=FirewallPolicy)
    remote: RemoteModeration | None = None

    @classmethod
    def build(cls, output: OutputGuard, tools: ToolFirewall,
              remote: RemoteModeration | None = None) -> OutputPolicy:
        return cls(output, tools, FirewallPolicy.build(
            tools.allowed_tools, tools.allowed_domains, tools.allowed_recipients,
            tools.allowed_arguments, tools.sensitive), remote)

    @property
    def active(self) -> bool:
        return self.output.mode != "off" or self.tools.mode != "off"


def blocked(findings: list[Finding]) -> ContentFiltered:
    reasons = ", ".join(sorted({f.reason for f in findings}))
    return ContentFiltered(f"The answer was stopped by the gateway's content checks ({reasons}).")


@dataclass(slots=True)
class AnswerChecks:
    """What the checks of one request need; makes a filter per choice."""

    policy: OutputPolicy
    leak: LeakDetector | None
    firewall_on: bool
    offered_tools: frozenset[str] | None
    schema_kind: str = ""
    schema: dict[str, object] | None = None
    sensitive_values: tuple[str, ...] = ()
    report: Report = lambda findings: None
    trusted_texts: tuple[str, ...] = ()
    _trusted: Trusted | None = None

    def text_findings(self, text: str) -> list[Finding]:
        """Leak and secret findings in ``text`` (moderation is gathered separately)."""
        out = self.leak.scan(text) if self.leak is not None and self.policy.output.leak else []
        if self.policy.output.secrets:
            out.extend(find_secrets(text, self.policy.output.secrets_min_confidence))
        return out

    def harmful(self, cues: list[Cue]) -> tuple[list[Finding], bool]:
        """Findings over the threshold, and whether the answer looks headed that way
        (a watched category at ``SUSPICION`` of the threshold: hold the whole window)."""
        o = self.policy.output
        if not o.harmful or not cues:
            return [], False
        result = score_cues(cues, o.harmful_threshold)
        over = [Finding("harmful", c, result.category_scores[c])
                for c in result.over(o.harmful_threshold, o.harmful_categories)]
        return over, bool(result.over(o.harmful_threshold * SUSPICION, o.harmful_categories))

    def tool_findings(self, name: str, arguments: str) -> list[Finding]:
        if not self.firewall_on:
            return []
        if self._trusted is None:
            self._trusted = Trusted.from_texts(self.trusted_texts)
        return check_call(self.policy.firewall, name, arguments, offered=self.offered_tools,
                          leak=self.leak, sensitive_values=self.sensitive_values,
                          trusted=self._trusted)

    def decide(self, findings: list[Finding], mode: str) -> None:
        """Raise in block mode; report in flag mode."""
        if not findings:
            return
        if mode == "block":
            raise blocked(findings)
        self.report(findings)

    def guarded(self, fn: Callable[[], list[Finding]], mode: str) -> None:
        """``fn``'s findings decided; a check that raises follows ``on_error``."""
        if mode == "off":
            return
        try:
            findings = fn()
        except (ContentFiltered, OutputSchemaMismatch):
            raise
        except Exception:  # noqa: BLE001 - a broken detector must not become a 500
            self.failed()
            return
        self.decide(findings, mode)

    def failed(self) -> None:
        """A check could not run: log it, then pass (``on_error: open``) or refuse."""
        log.exception("output check failed")
        if self.policy.output.on_error == "closed":
            raise ContentFiltered("The answer could not be checked, so it was held back.")

    async def remote(self, text: str) -> None:
        """The provider's moderation endpoint on a whole answer, when configured."""
        o = self.policy.output
        if self.policy.remote is None or o.mode == "off" or not o.harmful or not text:
            return
        try:
            findings = await self.policy.remote.findings(text, o.harmful_categories)
        except Exception:  # noqa: BLE001 - an unreachable endpoint must not become a 500
            self.failed()
            return
        self.decide(findings, o.mode)

    def make_filter(self) -> GuardFilter:
        return GuardFilter(self)


class GuardFilter(PassThrough):
    """One choice's text and tool calls through the checks (see the module docstring)."""

    def __init__(self, checks: AnswerChecks) -> None:
        self.checks = checks
        o = checks.policy.output
        self.window = max(o.window_chars, checks.leak.span_chars if checks.leak else 0)
        self.hold_all = bool(checks.schema_kind) and o.mode == "block" and o.schema_check != "off"
        self.context = max(CONTEXT_CHARS, checks.leak.span_chars if checks.leak else 0)
        self._tail = ""  # the end of the released text: context for matches across it
        self._released = 0
        self._held = 0  # characters of the last ``text`` kept back (its start is not new)
        self._cues = CueTracker()
        self._seen: set[tuple[str, int]] = set()
        self._suspicious = False

    def _scan(self, text: str) -> list[Finding]:
        scan = self._tail + text
        findings = self.checks.text_findings(scan)
        if self.checks.policy.output.harmful:
            self._cues.feed(text[self._held:])
            harmful, self._suspicious = self.checks.harmful(self._cues.cues)
            findings.extend(harmful)
        base = self._released - len(self._tail)
        fresh = []
        for f in findings:  # in flag mode, report each finding once
            key = (f.reason, f.start + base if f.start >= 0 else -1)
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(f)
        return fresh

    def process(self, text: str, final: bool) -> tuple[str, str]:
        if not text:
            return "", ""
        if self.hold_all and not final:
            return "", text
        mode = self.checks.policy.output.mode
        self.checks.guarded(lambda: self._scan(text), mode)
        if final and self.hold_all:
            text = self._schema(text)
        cut = len(text) if final else self._cut(text)
        release = text[:cut]
        if release:
            self._tail = (self._tail + release)[-self.context:]
            self._released += len(release)
        self._held = len(text) - cut
        return release, text[cut:]

    def _cut(self, text: str) -> int:
        """Where held text ends: everything that could still become a finding stays —
        the whole window once the answer looks harmful, else the tail that could start
        a leak and the trailing key-like run (a secret may end in a later chunk)."""
        if self._suspicious:
            cut = max(0, len(text) - self.window)
        else:
            leak = self.checks.leak if self.checks.policy.output.leak else None
            cut = len(text) - (leak.pending(text) if leak is not None else 0)
        floor = max(0, cut - MAX_SECRET_CHARS)
        while cut > floor and text[cut - 1] in _KEYISH:
            cut -= 1
        return cut

    def _schema(self, text: str) -> str:
        result = check_json(text, self.checks.schema_kind, self.checks.schema)
        if result.ok:
            return result.text or text
        raise OutputSchemaMismatch("The model's answer did not match the requested JSON "
                                   "schema: " + "; ".join(result.errors))

    def tool_call(self, name: str, arguments: str) -> str:
        self.checks.guarded(lambda: self.checks.tool_findings(name, arguments),
                            self.checks.policy.tools.mode)
        return arguments

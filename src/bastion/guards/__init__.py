"""Guards: detectors the guard steps use (pure functions and small classes, no I/O).

* ``injection/`` — prompt-injection detection: :mod:`.normalize` (the canonical view),
  :mod:`.decode` (hidden and encoded segments), :mod:`.phrases` (attack-shaped phrase
  families in several languages), :mod:`.classifier` and :mod:`.features` (the bundled
  hashed n-gram linear models), :mod:`.detector` (one score with reasons),
  :mod:`.review` (what happens to a chat request), :mod:`.sources` (allow-list).
* ``output/`` — checks on answers: system-prompt leaks, secrets, harmful content, JSON
  schema; ``tools/`` — the tool-call firewall.
* :mod:`.spotlight` — untrusted text framed and data-marked on its way upstream.
* :mod:`.system_prompt` — server-side system prompt templates, the canary, and the
  ``ctx.state`` keys shared with the output and tool-call checks.

The steps that use them are in :mod:`bastion.steps` (``injection``, ``system_prompt``)
and are built by :func:`build_steps`. None of them needs anything outside the process:
when a detector fails, the alias's ``on_error`` decides (never a 500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.core.pipeline import Step


def build_steps(gw: Gateway) -> list[Step]:
    """The input guard steps, in order: role separation, then the injection scan (which
    so sees demoted client system messages as user text, and never the server's own
    prompt)."""
    from bastion.config.guard_settings import system_prompt_text
    from bastion.steps.injection import InjectionGuard
    from bastion.steps.system_prompt import AliasRoles, RoleSeparation

    s = gw.settings
    base = s.guards.injection
    per_alias = {name: a.guards.injection.over(base) if a.guards.injection else base
                 for name, a in s.models.items()}
    roles = {}
    for name, a in s.models.items():
        template = system_prompt_text(a.system_prompt, s.guards.system_prompts)
        roles[name] = AliasRoles(template, a.guards.client_system or s.guards.client_system)
    default_roles = AliasRoles(None, s.guards.client_system)
    return [RoleSeparation(roles, default_roles, s.guards.canary, gw.keys),
            InjectionGuard(base, per_alias)]

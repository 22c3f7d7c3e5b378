"""Admin roles, what each grants, and the actor behind an admin request.

=========  ==============================================================
role       may use
=========  ==============================================================
viewer     read-only routes: key lists and usage, breakers, its own tokens
reviewer   viewer's routes and the human review queue's decisions
operator   viewer's routes and key lifecycle (create, revoke, rotate)
admin      everything: accounts, data-subject export and erasure, the audit log
=========  ==============================================================

Each admin route declares the one role it needs; an actor may use it when that
role is among its grants. A token minted with a narrower role than its account
("scoped") carries only the grants both have, so lowering an account's role also
narrows the tokens it already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["admin", "operator", "reviewer", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
GRANTS: dict[Role, frozenset[Role]] = {
    "admin": frozenset(ROLES),
    "operator": frozenset({"operator", "viewer"}),
    "reviewer": frozenset({"reviewer", "viewer"}),
    "viewer": frozenset({"viewer"}),
}
Via = Literal["session", "token", "master-key", "oidc", "cli", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an admin action, as the audit log names them (``id``)."""

    id: str  # "account:alice", "oidc:<sub>", "master-key", "cli:<os user>"
    role: Role
    grants: frozenset[Role]
    via: Via
    account: str | None = None  # the account name, for accounts
    token_id: str | None = None  # the session or API token used

    def may(self, needs: Role) -> bool:
        return needs in self.grants


def actor_for(account: str, account_role: Role, token_role: Role, via: Via,
              token_id: str | None = None) -> Actor:
    """An account's actor through a token: the grants both roles have."""
    return Actor("account:" + account, token_role,
                 GRANTS[account_role] & GRANTS[token_role], via, account, token_id)


MASTER = Actor("master-key", "admin", GRANTS["admin"], "master-key")

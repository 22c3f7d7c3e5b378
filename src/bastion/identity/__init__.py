"""Identity: who is calling the gateway, and who is administering it.

Parts, each behind one small interface:

* :mod:`~bastion.identity.signing_keys` holds an issuer's signing keys: a JWKS
  fetched, cached and refreshed (bounded; a down endpoint never stalls a request
  whose key is cached), a static public key, or an HS256 shared secret;
* :mod:`~bastion.identity.claims` turns verified claims into an
  :class:`~bastion.core.context.Identity` (user, team, aliases, tier limits);
* :mod:`~bastion.identity.jwt_auth` verifies caller JWTs (PyJWT) and caches the
  verified ones;
* :mod:`~bastion.identity.callers` picks virtual key or JWT for a request and
  lets keys with ``act_for_users`` name their end user;
* :mod:`~bastion.identity.cors` answers browsers' preflights per issuer;
* :mod:`~bastion.identity.roles`, :mod:`~bastion.identity.accounts` and
  :mod:`~bastion.identity.admin_auth`: admin accounts (Argon2 passwords), their
  sessions and scoped API tokens, admin sign-in by OIDC, the master key as a
  logged break-glass credential, and one role per admin route;
* :mod:`~bastion.identity.audit` writes every admin action to the audit log
  (:mod:`bastion.stores.audit`) with its actor, and nothing secret or personal.
"""

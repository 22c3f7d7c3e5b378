"""Spending less per request: cost-aware routing and context trimming.

Parts, each pure and offline (the steps that use them are
:mod:`bastion.steps.auto_route` and :mod:`bastion.steps.trim`):

* :mod:`~bastion.cost.rules` reads a chat request and decides whether a cheap model
  will do (``cheap``) or it needs a strong one (``strong``), with the rule that
  decided and every signal it saw, so each decision can be explained;
* :mod:`~bastion.cost.trim` plans which of a conversation's oldest turns to drop so
  its prompt fits a token budget, never the system prompt, never the last user turn,
  never a tool call apart from its result;
* :mod:`~bastion.cost.summary` writes the request that summarises dropped turns, for
  aliases that summarise instead of dropping.

Nothing here calls a provider or touches shared state; when a part cannot judge (a
request too large to read on the loop), its step decides where the work runs
(:mod:`bastion.core.offload`).
"""

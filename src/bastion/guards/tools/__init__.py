"""The tool-call firewall: what a model may ask the client's tools to do.

``destinations`` pulls URLs, domains and e-mail addresses out of tool-call
arguments; ``firewall`` judges one tool call against an alias's policy (allowed
tools, domains, recipients, argument values) and against what must not leave
(the system prompt, its canary, secrets). The step that applies it is
``bastion.steps.tool_firewall``.
"""

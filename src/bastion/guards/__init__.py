"""Detectors the guard steps use: pure functions and small classes, no I/O.

``injection/`` (input and document scanning), ``output/`` (checks on answers:
system-prompt leaks, secrets, harmful content, JSON schema) and ``tools/`` (the
tool-call firewall). The steps that apply them live in ``bastion.steps``.
"""

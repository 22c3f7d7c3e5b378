"""Exception tree for ``bastion scan``.

Every error the scanner raises on purpose derives from :class:`ScanError`, so a
caller can catch the whole family without catching programming errors.
"""

from __future__ import annotations


class ScanError(Exception):
    """Base class of every error raised by the scanner."""


class ScanUsageError(ScanError):
    """The caller asked for something impossible (bad path, conflicting options)."""


class GitError(ScanError):
    """A git command failed or the target is not a git repository."""


class BaselineError(ScanError):
    """A baseline file cannot be read, parsed or written."""


class HookInstallError(ScanError):
    """The pre-push hook cannot be installed (no repository, foreign hook present)."""

"""``bastion scan``: find leaked AI provider keys in files, archives and git history.

Public API::

    from bastion.tools.scan import scan_paths, scan_git_history, scan_bytes, Finding
"""

from __future__ import annotations

from .api import scan_bytes, scan_git_history, scan_paths
from .baseline import apply_baseline, load_baseline, write_baseline
from .errors import BaselineError, GitError, HookInstallError, ScanError, ScanUsageError
from .hook import install_pre_push_hook
from .model import Confidence, Finding, fingerprint, mask
from .output import render_json, render_sarif, render_table
from .registry import DETECTORS

__all__ = [
    "DETECTORS",
    "BaselineError",
    "Confidence",
    "Finding",
    "GitError",
    "HookInstallError",
    "ScanError",
    "ScanUsageError",
    "apply_baseline",
    "fingerprint",
    "install_pre_push_hook",
    "load_baseline",
    "mask",
    "render_json",
    "render_sarif",
    "render_table",
    "scan_bytes",
    "scan_git_history",
    "scan_paths",
    "write_baseline",
]

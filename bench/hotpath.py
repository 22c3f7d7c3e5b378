"""Hot-path benchmark without LiteLLM: Bastion (guards off and the default guards) against
the naive aiohttp + uvloop pass-through and direct-to-upstream, in the same run: the table
of ``compare_litellm.py`` (see there for the method) in a few minutes less.

    .venv/bin/python bench/hotpath.py [compare_litellm.py's options]
"""

from __future__ import annotations

import sys

import compare_litellm

if __name__ == "__main__":
    sys.argv[1:1] = ["--systems", "direct,passthrough,bastion,guards"]
    compare_litellm.main()

"""Settings of human review (per alias) and of the operator dashboard.

```yaml
models:
  advice:
    targets: [openai/gpt-4o-mini]
    review:
      min_confidence: 0.6     # below this, the action applies (see docs/review.md)
      action: hold            # hold: 202 + review id, the answer waits for a person
                              # flag: delivered with x-bastion-confidence and a marker
      always: false           # true: every answer of this alias (high-stakes domains)
      ttl_s: 86400            # a held answer waits this long; its text is kept this long
                              # after its last change, then erased
      reject_message: "A reviewer did not approve this answer. Please rephrase or contact us."
dashboard:
  enabled: true               # the operator dashboard at /ui/
  auto_refresh_s: 30          # the overview's refresh period when auto-refresh is on
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bastion.config.extensions import _Strict

DEFAULT_REJECT_MESSAGE = ("A reviewer decided not to send this answer. Please rephrase your "
                          "question, or contact us if you need help.")


class ReviewSettings(_Strict):
    """``models.<alias>.review``: when a person looks at an answer before the client does."""

    min_confidence: float = Field(0.6, ge=0, le=1)
    action: Literal["hold", "flag"] = "flag"
    always: bool = False
    ttl_s: float = Field(86400.0, gt=0, le=90 * 86400)
    reject_message: str = Field(DEFAULT_REJECT_MESSAGE, min_length=1, max_length=1000)


class DashboardSettings(_Strict):
    """``dashboard``: the operator web pages at ``/ui/``."""

    enabled: bool = True
    auto_refresh_s: int = Field(30, ge=5, le=3600)

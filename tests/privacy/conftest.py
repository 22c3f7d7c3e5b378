"""Shared pieces of the privacy tests: a text full of personal data and its values."""

from __future__ import annotations

import json
from typing import Any

PERSONAL = ("Hi, reach me at jane.roe@example-mail.com or +44 20 7946 0958. Card "
            "4242 4242 4242 4242, IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-1234. I live at "
            "221 Baker Street, London. I was born on 12/03/1985. Server 81.2.69.160.")
VALUES = ["jane.roe@example-mail.com", "+44 20 7946 0958", "4242 4242 4242 4242",
          "DE89 3704 0044 0532 0130 00", "536-22-1234", "221 Baker Street", "12/03/1985",
          "81.2.69.160"]


def leaked(body: Any) -> list[str]:
    """The original values found anywhere in ``body`` (a received request)."""
    text = json.dumps(body, ensure_ascii=False)
    return [v for v in VALUES if v in text or v.replace(" ", "") in text]

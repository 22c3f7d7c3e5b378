"""Load test for a running Bastion: ``locust -f bench/locustfile.py --host http://HOST:PORT``.

Needs ``pip install locust`` (not a dependency of Bastion) and a virtual key::

    BASTION_KEY=bst_... BASTION_MODEL=chat locust -f bench/locustfile.py \
        --host http://127.0.0.1:8787 --users 200 --spawn-rate 20 --run-time 5m --headless

Mixes plain and streamed OpenAI-dialect chat calls (and Anthropic ``/v1/messages``
calls when ``BASTION_ANTHROPIC=1``), and counts as a failure any answer that is
neither correct nor degraded nor a friendly ``upstream_unavailable``: a hung
connection, a stream without its end, a raw provider error. Streams report the
time to the first chunk as their own entry (``… first chunk``). See
docs/load-testing.md.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from locust import HttpUser, between, events, task

KEY = os.environ.get("BASTION_KEY", "")
MODEL = os.environ.get("BASTION_MODEL", "chat")
STREAM_SHARE = float(os.environ.get("BASTION_STREAM_SHARE", "0.5"))
ANTHROPIC = os.environ.get("BASTION_ANTHROPIC") == "1"
TIMEOUT_S = float(os.environ.get("BASTION_TIMEOUT_S", "120"))
PROMPTS = [
    "Summarise the benefits of unit tests in one sentence.",
    "What is the capital of Portugal?",
    "Write a haiku about load balancers.",
    "Explain retries with exponential backoff briefly.",
]
FRIENDLY = {"upstream_unavailable", "rate_limit_exceeded", "budget_exceeded"}


@events.init_command_line_parser.add_listener
def _args(parser: Any) -> None:
    parser.add_argument("--bastion-key", default=KEY, help="virtual key (or BASTION_KEY)")


def _friendly_error(text: str) -> str | None:
    """The stable error code when ``text`` is one of the gateway's own errors."""
    try:
        err = json.loads(text).get("error") or {}
    except (ValueError, AttributeError):
        return None
    code = err.get("code") if isinstance(err, dict) else None
    return code if code in FRIENDLY else None


class GatewayUser(HttpUser):
    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        key = self.environment.parsed_options.bastion_key or KEY
        self.headers = {"Authorization": f"Bearer {key}", "x-api-key": key,
                        "anthropic-version": "2023-06-01"}

    def _body(self, stream: bool) -> dict[str, Any]:
        msg = [{"role": "user", "content": random.choice(PROMPTS)}]
        if ANTHROPIC and random.random() < 0.5:
            return {"model": MODEL, "max_tokens": 256, "stream": stream, "messages": msg,
                    "_path": "/v1/messages"}
        return {"model": MODEL, "stream": stream, "messages": msg,
                "_path": "/v1/chat/completions"}

    @task(1)
    def chat(self) -> None:
        body = self._body(stream=False)
        path = body.pop("_path")
        with self.client.post(path, json=body, headers=self.headers, timeout=TIMEOUT_S,
                              name=f"{path} (json)", catch_response=True) as r:
            if r.status_code == 200:
                r.success()
            elif _friendly_error(r.text):
                r.success()  # a friendly refusal is the gateway doing its job
            else:
                r.failure(f"{r.status_code}: {r.text[:200]}")

    @task(1)
    def chat_stream(self) -> None:
        if random.random() > STREAM_SHARE * 2:
            self.chat()
            return
        body = self._body(stream=True)
        path = body.pop("_path")
        started = time.perf_counter()
        first: float | None = None
        last = b""
        with self.client.post(path, json=body, headers=self.headers, timeout=TIMEOUT_S,
                              stream=True, name=f"{path} (stream)", catch_response=True) as r:
            if r.status_code != 200:
                if _friendly_error(r.text):
                    r.success()
                else:
                    r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            for line in r.iter_lines():
                if not line:
                    continue
                if first is None:
                    first = time.perf_counter()
                last = line
            ended = last in (b"data: [DONE]",) or b'"message_stop"' in last or b'"error"' in last
            if not ended:
                r.failure("the stream ended without its end event")
                return
            r.success()
        if first is not None:
            events.request.fire(request_type="POST", name=f"{path} first chunk",
                                response_time=(first - started) * 1000, response_length=0,
                                exception=None, context={})

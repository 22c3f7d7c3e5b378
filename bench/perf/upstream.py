"""nginx (Debian) as the canned provider, with a config of its own in a temporary folder, on
a free loopback port, pinned to the load core. Never the system's nginx service.

Each behaviour is a path prefix, so a provider's ``base_url`` picks it (nginx does not read
the JSON body; the benchmarks send stream requests to a stream alias):

=====================  ====================================================================
``/json/v1``           a chat completion (JSON, 170 bytes of answer)
``/sse/v1``            the same as 20 SSE token frames, each flushed on its own, then usage
``/slow/v1``           30 SSE token frames 0.1 s apart (3 s a stream), then usage
``/flaky/v1``          the JSON answer, or a 503 for 10 % of requests (by request id)
``/drop/v1``           the connection is closed without an answer
=====================  ====================================================================

Streamed frames need Debian's ``libnginx-mod-http-echo`` (``echo``, ``echo_flush``,
``echo_sleep``); without it ``/sse`` sends its frames in one write and ``/slow`` is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from perf.procs import LOAD_CORE, free_port, pinned, stop, wait_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")

CHAT = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! " * 20},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 250, "completion_tokens": 40, "total_tokens": 290},
}


def _frame(delta: dict[str, object], finish: str | None = None,
           usage: dict[str, int] | None = None) -> str:
    chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
             "model": "gpt-4o-mini",
             "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        chunk["usage"] = usage
    return "data: " + json.dumps(chunk, separators=(",", ":")) + "\\n\\n"


def sse_frames(tokens: int) -> list[str]:
    """The frames of a streamed answer of ``tokens`` tokens (nginx string escapes)."""
    return ([_frame({"role": "assistant", "content": ""})]
            + [_frame({"content": "Hello! "}) for _ in range(tokens)]
            + [_frame({}, "stop"),
               _frame({}, usage={"prompt_tokens": 250, "completion_tokens": tokens,
                                 "total_tokens": 250 + tokens}),
               "data: [DONE]\\n\\n"])


def _stream(frames: list[str], pause_s: float, echo: bool) -> str:
    if not echo:
        return f"return 200 '{''.join(frames)}';"
    steps = []
    for i, f in enumerate(frames):
        steps.append(f"echo -n '{f}'; echo_flush;")
        if pause_s and 0 < i < len(frames) - 3:
            steps.append(f"echo_sleep {pause_s};")
    return "\n        ".join(steps)


def config(port: int, tmp: Path, echo: bool) -> str:
    answer = json.dumps(CHAT, separators=(",", ":"))
    error = '{"error":{"message":"overloaded","type":"server_error","code":null}}'
    slow = (f"""
    location = /slow/v1/chat/completions {{
        default_type text/event-stream;
        {_stream(sse_frames(30), 0.1, echo)}
    }}""" if echo else "")
    return f"""
{f"load_module {ECHO_MODULE};" if echo else ""}
worker_processes 1;
worker_rlimit_nofile 65535;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log error;
events {{ worker_connections 30000; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_body_buffer_size 1m;
    split_clients "${{request_id}}" $fail {{ 10% yes; * no; }}
    server {{
        listen 127.0.0.1:{port} backlog=8192;
        location = /json/v1/chat/completions {{
            default_type application/json;
            return 200 '{answer}';
        }}
        location = /sse/v1/chat/completions {{
            default_type text/event-stream;
            {_stream(sse_frames(20), 0, echo)}
        }}{slow}
        location = /flaky/v1/chat/completions {{
            default_type application/json;
            if ($fail = yes) {{ return 503 '{error}'; }}
            return 200 '{answer}';
        }}
        location = /drop/v1/chat/completions {{ return 444; }}
    }}
}}
"""


class Upstream:
    """The canned provider: ``with Upstream() as up: up.url("json")``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self.dir.chmod(0o777)  # nginx's worker (nobody, when run as root) writes here
        self.echo = ECHO_MODULE.exists()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1"

    def start(self) -> Upstream:
        if not Path(NGINX).exists():
            raise SystemExit("nginx is needed: apt-get install nginx libnginx-mod-http-echo")
        conf = self.dir / "nginx.conf"
        conf.write_text(config(self.port, self.dir, self.echo))
        subprocess.run([NGINX, "-t", "-q", "-p", str(self.dir), "-c", str(conf)],  # noqa: S603
                       check=True)
        self.proc = subprocess.Popen(pinned(LOAD_CORE, [NGINX, "-p", str(self.dir),  # noqa: S603
                                                        "-c", str(conf)]))
        wait_port(self.port, 10, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

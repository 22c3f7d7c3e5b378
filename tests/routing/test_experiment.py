"""A/B experiments over real HTTP: each user stays in one arm, and the arm is on every
request's usage row (and in the data export), log line and metrics, even when the
arm's target is down and another target answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import openai

from bastion.testing import Behavior, FakeUpstream, GatewayServer

from .conftest import SAY, request_lines, routing_settings

USERS = [f"user-{i}" for i in range(12)]


def test_an_ab_alias_records_the_arm_on_each_usage_row(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any,
) -> None:
    ups = {"a": upstream_factory(), "b": upstream_factory()}
    gw = gateway_factory(routing_settings(
        ups, {"experiment": "a-vs-b", "routing": "weighted", "sticky": "user"},
        resilience={"breaker": {"failure_threshold": 1, "cooldown_ms": 60000}}))
    keys = {u: gw.create_key(user=u) for u in USERS}

    def ask(user: str) -> str:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=keys[user], max_retries=0)
        return c.chat.completions.create(model="chat", messages=SAY).model  # type: ignore[arg-type]

    served = {u: {ask(u) for _ in range(3)} for u in USERS}
    assert all(len(s) == 1 for s in served.values())  # each user in one arm
    arm_of = {u: "a/a-model" if s == {"a-model"} else "b/b-model" for u, s in served.items()}
    assert set(arm_of.values()) == {"a/a-model", "b/b-model"}

    ups["b"].default = Behavior("status", status=500)  # arm b's target goes down
    for u in USERS:
        assert ask(u) == "a-model"

    gw.run(gw.gateway.recorder.flush())
    admin = {"Authorization": f"Bearer {gw.master_key}"}
    for u in USERS:
        rows = httpx.get(f"{gw.base_url}/admin/users/{u}/data", headers=admin).json()["usage"]
        assert len(rows) == 4
        assert {r["arm"] for r in rows} == {arm_of[u]}  # the assignment, on every row
        assert [r["target"] for r in rows] == [arm_of[u]] * 3 + ["a/a-model"]
    lines = [x for x in request_lines(captured) if x["alias"] == "chat"]
    assert len(lines) == 4 * len(USERS)
    assert {x["decisions"]["experiment"] for x in lines} == {"a-vs-b"}
    assert Counter(x["decisions"]["arm"] for x in lines) == Counter(
        {arm: 4 * n for arm, n in Counter(arm_of.values()).items()})
    metrics = httpx.get(gw.base_url + "/metrics").text
    for arm, n in Counter(arm_of.values()).items():
        assert (f'bastion_experiment_requests_total{{alias="chat",arm="{arm}",'
                f'experiment="a-vs-b"}} {4 * n}.0') in metrics

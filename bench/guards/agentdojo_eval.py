"""The tool-call firewall on AgentDojo's injection tasks (agentdojo 0.1.35, suites v1.2).

For each suite the firewall gets the policy an operator would write from the
user's own data: the suite's tools are all allowed; the allowed domains, e-mail
recipients and (banking) IBANs are those that occur in the suite's environment
rendered with its benign default injection vectors. Every call is judged as if
untrusted content had entered the conversation (the firewall's worst case).

* attack prevented: an injection task with at least one ground-truth call blocked
  (the attacker's goal needs all of its calls);
* false blocks: ground-truth calls of the *user* tasks (what a benign run does)
  that the same policy blocks, the user's own task text being trusted
  (``trust_user_destinations``). For the injection tasks the user's text is not
  given: the attacker's destinations come from the injected document.

The tasks' ground-truth calls live in agentdojo's Python classes, not in the data
folder, so they are extracted once from the package (``extract``: the unpacked
wheel or an installed copy on ``--agentdojo``; optional model SDKs it imports are
stubbed, nothing calls a model) into a JSON file outside the repository::

    pip download --no-deps agentdojo==0.1.35 -d /tmp/adojo && unzip -q -o \\
        /tmp/adojo/agentdojo-0.1.35-py3-none-any.whl -d /tmp/adojo/x
    python bench/guards/agentdojo_eval.py extract --agentdojo /tmp/adojo/x  # needs pydantic,
        # pyyaml, deepdiff, docstring-parser, openai, anthropic in that interpreter
    .venv/bin/python bench/guards/agentdojo_eval.py run [--data DIR] [--tasks FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[2]
# ../shared beside the checkout (a worktree sits one level deeper)
DEFAULT_DATA = next((p / "shared/data/guard-eval/pypi_agentdojo/data" for p in
                     (_REPO.parent, _REPO.parent.parent) if (p / "shared").is_dir()),
                    _REPO.parent / "shared/data/guard-eval/pypi_agentdojo/data")
DEFAULT_TASKS = Path(tempfile.gettempdir()) / "agentdojo_tasks.json"  # outside the repo
_PLACEHOLDER = re.compile(r"\{(injection_[a-z0-9_]+)\}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b")
_MONEY_TOOLS = ("send_money", "schedule_transaction", "update_scheduled_transaction")


def extract(agentdojo: Path, out: Path) -> None:
    from unittest.mock import MagicMock

    sys.path.insert(0, str(agentdojo))
    for name in ("cohere", "cohere.types", "google", "google.genai", "google.genai.types",
                 "google.genai.errors", "langchain", "vertexai", "transformers", "torch",
                 "requests"):
        sys.modules.setdefault(name, MagicMock())
    from agentdojo.task_suite.load_suites import get_suites  # type: ignore[import-not-found]

    def calls(task: Any, env: Any) -> list[dict[str, Any]]:
        return [{"function": c.function, "args": {k: v if isinstance(v, str | int | float | list)
                                                  else str(v) for k, v in c.args.items()}}
                for c in task.ground_truth(env)]

    doc: dict[str, Any] = {}
    for name, suite in get_suites("v1.2").items():
        env = suite.load_and_inject_default_environment({})
        doc[name] = {
            "tools": [t.name for t in suite.tools],
            "injection_tasks": [{"id": i, "goal": t.GOAL, "calls": calls(t, env)}
                                for i, t in suite.injection_tasks.items()],
            "user_tasks": [{"id": i, "prompt": t.PROMPT, "calls": calls(t, env)}
                           for i, t in suite.user_tasks.items()],
        }
    out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {out}")


def environment_text(suite_dir: Path) -> str:
    """Every YAML file of the suite, placeholders filled with their benign defaults."""
    import yaml

    vectors = yaml.safe_load((suite_dir / "injection_vectors.yaml").read_text()) or {}
    defaults = {k: str(v.get("default", "")) for k, v in vectors.items()}
    raw = "\n".join(p.read_text() for p in sorted(suite_dir.rglob("*.yaml"))
                    if p.name != "injection_vectors.yaml")
    return _PLACEHOLDER.sub(lambda m: defaults.get(m.group(1), ""), raw)


def policy_for(suite: str, tools: list[str], env: str) -> Any:
    from bastion.guards.tools.destinations import find_destinations
    from bastion.guards.tools.firewall import FirewallPolicy

    hosts, emails = find_destinations([env])
    ibans = sorted(set(_IBAN.findall(env)))
    args = {f"{t}.recipient": ibans for t in _MONEY_TOOLS} if suite == "banking" else {}
    return FirewallPolicy.build(tools, sorted(hosts), sorted(emails), args, True)


def run(data: Path, tasks_file: Path) -> None:
    from bastion.guards.tools.firewall import Trusted, check_call

    tasks = json.loads(tasks_file.read_text())
    print(f"{'suite':10} {'inj.tasks':>9} {'scored':>6} {'prevented':>9} {'rate':>6} "
          f"{'benign calls':>12} {'false blocks':>12}")
    tot = {"scored": 0, "prevented": 0, "calls": 0, "blocked": 0}
    reasons: dict[str, int] = {}
    for suite, doc in sorted(tasks.items()):
        pol = policy_for(suite, doc["tools"], environment_text(data / "suites" / suite))
        offered = frozenset(doc["tools"])

        def blocked(call: dict[str, Any], prompt: str = "", pol: Any = pol,
                    offered: frozenset[str] = offered) -> list[Any]:
            # destinations the user wrote in the task are trusted (trust_user_destinations)
            return check_call(pol, call["function"], json.dumps(call["args"]), offered=offered,
                              trusted=Trusted.from_texts([prompt]))

        scored = prevented = 0
        for t in doc["injection_tasks"]:
            if not t["calls"]:
                continue  # no ground-truth calls (a text-only goal): the firewall has no say
            scored += 1
            found = [f for c in t["calls"] for f in blocked(c)]
            prevented += bool(found)
            for f in found:
                reasons[f.category] = reasons.get(f.category, 0) + 1
        benign = [(c, t.get("prompt", "")) for t in doc["user_tasks"] for c in t["calls"]]
        false = sum(bool(blocked(c, p)) for c, p in benign)
        print(f"{suite:10} {len(doc['injection_tasks']):9d} {scored:6d} {prevented:9d} "
              f"{prevented / max(1, scored):6.0%} {len(benign):12d} {false:12d}")
        tot["scored"] += scored
        tot["prevented"] += prevented
        tot["calls"] += len(benign)
        tot["blocked"] += false
    print(f"{'all':10} {'':9} {tot['scored']:6d} {tot['prevented']:9d} "
          f"{tot['prevented'] / max(1, tot['scored']):6.0%} {tot['calls']:12d} "
          f"{tot['blocked']:12d} ({tot['blocked'] / max(1, tot['calls']):.1%})")
    print("reasons:", ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("extract")
    ex.add_argument("--agentdojo", type=Path, required=True)
    ex.add_argument("--out", type=Path, default=DEFAULT_TASKS)
    rn = sub.add_parser("run")
    rn.add_argument("--data", type=Path, default=DEFAULT_DATA)
    rn.add_argument("--tasks", type=Path, default=DEFAULT_TASKS)
    a = ap.parse_args()
    if a.cmd == "extract":
        extract(a.agentdojo, a.out)
    else:
        run(a.data, a.tasks)


if __name__ == "__main__":
    main()

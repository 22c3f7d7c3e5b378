"""How well ``auto`` routing splits requests between a cheap and a strong model.

Every labelled request (``simple`` or ``complex``) goes through the routing rules
(:func:`bastion.cost.rules.decide`, the thresholds as configured by default or as
given here). Reported:

* the share of requests routed cheap;
* the cost saved against sending every request to the strong model: prompt tokens
  counted exactly (tiktoken, ``o200k_base``), output tokens as labelled in the set
  (an estimate of the answer's length), priced at the built-in prices of the two
  models;
  and, for scale, what a perfect split (every simple request cheap, every complex one
  strong) would save: simple requests are short, so they are a small part of the spend;
* the share of complex requests wrongly sent cheap (the target is at most 5 %), and
  of simple requests sent strong (money left on the table);
* per kind of request, and with ``--show-errors`` every misrouted one;
* the rules' CPU time per request.

Each line of a data file is one request: ``{"id", "label": "simple" | "complex",
"kind", "output_tokens": the answer's expected length, "request": a chat completions
body without "model"}``.

Data (``--data`` names other files), in the order it was written:

* ``bench/data/cost_routing_dev.jsonl``: the development set the rules were written
  against;
* ``bench/data/cost_routing_dev2.jsonl``: written as a hold-out for the first rules
  (which sent 45 % of its complex requests cheap: they were cheap unless a complex
  signal fired), then used to develop the second rules (strong unless a simple cue
  fires), so no longer a hold-out;
* ``bench/data/cost_routing_holdout.jsonl``: written after the second rules were
  frozen (commit "Auto routing rules frozen"), never tuned on.

    python bench/cost_routing.py [--data FILE ...] [--cheap-model gpt-4o-mini]
        [--strong-model gpt-4o] [--max-cheap-prompt-tokens 2000] [--max-cheap-turns 4]
        [--classifier] [--show-errors]

With ``--classifier``, each set is also routed by the rules with the shipped
classifier (:mod:`bastion.cost.classifier`), trained on the two development sets
(``bench/train_cost_router.py``): only its hold-out figures are out of sample.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bastion.core.types import ChatRequest
from bastion.cost.rules import Decision, Rules, decide, instruction
from bastion.pricing import cost_usd, price_for
from bastion.traffic.tokens import count_chat

DATA = Path(__file__).resolve().parent / "data"
TRAINED = ("cost_routing_dev.jsonl", "cost_routing_dev2.jsonl")
DEFAULT_FILES = (DATA / "cost_routing_dev.jsonl", DATA / "cost_routing_dev2.jsonl",
                 DATA / "cost_routing_holdout.jsonl")


@dataclass(slots=True, frozen=True)
class Item:
    id: str
    label: str  # simple | complex
    kind: str
    output_tokens: int
    request: ChatRequest
    prompt_tokens: int


def load(path: Path) -> list[Item]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw: dict[str, Any] = json.loads(line)
        req = msgspec.convert({"model": "auto", **raw["request"]}, ChatRequest)
        out.append(Item(raw["id"], raw["label"], raw["kind"], int(raw["output_tokens"]), req,
                        count_chat(req, "o200k_base")))
    return out


def decision_us(items: list[Item], rules: Rules) -> float:
    """CPU time of the rules per request, best of five passes (what the step adds)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for it in items:
            decide(it.request, rules)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best * 1e6


def classify(items: list[Item], rules: Rules) -> list[Decision]:
    """The rules' decisions, overruled by the shipped classifier where they leave it open."""
    from bastion.cache.semantic.embedder import load_local_model
    from bastion.cost.classifier import shipped_model

    model = shipped_model()
    vectors = load_local_model().embed_batch([instruction(it.request) for it in items])
    return [decide(it.request, rules).classified(model.p_complex(v), model.threshold)
            for it, v in zip(items, vectors, strict=True)]


def report(name: str, items: list[Item], decisions: list[Decision], cheap: str, strong: str,
           show_errors: bool) -> None:
    pc, ps = price_for(cheap), price_for(strong)
    routed = always = oracle = 0.0
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    errors = []
    for it, d in zip(items, decisions, strict=True):
        price = pc if d.choice == "cheap" else ps
        routed += cost_usd(price, it.prompt_tokens, it.output_tokens)
        always += cost_usd(ps, it.prompt_tokens, it.output_tokens)
        oracle += cost_usd(pc if it.label == "simple" else ps, it.prompt_tokens,
                           it.output_tokens)
        kinds[f"{it.label}/{it.kind}"][d.choice] += 1
        reasons[f"{d.choice}:{d.reason}"] += 1
        wrong = (it.label == "complex") == (d.choice == "cheap")
        if wrong:
            errors.append((it, d))
    n = len(items)
    n_complex = sum(1 for it in items if it.label == "complex")
    n_simple = n - n_complex
    cheap_n = sum(1 for d in decisions if d.choice == "cheap")
    complex_cheap = sum(1 for it, d in errors if it.label == "complex")
    simple_strong = len(errors) - complex_cheap
    print(f"== {name}: {n} requests ({n_simple} simple, {n_complex} complex); "
          f"cheap = {cheap}, strong = {strong}")
    print(f"routed cheap:                {cheap_n}/{n} = {cheap_n / n:.1%}")
    print(f"cost saved vs always strong: {1 - routed / always:.1%} "
          f"(${routed:.4f} instead of ${always:.4f}; a perfect split would save "
          f"{1 - oracle / always:.1%})")
    print(f"complex sent cheap:          {complex_cheap}/{n_complex} = "
          f"{complex_cheap / max(1, n_complex):.1%}   (target <= 5 %)")
    print(f"simple sent strong:          {simple_strong}/{n_simple} = "
          f"{simple_strong / max(1, n_simple):.1%}")
    print("per kind (cheap/strong):")
    for kind in sorted(kinds):
        c = kinds[kind]
        print(f"  {kind:34} {c['cheap']:3} / {c['strong']:3}")
    print("reasons:", ", ".join(f"{r} {k}" for r, k in sorted(reasons.items())))
    if show_errors:
        for it, d in errors:
            text = it.request.messages[-1].text().replace("\n", " ")[:110]
            print(f"  WRONG {it.id:10} {it.label:7} -> {d.choice:6} {d.reason:18} "
                  f"{list(d.signals)} {text}")
    print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, nargs="*", default=list(DEFAULT_FILES))
    p.add_argument("--cheap-model", default="gpt-4o-mini")
    p.add_argument("--strong-model", default="gpt-4o")
    p.add_argument("--max-cheap-prompt-tokens", type=int, default=Rules().max_cheap_prompt_tokens)
    p.add_argument("--max-cheap-turns", type=int, default=Rules().max_cheap_turns)
    p.add_argument("--classifier", action="store_true",
                   help="also the rules with the shipped classifier (needs the semantic extra)")
    p.add_argument("--show-errors", action="store_true")
    a = p.parse_args()
    rules = Rules(a.max_cheap_prompt_tokens, a.max_cheap_turns)
    for path in a.data:
        if not path.is_file():
            print(f"(no {path.name}: skipped)")
            continue
        items = load(path)
        report(f"{path.name}, rules", items, [decide(it.request, rules) for it in items],
               a.cheap_model, a.strong_model, a.show_errors)
        print(f"rules: {decision_us(items, rules):.0f} µs per decision (best of 5 passes)\n")
        if a.classifier:
            seen = " (the classifier was trained on this set)" if path.name in TRAINED else ""
            report(f"{path.name}, rules + classifier{seen}", items, classify(items, rules),
                   a.cheap_model, a.strong_model, a.show_errors)


if __name__ == "__main__":
    main()

"""Train the semantic cache's pair classifier and write ``verifier_model.json``.

Training data: the *train half* of the public ``pairs.jsonl`` (``fow-cache``,
CC BY 4.0, © 2026 Mabon ap Gwyn; each category sorted by id, even positions) and
the pairs written for this project in ``bench/data/verifier_pairs.jsonl``. The
test half and ``bench/data/verifier_holdout.jsonl`` are never read here.

To these come *neighbour* pairs: each question of those pairs with its nearest
questions of other pairs (cosine ≥ 0.5), which never share an answer; they are
what a cache meets most (different questions on the same topic).

Only pairs that pass the structural checks and still differ in content words
reach the classifier, so only those train it: a logistic regression over
:data:`bastion.cache.semantic.verifier.FEATURES` (standardised, L2, full-batch
gradient descent from zero: deterministic). Its word-alignment features read the
local model's word vectors (:mod:`bastion.cache.semantic.words`), projected on
their first principal directions, which are computed here from the training
questions' words and written beside the model (``word_projection.bin``).

The calibration table records, for each threshold, the share of trap pairs, of
should-hit pairs and of neighbour pairs the whole verifier accepts, with each
classifier score taken from a model that did not see that pair (5-fold
cross-validation over the training pairs, folds fixed): held-out figures, not
fitted ones. ``max_wrong_rate`` picks the lowest threshold at which both the
trap share and the neighbour share stay within it.

    make train-verifier            # or:
    python bench/train_cache_verifier.py [--data DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cache_eval_data import DEFAULT_DATA, OWN_PAIRS, is_trap, pairs, read_jsonl

from bastion.cache.semantic.onnx_minilm import OnnxMiniLM, Tokens
from bastion.cache.semantic.structure import compare
from bastion.cache.semantic.text import analyse
from bastion.cache.semantic.verifier import FEATURES, MODEL_FILE, features
from bastion.cache.semantic.words import DIMS, PROJECTION_FILE, is_content, pool, unpack

HERE = Path(__file__).resolve().parents[1] / "src/bastion/cache/semantic"
OUT = HERE / MODEL_FILE
L2 = 0.05
STEPS = 4000
RATE = 0.2
TRAP_WEIGHT = 3.0  # a wrong answer costs more than a missed hit
NEIGHBOURS = 3
NEIGHBOUR_WEIGHT = 0.5  # many, and easier than the written traps
FLOOR = 0.5  # the default `threshold`: nothing below it is ever proposed
FOLDS = 5


def embed_all(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Tokens]]:
    """Each question's embedding and token states (the ONNX model, as served)."""
    import numpy as np

    model = OnnxMiniLM()
    texts = sorted({r["a"] for r in rows} | {r["b"] for r in rows})
    vecs: dict[str, Any] = {}
    states: dict[str, Tokens] = {}
    for i in range(0, len(texts), 32):
        chunk = texts[i:i + 32]
        out, tokens = model.states_batch(chunk)
        for t, v, tok in zip(chunk, out, tokens, strict=True):
            vecs[t] = np.asarray(v, dtype=np.float32)
            states[t] = tok
    return vecs, states


def projection(states: dict[str, Tokens]) -> tuple[Any, Any]:
    """The mean and first :data:`DIMS` principal directions of the content words'
    vectors (signs fixed: each axis's largest entry positive)."""
    import numpy as np

    rows = [st[a:b].mean(axis=0) for _, (words, spans, st) in sorted(states.items())
            for w, (a, b) in zip(words, spans, strict=True) if b > a and is_content(w)]
    m = np.asarray(rows, dtype=np.float64)
    mean = m.mean(axis=0)
    _, _, vt = np.linalg.svd(m - mean, full_matrices=False)
    axes = vt[:DIMS]
    axes *= np.sign(axes[np.arange(DIMS), np.abs(axes).argmax(axis=1)])[:, None]
    return mean.astype(np.float32), np.ascontiguousarray(axes.T.astype(np.float32))


def neighbours(rows: list[dict[str, Any]], vecs: dict[str, Any]) -> list[dict[str, Any]]:
    """Different questions that sit near each other: what a cache meets most often.

    For each question, its :data:`NEIGHBOURS` nearest questions of *other* pairs with
    a cosine of at least :data:`FLOOR` become trap pairs (``category: neighbour``).
    """
    import numpy as np

    owner: dict[str, int] = {}
    for i, r in enumerate(rows):
        owner.setdefault(r["a"], i)
        owner.setdefault(r["b"], i)
    texts = sorted(owner)
    m = np.stack([vecs[t] for t in texts])
    sims = m @ m.T
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for i, t in enumerate(texts):
        for j in np.argsort(-sims[i])[:NEIGHBOURS + 2]:
            u = texts[int(j)]
            if owner[u] == owner[t] or sims[i, j] < FLOOR or (u, t) in seen:
                continue
            seen.add((t, u))
            out.append({"category": "neighbour", "a": t, "b": u, "same_answer": False})
    return out


def fit(x: Any, y: Any, w_row: Any) -> tuple[Any, float, Any, Any]:
    import numpy as np

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    w = np.zeros(z.shape[1])
    b = 0.0
    norm = w_row.sum()
    for _ in range(STEPS):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = (p - y) * w_row
        w -= RATE * (z.T @ g / norm + L2 * w)
        b -= RATE * float(g.sum() / norm)
    return w, b, mean, scale


def predict(model: tuple[Any, float, Any, Any], x: Any) -> Any:
    import numpy as np

    w, b, mean, scale = model
    return 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ w + b)))


def held_out(x: Any, y: Any, weights: Any) -> Any:
    """Each row's score from a model fitted without its fold (fixed folds)."""
    import numpy as np

    out = np.zeros(len(y))
    for f in range(FOLDS):
        test = np.arange(f, len(y), FOLDS)
        train = np.setdiff1d(np.arange(len(y)), test)
        out[test] = predict(fit(x[train], y[train], weights[train]), x[test])
    return out


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not (args.data / "pairs.jsonl").exists():
        print(f"no pairs.jsonl under {args.data} (use --data)", file=sys.stderr)
        return 2
    train, _ = pairs(args.data)
    curated = train + read_jsonl(OWN_PAIRS)
    vecs, states = embed_all(curated)
    # As shipped (float16), so training reads the words exactly as the cache will.
    mean, axes = (a.astype(np.float16).astype(np.float32) for a in projection(states))
    table = (mean, axes)
    words = {t: pool(*tok, table=table) for t, tok in states.items()}
    rows = curated + neighbours(curated, vecs)
    verdicts: list[tuple[str, list[float] | None]] = []
    for r in rows:
        view = compare(analyse(r["a"]), analyse(r["b"]))
        wa, wb = unpack(words[r["a"]]), unpack(words[r["b"]])
        if view.vetoes:
            verdicts.append(("veto", None))
        elif not view.unmatched_a and not view.unmatched_b:
            verdicts.append(("same", None))
        elif wa is None or wb is None:
            verdicts.append(("veto", None))  # no content words to weigh: refused
        else:
            verdicts.append(("cls", features(view, float(vecs[r["a"]] @ vecs[r["b"]]), wa, wb)))
    idx = [i for i, (k, _) in enumerate(verdicts) if k == "cls"]
    # Rows in a fixed order that mixes the kinds, so every fold holds some of each.
    idx.sort(key=lambda i: (rows[i]["a"], rows[i]["b"]))
    x = np.array([verdicts[i][1] for i in idx], dtype=np.float64)
    y = np.array([0.0 if is_trap(rows[i]) else 1.0 for i in idx])
    neighbour = np.array([rows[i]["category"] == "neighbour" for i in idx])
    weights = np.where(y == 0.0, np.where(neighbour, NEIGHBOUR_WEIGHT, TRAP_WEIGHT), 1.0)
    w, b, xmean, scale = fit(x, y, weights)
    probs = held_out(x, y, weights)
    score = [1.0 if k == "same" else 0.0 for k, _ in verdicts]
    for i, p in zip(idx, probs, strict=True):
        score[i] = float(p)
    traps = [s for r, s in zip(rows, score, strict=True) if is_trap(r)
             and r["category"] != "neighbour"]
    near = [s for r, s in zip(rows, score, strict=True) if r["category"] == "neighbour"]
    hits = [s for r, s in zip(rows, score, strict=True) if not is_trap(r)]
    calibration = []
    for t in [round(0.05 + 0.01 * k, 2) for k in range(95)] + [1.0]:
        calibration.append([t, round(sum(s >= t for s in traps) / len(traps), 4),
                            round(sum(s >= t for s in hits) / len(hits), 4),
                            round(sum(s >= t for s in near) / max(1, len(near)), 4)])
    model = {
        "features": list(FEATURES),
        "weights": [round(float(v), 6) for v in w],
        "bias": round(b, 6),
        "mean": [round(float(v), 6) for v in xmean],
        "scale": [round(float(v), 6) for v in scale],
        "calibration": calibration,
        "trained_on": {"public_train_half": len(train), "own_pairs": len(curated) - len(train),
                       "neighbour_pairs": len(rows) - len(curated), "classifier_rows": len(idx)},
    }
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    stacked = np.vstack([mean[None, :], axes.T]).astype("<f2")
    (args.out.parent / PROJECTION_FILE).write_bytes(stacked.tobytes())
    print(f"{len(rows)} pairs ({len(idx)} reached the classifier) → {args.out}")
    for t, trap, hit, nb in calibration[::5]:
        print(f"  threshold {t:.2f}: traps accepted {trap:.1%}, should-hit accepted {hit:.1%},"
              f" neighbours accepted {nb:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

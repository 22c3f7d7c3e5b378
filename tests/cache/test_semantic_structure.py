"""The verifier's structural checks and text reading, on pairs of each kind."""

from __future__ import annotations

import pytest

from bastion.cache.semantic.structure import compare, typo_of
from bastion.cache.semantic.text import analyse, stem
from bastion.cache.semantic.verifier import Verifier, shipped_model

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


def test_other_words_go_to_the_classifier_which_weighs_the_cosine() -> None:
    v = Verifier()
    low = v.score("What vaccines does my puppy need?", "What vaccines does my kitten need?", 0.8)
    assert low.reason == "classifier"
    assert low.score < v.threshold_for(0.01)
    near = v.score("Where do I find my invoices?", "Where can I see my invoices?", 0.95)
    far = v.score("Where do I find my invoices?", "Where can I see my invoices?", 0.5)
    assert near.score > far.score


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

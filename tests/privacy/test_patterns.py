"""The pattern recognisers: each entity found with its checksum or context, and the
look-alikes that fail the checksum or lack the context left alone."""

from __future__ import annotations

import itertools

import pytest

from bastion.privacy.analyzer import Detector
from bastion.privacy.entities import PATTERN_ENTITIES

DETECT = Detector(frozenset(PATTERN_ENTITIES))


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity, f.value) for f in DETECT.analyze(text)]


@pytest.mark.parametrize(("text", "entity", "value"), [
    ("write to jane.roe+work@mail.example.co.uk today", "EMAIL",
     "jane.roe+work@mail.example.co.uk"),
    ("call +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
    ("phone: (415) 555-0132", "PHONE", "(415) 555-0132"),
    ("Fax: 259.735.7502x459", "PHONE", "259.735.7502x459"),
    ("my mobile is 0688 872 49 99", "PHONE", "0688 872 49 99"),
    ("card 4242 4242 4242 4242 expires", "CREDIT_CARD", "4242 4242 4242 4242"),
    ("amex 378282246310005 please", "CREDIT_CARD", "378282246310005"),
    ("IBAN DE89 3704 0044 0532 0130 00 for rent", "IBAN", "DE89 3704 0044 0532 0130 00"),
    ("iban gb82west12345698765432", "IBAN", "gb82west12345698765432"),
    ("SSN 536-22-1234 on file", "US_SSN", "536-22-1234"),
    ("blocked from 81.2.69.160 again", "IP_ADDRESS", "81.2.69.160"),
    ("host 2001:db8:85a3::8a2e:370:7334 down", "IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
    ("I was born on 12/03/1985 in", "DATE_OF_BIRTH", "12/03/1985"),
    ("date of birth: March 3, 1985.", "DATE_OF_BIRTH", "March 3, 1985"),
    ("MRN: A1234567 admitted", "MEDICAL_RECORD_NUMBER", "A1234567"),
    ("ship to 1600 Amphitheatre Parkway, Mountain View, CA 94043.", "STREET_ADDRESS",
     "1600 Amphitheatre Parkway, Mountain View, CA 94043"),
    ("office at Hauptstraße 5, Berlin", "STREET_ADDRESS", "Hauptstraße 5, Berlin"),
    ("at 29 Rue de Tanger in", "STREET_ADDRESS", "29 Rue de Tanger"),
    ("key sk-ant-api03-" + "Xk9vQ2mLr7TbW4yZ8pNcJ5hF3dS6gA1eRuIoPlKjHgFdSaQw" + " leaked", "SECRET",
     "sk-ant-api03-Xk9vQ2mLr7TbW4yZ8pNcJ5hF3dS6gA1eRuIoPlKjHgFdSaQw"),
])
def test_each_entity_is_found(text: str, entity: str, value: str) -> None:
    assert (entity, value) in found(text)


@pytest.mark.parametrize("text", [
    "card 4242 4242 4242 4241 expires",          # Luhn fails
    "IBAN DE89 3704 0044 0532 0130 01",          # mod-97 fails
    "SSN 000-12-3456 and 666-12-3456 and 912-34-5678",  # never-issued areas
    "version 1.2.3.4 and 300.1.1.1",             # not an address / octet too big
    "order 123 456 789 shipped",                 # a number after "order" is no phone
    "the year 2024 had 365 days and 12 months",  # small numbers
    "born to run, 4 out of 5",                   # no date after "born"
    "Wall Street is busy",                       # a street word with no number
    "What are the symptoms of diabetes?",        # a health term about no one
    "meet at 12/03/1985",                        # a date without a birth context
])
def test_look_alikes_are_left_alone(text: str) -> None:
    assert found(text) == []


def test_health_terms_count_only_when_tied_to_an_identified_person() -> None:
    assert ("HEALTH", "diabetes") in found(
        "Call my father on +44 20 7946 0958, he was diagnosed with diabetes.")
    assert ("HEALTH", "insulin") in found("Patient jane@example.org takes insulin daily")
    assert found("How is insulin made?") == []
    assert found("Can I take ibuprofen with coffee? My father has diabetes.") == []


def test_findings_do_not_overlap_and_the_specific_one_wins() -> None:
    text = "Card 4111111111111111, mail a@b.io, 1987 74 Diakou Street, 415-555-0100"
    kinds = [e for e, _ in found(text)]
    assert kinds == ["CREDIT_CARD", "EMAIL", "STREET_ADDRESS", "PHONE"]
    spans = DETECT.analyze(text)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start


def test_offsets_point_at_the_values_in_mixed_scripts() -> None:
    text = "Ωμέγα 東京 ✓ mail: ünïcode.user@exämple.de tel +33 1 42 68 53 00 — fin"
    for f in DETECT.analyze(text):
        assert text[f.start:f.end] == f.value
    assert {e for e, _ in found(text)} == {"EMAIL", "PHONE"}


def test_thousands_of_candidate_numbers_are_judged_by_shape_after_a_budget() -> None:
    # 5,000 phone-shaped numbers: libphonenumber is asked a bounded number of times,
    # and every one is still judged.
    text = " ".join(f"+1 415 555 {i:04d}" for i in range(5000))
    got = DETECT.analyze(text)
    assert len(got) == 5000
    assert all(f.entity == "PHONE" for f in got)

"""Deterministic fact checks: numbers (digits, words, scales, Chinese), dates, named entities, negation."""

from __future__ import annotations

import pytest

from app.verify.consistency import (
    check_facts,
    negation_count,
    negation_mismatch,
    numerals_to_digits,
    quantities,
    strip_citations,
    unsupported_facts,
)


class TestNumbers:
    @pytest.mark.parametrize(
        ("claim", "evidence"),
        [
            ("Employees get 25 days of leave.", "Staff are entitled to 25 days of paid leave."),
            ("Employees get twenty-five days of leave.", "Staff are entitled to 25 days of paid leave."),
            ("Revenue was 1.3 million dollars.", "Revenue reached $1,283,000 in 2020."),
            ("The fee is 5k.", "The fee is 5,000 euros."),
            ("She was born in the early 1940s.", "Ada Brennan (born 18 May 1941) is an actress."),
            ("Turnout was 45%.", "Turnout reached 45 percent."),
            ("今年适逢两市结好六十五周年。", "今年适逢两市结好65周年。"),
            ("投资为500亿元。", "计划投资500亿元人民币。"),
            ("Use the form [2].", "Use the form."),  # a citation marker is not a number
        ],
    )
    def test_same_number_written_another_way_is_supported(self, claim: str, evidence: str) -> None:
        assert unsupported_facts(claim, evidence) == []

    @pytest.mark.parametrize(
        ("claim", "evidence", "missing"),
        [
            ("The refund window is 60 days.", "Refunds are accepted within 30 days.", 'number "60"'),
            ("It was founded in 1943.", "It was founded in 1934.", 'number "1943"'),
            ("Revenue was 2.5 million.", "Revenue reached $1,283,000.", 'number "2.5 million"'),
            ("今年适逢两市结好70周年。", "今年适逢两市结好65周年。", 'number "70"'),
        ],
    )
    def test_missing_number_is_named(self, claim: str, evidence: str, missing: str) -> None:
        assert missing in unsupported_facts(claim, evidence)

    def test_words_that_only_look_like_numbers_are_not_numbers(self) -> None:
        assert [q.value for q in quantities("统一，四川，一些人，one of them") if not q.weak] == []
        assert numerals_to_digits("two people, 六十五周年") == "2 people, 65周年"


class TestDatesAndEntities:
    def test_wrong_month_is_a_date(self) -> None:
        missing = unsupported_facts("She was born on April 2, 1991.", "Lena Ortiz (born March 2, 1991) is a musician.")
        assert missing == ['date "April"']

    def test_iso_date_supports_month_name(self) -> None:
        assert unsupported_facts("It was published in May 2001.", "published 2001-05-03") == []

    def test_missing_entity_is_named(self) -> None:
        assert unsupported_facts("The office opened in 1998 in Porto.", "The office in Lisbon opened in 1998.") == [
            'entity "Porto"'
        ]

    @pytest.mark.parametrize(
        ("claim", "evidence"),
        [
            ("Jörg Nyström sang it.", "the singer Jorg Nystrom"),  # diacritics
            ("Clara's sister played Nora Vale.", "Ivy Lund played Nora Vale, Clara's sister"),
            ("However, the U.S. Army agreed.", "The United States Army agreed."),  # acronym, opening word
            ("The Americans won.", "The American team won."),  # plural
            ("Employees get 25 days.", "Staff get 25 days."),  # a capitalised opening word is not a name
        ],
    )
    def test_entity_variants_are_supported(self, claim: str, evidence: str) -> None:
        assert unsupported_facts(claim, evidence) == []

    def test_chinese_place_missing(self) -> None:
        assert unsupported_facts("王建华在北京举行会谈。", "王建华在杭州举行会谈。") == ['entity "北京"']

    def test_verbatim_quote_has_no_missing_fact(self) -> None:
        evidence = "On 3 March 2021, Acme Corp. opened 12 stores in Paris and Lyon, hiring 340 staff."
        assert unsupported_facts(evidence, evidence) == []
        check = check_facts(evidence, evidence)
        assert check.numbers >= 3 and check.entities >= 3 and not check.hard_fail

    def test_counts(self) -> None:
        check = check_facts("In 1999 Bob moved to Rome.", "Bob moved to Rome in 2001.")
        assert (check.numbers, check.numbers_missing, check.entities_missing) == (1, 1, 0)
        assert check.hard_fail and [str(f) for f in check.missing] == ['number "1999"']


class TestNegationAndHelpers:
    def test_negation_counts(self) -> None:
        assert negation_count("He did not go and won't come") == 2
        assert negation_count("他没有去。") == 1
        assert negation_count("未来非常好，不断努力") == 0  # future, very, continuously: no negation

    def test_mismatch(self) -> None:
        assert negation_mismatch("The store is not open on Sundays.", "The store is open on Sundays.")
        assert not negation_mismatch("The store never opens on Sundays.", "The store is not open on Sundays.")

    def test_strip_citations(self) -> None:
        assert strip_citations("- Leave is 25 days [1][2, 3].") == "Leave is 25 days."

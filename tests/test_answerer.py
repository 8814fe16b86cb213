"""The offline answerer: quotes the answering lines with their page, or says it cannot."""

from __future__ import annotations

import pytest

from bot.core.messages import Answer, Clarification
from bot.offline.answerer import OfflineAnswerer
from helpers import SAMPLE_NAME
from knowledge.service import KnowledgeBase


def answer(kb: KnowledgeBase, question: str) -> Answer:
    reply = OfflineAnswerer(kb).answer(question)
    assert isinstance(reply, Answer), reply
    return reply


@pytest.mark.parametrize(
    ("question", "row", "page"),
    [
        ("Was bedeutet Fehler E013?", "E013 Fehlerstrom zu hoch (GFCI)", 8),
        ("display zeigt e-21", "E021 Übertemperatur", 8),
        ("W08 was tun", "W08 Lüfter verschmutzt (Warnung)", 8),
        ("Passwort für erweiterte Einstellungen?", "Passwort für erweiterte Einstellungen: 0815", 7),
    ],
)
def test_the_answering_line_is_quoted_with_its_page(
    sample_kb: KnowledgeBase, question: str, row: str, page: int
) -> None:
    reply = answer(sample_kb, question)
    assert reply.kind == "answer"
    assert row in reply.text
    assert reply.citations[0].file == SAMPLE_NAME and reply.citations[0].page == page
    assert f"S. {page}]" in reply.text
    assert reply.ask_feedback


def test_short_enough_for_a_phone(sample_kb: KnowledgeBase) -> None:
    reply = answer(sample_kb, "Was bedeutet Fehler E013?")
    assert len(reply.text) < 1500
    assert reply.text.count("\n> ") <= 8


def test_a_brand_without_manual_is_named_in_the_refusal(sample_kb: KnowledgeBase) -> None:
    reply = answer(sample_kb, "Fronius Symo Statuscode 1173 was tun")
    assert reply.kind == "not_found"
    assert "Fronius" in reply.text
    assert reply.citations == ()


def test_off_topic_questions_are_not_answered_from_the_manual(sample_kb: KnowledgeBase) -> None:
    reply = answer(sample_kb, "Wie hoch ist der Eiffelturm?")
    assert reply.kind == "not_found"
    assert reply.citations == ()


def test_a_product_filter_that_matches_nothing_is_not_found(sample_kb: KnowledgeBase) -> None:
    reply = OfflineAnswerer(sample_kb).answer("E013", product="Growatt")
    assert isinstance(reply, Answer) and reply.kind == "not_found"


def test_one_code_in_two_makers_manuals_asks_which_device(device_kb: KnowledgeBase) -> None:
    kb = device_kb
    reply = OfflineAnswerer(kb).answer("was bedeutet fehler E013")
    assert isinstance(reply, Clarification)
    assert reply.question == "Welches Gerät meinen Sie?"
    assert any("SolarFux" in option for option in reply.options)
    assert any("Voltronic" in option for option in reply.options)
    # The chosen option narrows the search to that maker's manual.
    chosen = next(option for option in reply.options if "Voltronic" in option)
    resumed = OfflineAnswerer(kb).answer("was bedeutet fehler E013", product=chosen)
    assert isinstance(resumed, Answer) and resumed.kind == "answer"
    assert "Batteriespannung zu niedrig" in resumed.text
    assert resumed.citations[0].file == "Voltronic_Axpert_Kurzanleitung.md"
    # Naming the maker in the question answers directly.
    direct = OfflineAnswerer(kb).answer("SolarFux E013?")
    assert isinstance(direct, Answer) and "Fehlerstrom zu hoch" in direct.text


def test_an_error_code_answer_quotes_its_row_without_the_neighbouring_codes(sample_kb: KnowledgeBase) -> None:
    reply = answer(sample_kb, "Was bedeutet Fehler E013?")
    quoted = [line for line in reply.text.splitlines() if line.startswith("> ")]
    assert any("E013" in line for line in quoted)
    assert not any(code in reply.text for code in ("E010", "E021", "E027"))
    # The page listing the code answers it: no second quoted page without the code.
    assert sum(line.startswith("[") for line in reply.text.splitlines()) == 1

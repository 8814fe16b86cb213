"""Teams entities as botbuilder serializes them: citation markers and claims, the AI label, streaminfo."""

from __future__ import annotations

from botbuilder.schema import Activity

from adapters.teams.entities import message_entity, stream_info, with_markers
from adapters.teams.render import answer_activity
from bot.core.messages import Answer, Citation

TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"
E013 = Citation("sf.pdf", TITLE, 8, "E013 Fehlerstrom zu hoch " * 20)
P9 = Citation("sf.pdf", TITLE, 9)


def test_labels_of_cited_pages_become_numbers_and_others_stay() -> None:
    text = f"Erst [{TITLE}, S. 9], dann [{TITLE.upper()},  S. 8] und [{TITLE}, S. 9]; [Fremd, S. 3]."
    marked, used = with_markers(text, (P9, E013, P9))
    assert marked == "Erst [1], dann [2] und [1]; [Fremd, S. 3]." and used == [1, 2]


def test_an_answer_serializes_with_one_message_entity_and_its_claims() -> None:
    answer = Answer(f"E013: Fehlerstrom [{TITLE}, S. 8].", (E013, P9), ai_generated=True)
    body = answer_activity(answer, entities=True).serialize()
    assert body["text"].startswith("E013: Fehlerstrom [1].")
    assert f"- [2] {TITLE}, S. 9 (`sf.pdf`)" in body["text"]  # listed, but not marked in the text
    [entity] = body["entities"]
    assert entity["type"] == "https://schema.org/Message" and entity["@id"] == ""
    assert entity["additionalType"] == ["AIGeneratedContent"]
    [claim] = entity["citation"]  # only the marked source is a claim
    appearance = claim["appearance"]
    assert claim["position"] == 1 and appearance["name"] == f"{TITLE}, S. 8"
    assert len(appearance["abstract"]) == 160 and appearance["abstract"].endswith("…")


def test_a_long_title_is_cut_and_the_page_kept_and_a_quote_without_source_has_no_entity() -> None:
    long = Citation("x.pdf", "Handbuch " * 20, 12)
    answer = Answer(f"Siehe [{long.title.strip()}, S. 12].", (long,))
    [entity] = answer_activity(answer, entities=True).serialize()["entities"]
    name = entity["citation"][0]["appearance"]["name"]
    assert len(name) <= 80 and name.endswith("…, S. 12") and "additionalType" not in entity
    assert message_entity(Answer("Keine Quelle."), []) is None
    assert not answer_activity(Answer("Keine Quelle."), entities=True).serialize().get("entities")


def test_streaminfo_names_the_stream_and_numbers_only_updates() -> None:
    first = Activity(type="typing", text="…", entities=[stream_info("informative", None, 1)]).serialize()
    final = Activity(type="message", text="x", entities=[stream_info("final", "a-1", None)]).serialize()
    assert first["entities"] == [{"type": "streaminfo", "streamType": "informative", "streamSequence": 1}]
    assert final["entities"] == [{"type": "streaminfo", "streamType": "final", "streamId": "a-1"}]

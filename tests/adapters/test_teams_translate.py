"""Recorded Teams activity JSON → ``IncomingMessage``, through botbuilder's own ``Activity``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botbuilder.schema import Activity
from teams_fake import FIXTURES

from adapters.teams.translate import (
    AudioRef,
    added_the_bot,
    as_command,
    audio_attachment,
    chat_key,
    inline_images,
    iso_seconds,
    shared_files,
    split_conversation,
    to_incoming,
)
from storage.store import ChatKey

BOT = "28:00000000-0000-0000-0000-00000000b07"


def load(name: str, **changes: Any) -> Activity:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(changes)
    return Activity().deserialize(data)


def test_personal_message() -> None:
    message = to_incoming(load("personal_message"))
    assert message is not None
    assert message.platform == "teams"
    assert message.chat_id == "a:1Xq9w8Bf7Wk3hOz2Lr5nV0cYpT4uMsEiJd6gKaHbRlFxNyQe"
    assert message.user_id == "6f1c2a4e-3b7d-4c2a-9e51-0a1b2c3d4e5f"  # the AAD object id, for NIK_ADMINS
    assert message.user_name == "Anna Becker"
    assert message.message_id == "1741079565123"
    assert message.text == "Was bedeutet E013?"
    assert (message.is_group, message.mentions_bot, message.thread_id, message.callback_data) == (
        False,
        False,
        None,
        None,
    )


def test_group_chat_mention_is_removed_and_reported() -> None:
    message = to_incoming(load("group_mention"))
    assert message is not None
    assert message.is_group and message.mentions_bot
    assert message.text == "Wie groß muss der Leitungsquerschnitt beim SF-5000TL sein?"
    assert message.thread_id is None


def test_channel_thread_is_its_own_conversation_and_only_the_mention_goes() -> None:
    activity = load("channel_thread")
    message = to_incoming(activity)
    assert message is not None
    assert message.chat_id == "19:f00dfeed0c1f4b2a9d3e8b7a6c5d4e3f@thread.tacv2"
    assert message.thread_id == "1741080000000" and message.reply_to_message_id == "1741080000000"
    assert message.text == "Und was heißt E014 beim Nikolaus-Projekt?"  # "Nik" stays inside "Nikolaus"
    assert chat_key(activity) == ChatKey("teams", message.chat_id, "1741080000000")


def test_another_persons_mention_keeps_the_name_and_does_not_count() -> None:
    other = {"mentioned": {"id": "29:someone", "name": "Carla"}, "text": "<at>Carla</at>", "type": "mention"}
    activity = load("group_mention", text="<at>Carla</at> weißt du das?", entities=[other])
    message = to_incoming(activity)
    assert message is not None
    assert not message.mentions_bot
    assert message.text == "Carla weißt du das?"


def test_card_submit_carries_the_button_data() -> None:
    message = to_incoming(load("card_submit"))
    assert message is not None
    assert message.callback_data == "opt:1"
    assert message.text == "" and message.is_group and not message.mentions_bot


def test_image_attachment_skips_the_html_stub() -> None:
    activity = load("image_attachment")
    [image] = inline_images(activity)
    assert image.url == "{fake}/attachments/display.png" and image.mime == "image/*"
    assert shared_files(activity) == []
    assert to_incoming(activity) is not None


def test_sharepoint_file_is_reported_not_downloaded() -> None:
    activity = load("file_share")
    assert inline_images(activity) == []
    assert shared_files(activity) == ["Schaltplan.pdf"]


def test_install_is_noticed_and_is_no_message() -> None:
    activity = load("conversation_update_install")
    assert added_the_bot(activity)
    assert to_incoming(activity) is None
    someone_else = load("conversation_update_install", membersAdded=[{"id": "29:new-colleague"}])
    assert not added_the_bot(someone_else)


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("reindex", "/reindex"),
        ("Status", "/status"),
        ("help", "/help"),
        ("search E013", "/search E013"),
        ("page SolarFux 8", "/page SolarFux 8"),
        ("/docs", "/docs"),
        ("Status der LED blinkt rot", "Status der LED blinkt rot"),  # a question, not a command
        ("search", "search"),
        ("support Display bleibt dunkel", "/support Display bleibt dunkel"),
        ("support", "/support"),
        ("done", "/done"),
        ("nik Was bedeutet E013?", "/nik Was bedeutet E013?"),
        ("nik", "nik"),
    ],
)
def test_commands_without_a_slash(typed: str, command: str) -> None:
    assert as_command(typed) == command
    message = to_incoming(load("personal_message", text=typed))
    assert message is not None and message.text == command


def test_conversation_ids_split_into_chat_and_thread() -> None:
    assert split_conversation("19:x@thread.tacv2;messageid=42") == ("19:x@thread.tacv2", "42")
    assert split_conversation("a:personal") == ("a:personal", None)


def test_non_messages_are_not_translated() -> None:
    assert to_incoming(load("personal_message", type="messageReaction")) is None
    assert load("personal_message").recipient.id == BOT


def test_voice_messages_and_audio_files_are_found_with_their_duration() -> None:
    card = {
        "contentType": "application/vnd.microsoft.card.audio",
        "content": {
            "duration": "PT1M5S",
            "media": [{"url": "https://eu-api.asm.skype.com/v1/objects/0-x/views/audio"}],
        },
    }
    as_text = {**card, "content": json.dumps(card["content"])}  # Teams may send the card as a JSON string
    plain = {"contentType": "audio/mpeg", "contentUrl": "https://smba.trafficmanager.net/a.mp3", "name": "a.mp3"}
    stub = {
        "contentType": "text/html",
        "content": '<div><span itemtype="http://schema.skype.com/InputExtension"></span></div>',
    }
    found = [audio_attachment(load("personal_message", attachments=[a])) for a in (card, as_text, plain, stub)]
    assert found == [
        AudioRef("https://eu-api.asm.skype.com/v1/objects/0-x/views/audio", None, 65.0, None),
        AudioRef("https://eu-api.asm.skype.com/v1/objects/0-x/views/audio", None, 65.0, None),
        AudioRef("https://smba.trafficmanager.net/a.mp3", "audio/mpeg", None, "a.mp3"),
        None,  # a channel voice note carries no audio for bots: the text (if any) is answered
    ]
    assert [iso_seconds(v) for v in ("PT13S", "PT1H2M3.5S", "P", "13", None)] == [13.0, 3723.5, None, None, None]

"""``to_incoming`` with real python-telegram-bot objects built offline from update JSON."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update
from telegram_fake import BOT_NAME, BOT_USER, FakeTelegram

from adapters.telegram.translate import audio_file, chat_key_of, image_files, to_incoming
from bot.core.messages import IncomingMessage
from storage.store import ChatKey

GROUP = -100200


def incoming(update: dict[str, Any]) -> IncomingMessage | None:
    return to_incoming(Update.de_json(update, None), BOT_NAME)


def test_private_text() -> None:
    api = FakeTelegram()
    found = incoming(api.message(7, text="  Was bedeutet E013? ", user_id=42))
    assert found is not None
    assert (found.platform, found.chat_id, found.user_id, found.user_name) == ("telegram", "7", "42", "User42")
    assert found.reply_to_message_id is None
    assert (found.text, found.message_id, found.is_group, found.mentions_bot, found.thread_id) == (
        "Was bedeutet E013?",
        "1",
        False,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("text", "stripped", "mentioned"),
    [
        ("Was bedeutet E013?", "Was bedeutet E013?", False),
        (f"@{BOT_NAME} was bedeutet E013?", "was bedeutet E013?", True),
        (f"was bedeutet E013, @{BOT_NAME.lower()}?", "was bedeutet E013, ?", True),
        (f"Frage an @{BOT_NAME}: E013", "Frage an : E013", True),
        (f"@{BOT_NAME}x hallo", f"@{BOT_NAME}x hallo", False),  # another user's name
        (f"/help@{BOT_NAME}", "/help", True),
        (f"/search@{BOT_NAME} E013", "/search E013", True),
    ],
)
def test_group_mentions_are_reported_and_removed(text: str, stripped: str, mentioned: bool) -> None:
    api = FakeTelegram()
    found = incoming(api.message(GROUP, text=text, kind="supergroup"))
    assert found is not None and found.is_group
    assert (found.text, found.mentions_bot) == (stripped, mentioned)


def test_a_command_for_another_bot_is_not_for_nik() -> None:
    api = FakeTelegram()
    assert incoming(api.message(GROUP, text="/help@OtherBot", kind="group")) is None


def test_reply_to_the_bot_but_not_the_forum_topic_root() -> None:
    api = FakeTelegram()
    mine = {
        "message_id": 5,
        "date": 0,
        "chat": api.chat(GROUP, "supergroup", forum=True),
        "from": BOT_USER,
        "text": "?",
    }
    found = incoming(api.message(GROUP, text="SF-5000TL", reply_to=mine, thread=9))
    assert found is not None and found.reply_to_bot and found.thread_id == "9"
    assert found.reply_to_message_id == "5"  # the support desk finds a case by it
    root = {**mine, "message_id": 9}  # in a topic every message replies to the topic's first message
    found = incoming(api.message(GROUP, text="Frage", reply_to=root, thread=9))
    assert found is not None and not found.reply_to_bot
    someone = {**mine, "from": {"id": 5, "is_bot": False, "first_name": "Ben"}}
    found = incoming(api.message(GROUP, text="Frage", reply_to=someone, thread=9))
    assert found is not None and not found.reply_to_bot


def test_forum_topic_is_part_of_the_chat_key() -> None:
    api = FakeTelegram()
    update = Update.de_json(api.message(GROUP, text="hallo", thread=9), None)
    assert chat_key_of(update) == (ChatKey("telegram", str(GROUP), "9"), str(update.message.message_id))
    plain = Update.de_json(api.message(GROUP - 1, text="hallo", kind="group"), None)
    assert chat_key_of(plain) == (ChatKey("telegram", str(GROUP - 1), None), str(plain.message.message_id))


def test_photo_caption_is_the_text_and_the_largest_size_is_taken() -> None:
    api = FakeTelegram()
    update = api.photo(7, b"jpeg", caption="Was zeigt das Display?")
    found = incoming(update)
    assert found is not None and found.text == "Was zeigt das Display?" and found.images == ()
    [file] = image_files(Update.de_json(update, None).message)
    assert (file.file_id, file.mime, file.size) == ("photo-1", "image/jpeg", 4)


def test_an_image_sent_as_a_file_is_an_image_other_files_are_not() -> None:
    api = FakeTelegram()
    png = {"file_id": "doc-1", "file_unique_id": "d1", "mime_type": "image/png", "file_size": 9}
    update = Update.de_json(api.message(7, document=png, caption="Typenschild"), None)
    assert [f.file_id for f in image_files(update.message)] == ["doc-1"]
    assert incoming(update.to_dict()) is not None
    pdf = {"file_id": "doc-2", "file_unique_id": "d2", "mime_type": "application/pdf"}
    found = incoming(api.message(7, document=pdf, caption="Bitte lesen"))
    assert found is not None and found.text == "Bitte lesen" and found.images == ()  # the caption is kept


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}, "caption": "hör mal"}, "hör mal"),
        (
            {
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            "",
        ),
        ({"video": {"file_id": "x", "file_unique_id": "x", "width": 1, "height": 1, "duration": 1}}, ""),
        (
            {
                "video": {"file_id": "x", "file_unique_id": "x", "width": 1, "height": 1, "duration": 1},
                "caption": "E013?",
            },
            "E013?",
        ),
    ],
)
def test_other_input_is_a_message_with_its_caption_as_text(content: dict[str, Any], text: str) -> None:
    api = FakeTelegram()
    found = incoming(api.message(7, **content))
    assert found is not None and found.text == text and found.images == ()


def test_voice_audio_and_audio_documents_are_audio_files_with_their_reported_facts() -> None:
    api = FakeTelegram()
    voice = {"file_id": "v", "file_unique_id": "v", "duration": 7, "mime_type": "audio/ogg", "file_size": 9000}
    music = {"file_id": "a", "file_unique_id": "a", "duration": 61, "mime_type": "audio/mpeg", "file_size": 99}
    named = {"file_id": "d", "file_unique_id": "d", "mime_type": "audio/mp4", "file_name": "Frage.m4a"}
    found = [
        audio_file(Update.de_json(api.message(7, **content), None).message)  # type: ignore[arg-type]
        for content in (
            {"voice": voice},
            {"audio": music},
            {"document": named},
            {"document": {**named, "mime_type": "application/pdf"}},
        )
    ]
    assert [(f.file_id, f.mime, f.seconds, f.size, f.name) if f else None for f in found] == [
        ("v", "audio/ogg", 7.0, 9000, "voice.ogg"),
        ("a", "audio/mpeg", 61.0, 99, "audio.mp3"),
        ("d", "audio/mp4", None, None, "Frage.m4a"),
        None,
    ]


def test_service_messages_edits_and_channels_are_not_for_nik() -> None:
    api = FakeTelegram()
    joined = api.message(GROUP, kind="group", new_chat_members=[{"id": 5, "is_bot": False, "first_name": "Ben"}])
    assert incoming(joined) is None
    edited = api.message(7, text="korrigiert")
    edited["edited_message"] = edited.pop("message")
    assert incoming(edited) is None
    assert chat_key_of(Update.de_json(edited, None)) is None
    channel = api.message(-100999, text="News", kind="channel")
    assert incoming(channel) is None


def test_a_button_press() -> None:
    api = FakeTelegram()
    chat = api.chat(GROUP, "supergroup", forum=True)
    bots = {
        "message_id": 3,
        "date": 0,
        "chat": chat,
        "from": BOT_USER,
        "text": "Welches Gerät?",
        "message_thread_id": 9,
        "is_topic_message": True,
    }
    update = api.press(GROUP, bots, "opt:2", user_id=77)
    found = incoming(update)
    assert found is not None
    assert (found.callback_data, found.user_id, found.text, found.thread_id, found.is_group) == (
        "opt:2",
        "77",
        "",
        "9",
        True,
    )
    assert found.message_id == f"cb{update['update_id']}"
    assert chat_key_of(Update.de_json(update, None)) == (ChatKey("telegram", str(GROUP), "9"), found.message_id)

"""Telegram update → ``IncomingMessage``: facts only, no I/O, no policy.

``to_incoming`` reads one ``telegram.Update`` and reports who wrote what where: the
text (or caption) with the bot's ``@mention`` removed, whether the bot was
mentioned or replied to, the forum topic, a pressed button's data. Images, voice
notes and other documents (an admin's manual) are not downloaded here:
``image_files``, ``audio_file`` and ``document_file`` name the files the platform
fetches afterwards (with the duration and size Telegram reports).

What is not a message to Nik becomes ``None``: edits, service messages, channel
posts, a command addressed to another bot (``/help@OtherBot``). Input Nik cannot
read (video, stickers, other files) becomes a message with its caption as the text
(or none), so that the core answers the caption or its note on what Nik
understands — under the same group policy as everything else. A caption is never
dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from telegram import Message, Update
from telegram.constants import ChatType

from bot.core.messages import IncomingMessage
from bot.voice.transcriber import audio_name
from storage.store import ChatKey

PLATFORM: Final = "telegram"
DOWNLOAD_BYTES: Final = 20 * 1024 * 1024  # the largest file the Bot API lets a bot download (getFile)
GROUP_TYPES = (ChatType.GROUP, ChatType.SUPERGROUP)
_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)@([A-Za-z0-9_]+)")


@dataclass(frozen=True, slots=True)
class ImageFile:
    """A Telegram file to download as one of a message's images."""

    file_id: str
    mime: str
    size: int | None


@dataclass(frozen=True, slots=True)
class AudioFile:
    """A Telegram voice note or audio file to download, with what Telegram reports about it."""

    file_id: str
    mime: str
    seconds: float | None
    size: int | None
    name: str  # with the extension speech servers tell the format by


@dataclass(frozen=True, slots=True)
class DocumentFile:
    """A file sent as a document that is neither an image nor audio (a manual as PDF)."""

    file_id: str
    mime: str
    name: str  # as the sender's device named it (untrusted)
    size: int | None


def to_incoming(update: Update, bot_username: str) -> IncomingMessage | None:
    """The message ``update`` carries for Nik, or None when it carries none."""
    if update.callback_query is not None:
        return _pressed(update, bot_username)
    message = update.message
    if message is None or message.chat.type not in (ChatType.PRIVATE, *GROUP_TYPES) or message.from_user is None:
        return None
    raw = message.text if message.text is not None else message.caption
    text = raw or ""
    if message.text is None and not image_files(message) and not _unsupported(message):
        return None  # a service message: someone joined, a pin, a topic created …
    command = _COMMAND.match(text)
    if command is not None and command.group(2).lower() != bot_username.lower():
        return None  # /cmd@OtherBot
    mentioned = command is not None or _mention(bot_username).search(raw or "") is not None
    if command is not None:
        text = "/" + command.group(1) + text[command.end() :]
    text = _strip_mention(text, bot_username)
    user = message.from_user
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(message.chat.id),
        user_id=str(user.id),
        user_name=user.full_name or user.username or str(user.id),
        message_id=str(message.message_id),
        text=text,
        is_group=message.chat.type in GROUP_TYPES,
        mentions_bot=mentioned,
        reply_to_bot=_replies_to(message, bot_username),
        thread_id=topic_of(message),
        reply_to_message_id=str(message.reply_to_message.message_id) if message.reply_to_message else None,
    )


def chat_key_of(update: Update) -> tuple[ChatKey, str] | None:
    """The chat an update belongs to and its de-duplication id; None when Nik ignores it.

    Cheap (no translation) so that a webhook can store the update before answering."""
    message_id = message_key(update)
    if message_id is None:
        return None
    if update.callback_query is not None:
        source = update.callback_query.message
        if source is None:
            return None
        topic = topic_of(source) if isinstance(source, Message) else None
        return ChatKey(PLATFORM, str(source.chat.id), topic), message_id
    assert update.message is not None  # message_key() checked it
    return ChatKey(PLATFORM, str(update.message.chat.id), topic_of(update.message)), message_id


def message_key(update: Update) -> str | None:
    """A message's id in its chat; a button press's update id (a press has no message of its own)."""
    if update.callback_query is not None:
        return f"cb{update.update_id}" if update.callback_query.data else None
    if update.message is not None and update.message.chat.type in (ChatType.PRIVATE, *GROUP_TYPES):
        return str(update.message.message_id)
    return None


def topic_of(message: Message) -> str | None:
    """A forum topic is a conversation of its own; a plain group's reply chain is not."""
    if message.is_topic_message and message.message_thread_id is not None:
        return str(message.message_thread_id)
    return None


def image_files(message: Message) -> tuple[ImageFile, ...]:
    """The largest size of a photo, or an image sent as a file."""
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return (ImageFile(largest.file_id, "image/jpeg", largest.file_size),)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return (ImageFile(document.file_id, document.mime_type or "image/jpeg", document.file_size),)
    return ()


def audio_file(message: Message) -> AudioFile | None:
    """A voice note, an audio file, or a document that is audio."""
    voice, audio, document = message.voice, message.audio, message.document
    if voice is not None:
        return AudioFile(voice.file_id, voice.mime_type or "audio/ogg", _seconds(voice), voice.file_size, "voice.ogg")
    if audio is not None:
        mime = audio.mime_type or "audio/mpeg"
        name = audio.file_name or audio_name(mime, "audio")
        return AudioFile(audio.file_id, mime, _seconds(audio), audio.file_size, name)
    if document is not None and (document.mime_type or "").startswith("audio/"):
        mime = document.mime_type or "audio/ogg"
        name = document.file_name or audio_name(mime, "audio")
        return AudioFile(document.file_id, mime, None, document.file_size, name)
    return None


def document_file(message: Message) -> DocumentFile | None:
    """A document the image and audio paths do not take."""
    document = message.document
    if document is None or image_files(message) or audio_file(message) is not None:
        return None
    mime = document.mime_type or "application/octet-stream"
    return DocumentFile(document.file_id, mime, document.file_name or "Handbuch.pdf", document.file_size)


def _seconds(media: Any) -> float | None:
    """The duration Telegram reported (read from the JSON: PTB's attribute changes type in v23)."""
    value = media.to_dict().get("duration")
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) if isinstance(value, int | float) else None


def _pressed(update: Update, bot_username: str) -> IncomingMessage | None:
    query = update.callback_query
    assert query is not None
    source = query.message
    if source is None or not query.data or source.chat.type not in (ChatType.PRIVATE, *GROUP_TYPES):
        return None
    user = query.from_user
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(source.chat.id),
        user_id=str(user.id),
        user_name=user.full_name or user.username or str(user.id),
        message_id=f"cb{update.update_id}",
        text="",
        is_group=source.chat.type in GROUP_TYPES,
        thread_id=topic_of(source) if isinstance(source, Message) else None,
        callback_data=query.data,
    )


def _unsupported(message: Message) -> bool:
    return any(
        (
            message.voice,
            message.audio,
            message.video,
            message.video_note,
            message.sticker,
            message.animation,
            message.document,
            message.contact,
            message.location,
            message.poll,
        )
    )


def _replies_to(message: Message, bot_username: str) -> bool:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or not replied.from_user.is_bot:
        return False
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return False  # in a forum every message "replies" to the topic's first message
    return (replied.from_user.username or "").lower() == bot_username.lower()


def _mention(bot_username: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_])@{re.escape(bot_username)}(?![A-Za-z0-9_])", re.IGNORECASE)


def _strip_mention(text: str, bot_username: str) -> str:
    stripped = _mention(bot_username).sub(" ", text)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip() if stripped != text else text.strip()

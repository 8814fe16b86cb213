"""A Teams activity in, the core's ``IncomingMessage`` out: facts only, no policy.

* ``user_id`` is the sender's AAD object id (``from.aadObjectId``, else ``from.id``),
  so that ``NIK_ADMINS`` can name Teams admins as ``teams:<aadObjectId>``.
* Group chats and channels deliver only messages that @mention the bot; the mention
  is cut out of the text and reported as ``mentions_bot``.
* A channel's reply chain is its own conversation: ``conversation.id`` ends in
  ``;messageid=<root>``, the root message id becomes ``thread_id``.
* Teams users type commands without a slash (the manifest's command list):
  ``reindex`` → ``/reindex``.
* A pressed Adaptive Card ``Action.Submit`` arrives as a message whose ``value``
  carries our data (``{"nik": "opt:2"}``) → ``callback_data``.

Images and voice notes are only *described* here (``inline_images``,
``audio_attachment``: an ``audio/*`` file, or the audio card the Teams mobile app
sends for a recorded voice message, with its ISO 8601 duration), and so is a file
sent in a personal chat (``file_download``: Teams' pre-authenticated ``downloadUrl``,
an admin's manual); the platform downloads them.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from botbuilder.schema import Activity, ActivityTypes

from bot.core.messages import IncomingMessage
from storage.store import ChatKey

PLATFORM: Final = "teams"
SUBMIT_KEY = "nik"  # the key of our data in an Action.Submit's value
THREAD_MARK = ";messageid="
# these words alone (or with arguments) are commands; the manifest's menus list most of them
COMMANDS_ALONE = frozenset(
    {
        "help",
        "start",
        "new",
        "docs",
        "status",
        "reindex",
        "support",
        "cases",
        "done",
        "device",
        "forget",
        "pdf",
        "report",
    }
)
COMMANDS_WITH_ARGS = frozenset({"search", "page", "pdf", "support", "nik", "done", "device", "report", "remove"})
FILE_CARDS = ("application/vnd.microsoft.teams.file.download.info", "application/vnd.microsoft.teams.card.file.info")
FILE_HOSTS = ("sharepoint.com", "onedrive.live.com", "1drv.ms")
_AT_TAG = re.compile(r"</?at>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"[ \t\u00a0]+")
AUDIO_CARD = "application/vnd.microsoft.card.audio"
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An inline image of a message: where to fetch it and its declared type."""

    url: str
    mime: str


@dataclass(frozen=True, slots=True)
class AudioRef:
    """A voice message or audio file of a message: where to fetch it and what Teams says about it."""

    url: str
    mime: str | None  # None: whatever the download's Content-Type says
    seconds: float | None
    name: str | None


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file sent in a personal chat: its pre-authenticated download URL and what Teams says about it."""

    url: str
    name: str  # as the sender named it (untrusted)
    file_type: str  # Teams' ``fileType``: "pdf", "docx", …


def chat_key(activity: Activity) -> ChatKey:
    """The core's chat key of an activity: conversation (without the reply chain) and thread."""
    conversation_id = activity.conversation.id if activity.conversation else ""
    chat_id, thread_id = split_conversation(conversation_id)
    return ChatKey(PLATFORM, chat_id, thread_id)


def split_conversation(conversation_id: str) -> tuple[str, str | None]:
    """``19:x@thread.tacv2;messageid=42`` → (``19:x@thread.tacv2``, ``42``)."""
    chat_id, mark, thread = conversation_id.partition(THREAD_MARK)
    return chat_id, (thread or None) if mark else None


def is_group(activity: Activity) -> bool:
    conversation = activity.conversation
    if conversation is None:
        return False
    return bool(conversation.is_group) or conversation.conversation_type in ("groupChat", "channel")


def to_incoming(activity: Activity) -> IncomingMessage | None:
    """The message the core should see, or None when the activity is no user message."""
    if activity.type != ActivityTypes.message or activity.conversation is None or activity.from_property is None:
        return None
    key = chat_key(activity)
    sender = activity.from_property
    text, mentioned = strip_bot_mention(activity)
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=key.chat_id,
        user_id=sender.aad_object_id or sender.id or "",
        user_name=sender.name or "",
        message_id=activity.id or "",
        text=as_command(text),
        is_group=is_group(activity),
        mentions_bot=mentioned,
        thread_id=key.thread_id,
        callback_data=submitted_data(activity),
        reply_to_message_id=activity.reply_to_id or None,
    )


def strip_bot_mention(activity: Activity) -> tuple[str, bool]:
    """The text without the bot's ``<at>…</at>`` mention, and whether it was there.

    (botbuilder's ``remove_recipient_mention`` treats the bot's name as a regular
    expression and removes it everywhere, e.g. "Nik" out of "Nikolaus".)"""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    mentioned = False
    for entity in activity.entities or ():
        if (entity.type or "").lower() != "mention":
            continue
        props = entity.additional_properties or {}
        who = props.get("mentioned") or {}
        if not bot_id or who.get("id") != bot_id:
            continue
        mentioned = True
        written = props.get("text") or f"<at>{who.get('name', '')}</at>"
        text = text.replace(written, " ", 1)
    return clean_text(text), mentioned


def clean_text(text: str) -> str:
    """Teams' message text as plain text: other mentions keep their name, tags and entities go."""
    text = _TAG.sub("", _AT_TAG.sub("", text))
    return _SPACES.sub(" ", html.unescape(text)).strip()


def as_command(text: str) -> str:
    """``reindex`` → ``/reindex``, ``search E013`` → ``/search E013``; anything else unchanged."""
    head, _, rest = text.partition(" ")
    word = head.lower()
    if (word in COMMANDS_ALONE and not rest.strip()) or (word in COMMANDS_WITH_ARGS and rest.strip()):
        return f"/{word} {rest.strip()}".strip()
    return text


def submitted_data(activity: Activity) -> str | None:
    """Our data of a pressed card button (``Action.Submit``), if this message is one."""
    value = activity.value
    if isinstance(value, dict) and isinstance(value.get(SUBMIT_KEY), str):
        return str(value[SUBMIT_KEY])
    return None


def inline_images(activity: Activity) -> list[ImageRef]:
    """Images pasted into the message (Teams sends a ``text/html`` stub beside them: skipped)."""
    found = []
    for attachment in activity.attachments or ():
        mime = (attachment.content_type or "").lower()
        if mime.startswith("image/") and attachment.content_url:
            found.append(ImageRef(attachment.content_url, mime))
    return found


def audio_attachment(activity: Activity) -> AudioRef | None:
    """The message's audio: an ``audio/*`` attachment, or an audio card's first media URL."""
    for attachment in activity.attachments or ():
        mime = (attachment.content_type or "").lower()
        if mime.startswith("audio/") and attachment.content_url:
            return AudioRef(attachment.content_url, mime, None, attachment.name)
        if mime == AUDIO_CARD:
            card = _card(attachment.content)
            media = card.get("media")
            url = media[0].get("url") if isinstance(media, list) and media and isinstance(media[0], dict) else None
            if isinstance(url, str) and url:
                return AudioRef(url, None, iso_seconds(card.get("duration")), None)
    return None


def iso_seconds(value: object) -> float | None:
    """``PT13S`` → 13.0, ``PT1M5S`` → 65.0; None for anything else."""
    found = _DURATION.fullmatch(value) if isinstance(value, str) and value.upper() != "P" else None
    if found is None or not any(found.groups()):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _card(content: object) -> dict[str, Any]:
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return {}
    return content if isinstance(content, dict) else {}


def shared_files(activity: Activity) -> list[str]:
    """Names of files shared from SharePoint/OneDrive (file cards and links), which Nik does not read."""
    names = []
    for attachment in activity.attachments or ():
        mime = (attachment.content_type or "").lower()
        url = (attachment.content_url or "").lower()
        if mime in FILE_CARDS or (not mime.startswith("image/") and any(h in url for h in FILE_HOSTS)):
            names.append(attachment.name or "Datei")
    return names


def file_download(activity: Activity) -> FileRef | None:
    """The file of a personal chat's message (Teams delivers files to bots only there)."""
    if is_group(activity):
        return None
    for attachment in activity.attachments or ():
        if (attachment.content_type or "").lower() != FILE_CARDS[0]:
            continue
        content = _card(attachment.content)
        url = content.get("downloadUrl")
        if isinstance(url, str) and url:
            return FileRef(url, attachment.name or "Handbuch.pdf", str(content.get("fileType") or ""))
    return None


def added_the_bot(activity: Activity) -> bool:
    """Nik was just installed or added to this chat or team (time to say hello)."""
    bot_id = activity.recipient.id if activity.recipient else None
    if activity.type == ActivityTypes.conversation_update:
        return any(member.id == bot_id for member in activity.members_added or ())
    return False

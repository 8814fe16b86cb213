"""The core's replies as Teams activities, sent through one turn's ``TurnContext``.

* ``Answer``: Teams Markdown, the cited pages listed under it; 👍/👎 as an Adaptive
  Card with two ``Action.Submit`` buttons carrying ``feedback_data``.
* ``Clarification``: an Adaptive Card, one ``Action.Submit`` per option carrying
  ``option_data(n)`` — in channels a free-text answer without @mention never reaches
  the bot, a button press does.
* ``Document`` and ``PageImage`` (files, ``adapters.files``): in a personal chat a file-consent
  card (the platform uploads on accept, ``fileConsent/invoke``); in channels and group chats a
  signed link valid ``NIK_FILE_LINK_HOURS``, or a note when ``NIK_PUBLIC_URL`` is not set.
* ``Picture``: the PNG inline (data URI) with its caption.
* ``Progress``: the first is sent, later ones update that message (also from a later
  turn context: a background job's note passes the message's id on).
* ``Typing``: a typing indicator, repeated every few seconds until the next message.
* ``Partial`` and ``Status``: in a personal chat, Teams' streaming protocol
  (``stream.Stream``): "Ich suche in den Handbüchern…" at ``Typing``, each status as
  a progress note, the growing answer, the next message as the stream's final one.
  Elsewhere (or where Teams refuses to stream) not shown; the final reply always is.
* Sources: in personal and group chats the answer's ``[Title, S. N]`` become ``[n]``
  markers with Teams citation entities and, for an LLM's answer, the "AI generated"
  label (``entities``); channels, where Teams shows neither, keep the plain list.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, Attachment, ErrorResponseException
from msrest.exceptions import ClientRequestError

from adapters.files import FileShelf
from adapters.teams.entities import message_entity, sources, with_markers
from adapters.teams.outbound import deliver
from adapters.teams.stream import Stream
from adapters.teams.translate import SUBMIT_KEY
from bot.core.messages import (
    Answer,
    Clarification,
    Document,
    PageImage,
    Partial,
    Picture,
    Progress,
    Reply,
    Status,
    Typing,
    feedback_data,
    option_data,
)

log = logging.getLogger(__name__)

TEXT_LIMIT = 24_000  # Teams refuses messages above ~28 KB
TYPING_EVERY = 3.0
CARD_VERSION = "1.4"
SOURCES = "**Quellen:**"
SEARCHING = "Ich suche in den Handbüchern…"  # a personal chat's stream starts with it
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
NO_PUBLIC_URL = (
    "Dateien kann ich hier nur als Link schicken, und dafür ist Nik nicht eingerichtet (NIK_PUBLIC_URL fehlt). "
    "Schreiben Sie mir im persönlichen Chat – dort schicke ich die Datei direkt."
)


def answer_text(answer: Answer) -> str:
    text = answer.text.strip()
    if answer.citations:
        lines = [f"- {c.title}, S. {c.page} (`{c.file}`)" for c in answer.citations]
        text = f"{text}\n\n{SOURCES}\n" + "\n".join(dict.fromkeys(lines))
    return _cut(text)


def answer_activity(answer: Answer, *, entities: bool = False) -> Activity:
    """``answer`` as a message; with ``entities`` its sources as ``[n]`` markers and citation
    entities, and the "AI generated" label when a model wrote it."""
    if entities:
        text, positions = cited_text(answer)
        activity = MessageFactory.text(text)
        entity = message_entity(answer, positions)
        activity.entities = [entity] if entity is not None else []
    else:
        activity = MessageFactory.text(answer_text(answer))
    activity.text_format = "markdown"
    card = answer_card(answer)
    if card is not None:
        activity.attachments = [card]
    return activity


def cited_text(answer: Answer) -> tuple[str, list[int]]:
    """The answer's text with ``[n]`` markers, the sources listed by number under it (for
    clients that do not show citations), and the marked numbers."""
    text, positions = with_markers(answer.text.strip(), answer.citations)
    listed = sources(answer.citations)
    if listed:
        lines = [f"- [{n}] {c.title}, S. {c.page} (`{c.file}`)" for n, c in enumerate(listed, start=1)]
        text = f"{text}\n\n{SOURCES}\n" + "\n".join(lines)
    if len(text) > TEXT_LIMIT:  # the cut may take markers with it
        text = _cut(text)
        positions = [n for n in positions if f"[{n}]" in text]
    return text, positions


def answer_card(answer: Answer) -> Attachment | None:
    """An answer's command buttons, then 👍/👎 when it asks for feedback; None without either."""
    actions = [_submit(button.label, button.data) for button in answer.buttons]
    if answer.ask_feedback and answer.feedback_id:
        actions += [
            _submit("👍 Hilfreich", feedback_data(answer.feedback_id, 1)),
            _submit("👎 Nicht hilfreich", feedback_data(answer.feedback_id, -1)),
        ]
    return _card([{"type": "ActionSet", "actions": actions}]) if actions else None


def clarification_activity(clarification: Clarification) -> Activity:
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": clarification.question, "wrap": True}]
    for number, option in enumerate(clarification.options, start=1):  # one button per row: long options fit
        body.append({"type": "ActionSet", "actions": [_submit(option, option_data(number))]})
    activity = MessageFactory.attachment(_card(body))
    activity.summary = clarification.question[:200]  # what notifications show
    return activity


def page_activity(page: PageImage | Picture) -> Activity:
    data = base64.b64encode(page.png).decode("ascii")
    name = page.name if isinstance(page, Picture) else f"{page.citation.title} S. {page.citation.page}.png"
    image = Attachment(content_type="image/png", content_url=f"data:image/png;base64,{data}", name=name)
    activity = MessageFactory.attachment(image, text=_cut(page.caption))
    activity.text_format = "markdown"
    return activity


def consent_activity(name: str, caption: str, size: int, token: str) -> Activity:
    """A file-consent card: Teams asks the user, then sends ``fileConsent/invoke`` with ``token`` back."""
    card = Attachment(
        content_type=FILE_CONSENT,
        name=name,
        content={
            "description": caption[:200],
            "sizeInBytes": size,
            "acceptContext": {"token": token},
            "declineContext": {"token": token},
        },
    )
    return MessageFactory.attachment(card)


def file_info_activity(upload: dict[str, Any]) -> Activity:
    """The uploaded file in the chat (``uploadInfo`` of an accepted file consent)."""
    card = Attachment(
        content_type=FILE_INFO,
        content_url=upload.get("contentUrl"),
        name=upload.get("name"),
        content={"uniqueId": upload.get("uniqueId"), "fileType": upload.get("fileType")},
    )
    return MessageFactory.attachment(card)


def link_activity(caption: str, name: str, url: str, hours: float) -> Activity:
    valid = f"{hours:g} Stunde" + ("" if hours == 1 else "n")
    return text_activity(f"{caption}\n\n[{name}]({url}) (Link gilt {valid})")


def _file_of(reply: Document | PageImage) -> tuple[bytes, str, str]:
    """(bytes, file name, mime) of a file reply."""
    if isinstance(reply, Document):
        return reply.data, reply.name, reply.mime
    return reply.png, f"{reply.citation.title} S. {reply.citation.page}.png", "image/png"


def text_activity(text: str) -> Activity:
    activity = MessageFactory.text(_cut(text))
    activity.text_format = "markdown"
    return activity


def _submit(title: str, data: str) -> dict[str, Any]:
    return {"type": "Action.Submit", "title": title, "data": {SUBMIT_KEY: data}}


def _card(body: list[dict[str, Any]]) -> Attachment:
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
    }
    return CardFactory.adaptive_card(card)


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


class Renderer:
    """Sends one turn's replies in order; ``close`` stops the typing indicator."""

    def __init__(
        self,
        context: TurnContext,
        *,
        typing_every: float = TYPING_EVERY,
        progress_id: str | None = None,
        stream_every: float | None = None,
        files: FileShelf | None = None,
    ) -> None:
        self._context = context
        self._typing_every = typing_every
        conversation = context.activity.conversation
        kind = conversation.conversation_type if conversation is not None else None
        self._entities = kind != "channel"  # Teams shows citations and the AI label in chats only
        self._personal = kind == "personal"
        self._files = files  # where files wait for the consent upload or their link (None: page images inline)
        # streaming in personal chats, at most one request per ``stream_every`` seconds (None: never)
        self._stream = Stream(context, every=stream_every) if stream_every is not None and kind == "personal" else None
        self._typing: asyncio.Task[None] | None = None
        self.progress_id = progress_id  # the progress message to update (a job's note outlives one renderer)
        self._lock = asyncio.Lock()  # one connector request at a time (typing runs beside)
        self.sent = 0

    async def render(self, reply: Reply) -> None:
        stream = self._stream if self._stream is not None and self._stream.allowed else None
        if isinstance(reply, Typing):
            if stream is not None:
                await stream.inform(SEARCHING)
            if stream is None or not stream.allowed:
                self._start_typing()
            return
        if isinstance(reply, Partial | Status):
            if stream is not None:
                await (stream.grow(reply.text) if isinstance(reply, Partial) else stream.inform(reply.text))
            return
        if isinstance(reply, Progress):
            await self._progress(reply)
            return
        if isinstance(reply, Answer):
            activity = answer_activity(reply, entities=self._entities)
        elif isinstance(reply, Clarification):
            activity = clarification_activity(reply)
        elif isinstance(reply, Document | PageImage) and self._files is not None:
            await self.send(self._file(reply, self._files))
            return
        elif isinstance(reply, Document):
            activity = text_activity(reply.caption)
        else:
            activity = page_activity(reply)
        if stream is not None and await stream.finish(activity):
            self.sent += 1
            return
        await self.send(activity)

    def _file(self, reply: Document | PageImage, files: FileShelf) -> Activity:
        data, name, mime = _file_of(reply)
        if self._personal:
            return consent_activity(name, reply.caption, len(data), files.put(data, name, mime))
        if files.public_url is None:
            return text_activity(f"{reply.caption}\n\n{NO_PUBLIC_URL}")
        token = files.put(data, name, mime)
        return link_activity(reply.caption, name, files.link(token, name), files.seconds / 3600)

    async def send(self, activity: Activity) -> str | None:
        await self._stop_typing()
        async with self._lock:
            response = await deliver(lambda: self._context.send_activity(activity), "a message")
        self.sent += 1
        return response.id if response is not None else None

    async def close(self) -> None:
        await self._stop_typing()
        if self._stream is not None:
            await self._stream.close()

    async def _progress(self, progress: Progress) -> None:
        if self.progress_id is None:
            self.progress_id = await self.send(text_activity(progress.text))
            return
        update = text_activity(progress.text)
        update.id = self.progress_id
        async with self._lock:
            await deliver(lambda: self._context.update_activity(update), "a progress update")

    def _start_typing(self) -> None:
        if self._typing is None or self._typing.done():
            self._typing = asyncio.create_task(self._type(), name="nik-teams-typing")

    async def _type(self) -> None:
        while True:
            try:
                async with self._lock:
                    await self._context.send_activity(Activity(type=ActivityTypes.typing))
            except (ErrorResponseException, ClientRequestError) as error:  # a lost indicator is harmless
                log.info("typing indicator not sent: %s", error)
            await asyncio.sleep(self._typing_every)

    async def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._typing
            self._typing = None

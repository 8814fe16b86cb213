"""One turn's replies, shown in Telegram.

``TurnOutput.show`` renders each reply the core yields: answers as HTML parts
(plain text when Telegram cannot parse the HTML) with 👍/👎 under the last part,
clarifications with an option keyboard (or ``ForceReply`` in groups), ``/page``
images as photos, progress as one message edited in place, the typing indicator
refreshed while the turn runs, and streamed text as a message draft. What the agent
does (``Status``: "🔎 Suche: E013") is one message in a private chat, edited for each
next step and deleted once the turn's reply is out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot, ForceReply, InlineKeyboardMarkup, InputFile, LinkPreviewOptions, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from adapters.telegram.client import SEND
from adapters.telegram.render import (
    Part,
    answer_keyboard,
    answer_parts,
    caption,
    options_keyboard,
    split_html,
    text_parts,
    to_html,
)
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
)
from bot.runtime.retry import Retry

log = logging.getLogger(__name__)

_DRAFT_IDS = itertools.count(1)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a turn's replies go."""

    chat_id: int
    thread_id: int | None  # forum topic
    is_group: bool
    reply_to: int | None = None  # the asker's message (groups), for ForceReply and context
    query_id: str | None = None  # a pressed button's callback query
    vote: bool = False  # the press was a 👍/👎: the thanks goes into the button's toast


class TurnOutput:
    def __init__(
        self,
        bot: Bot,
        target: Target,
        *,
        send: Retry = SEND,
        typing_every: float = 4.0,
        draft_every: float = 1.0,
    ) -> None:
        self._bot = bot
        self._send = send
        self._to = target
        self._typing_every = typing_every
        self._draft_every = draft_every
        self._typing: asyncio.Task[None] | None = None
        self._progress_id: int | None = None
        self._status_id: int | None = None  # the agent's status message, until the reply is out
        self._draft_id = next(_DRAFT_IDS) % 2**31 or 1
        self._drafts = True  # False once the server refused a draft
        self._last_draft = -float("inf")
        self.sent = 0  # messages sent (for tests and benchmarks)

    async def show(self, reply: Reply) -> None:
        if isinstance(reply, Typing):
            if self._typing is None:
                self._typing = asyncio.create_task(self._keep_typing(), name=f"nik-typing-{self._to.chat_id}")
        elif isinstance(reply, Partial):
            await self._draft(reply.text)
        elif isinstance(reply, Status):
            await self._status(reply.text)
        elif isinstance(reply, Answer):
            if self._to.vote and self._to.query_id is not None:
                await self._answer_query(reply.text)
                if not reply.buttons:
                    return  # the thanks is the button's toast; an offer with buttons is a message too
            await self._send_parts(answer_parts(reply), answer_keyboard(reply))
        elif isinstance(reply, Clarification):
            await self._clarify(reply)
        elif isinstance(reply, Progress):
            await self._progress(reply)
        elif isinstance(reply, PageImage | Picture):
            await self._photo(reply)
        elif isinstance(reply, Document):
            await self._document(reply)
        if isinstance(reply, Answer | Clarification | PageImage | Picture | Document):
            await self._clear_status()  # the reply is out: the agent's status note has served

    async def close(self) -> None:
        """The turn is over: stop the typing indicator (and drop a status left over)."""
        await self._clear_status()
        if self._typing is not None:
            self._typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._typing
            self._typing = None

    async def _send_parts(self, parts: list[Part], markup: InlineKeyboardMarkup | ForceReply | None) -> int | None:
        """Send the parts in order, the markup under the last one; the last message's id."""
        last_id = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            options: dict[str, Any] = {"reply_markup": markup if last else None}
            if index == 0 and self._to.reply_to is not None:
                options["reply_parameters"] = ReplyParameters(self._to.reply_to, allow_sending_without_reply=True)
            last_id = await self._send_text(part, options)
        return last_id

    async def _send_text(self, part: Part, options: dict[str, Any]) -> int:
        def send(text: str, mode: str | None) -> Callable[[], Awaitable[Any]]:
            return lambda: self._bot.send_message(
                self._to.chat_id,
                text,
                parse_mode=mode,
                message_thread_id=self._to.thread_id,
                link_preview_options=NO_PREVIEW,
                **options,
            )

        try:
            sent = await self._paced(send(part.html, ParseMode.HTML))
        except BadRequest as error:
            if "can't parse entities" not in str(error).lower():
                raise
            log.warning("Telegram refused the HTML (%s); sending plain text", error)
            sent = await self._paced(send(part.plain, None))
        self.sent += 1
        return int(sent.message_id)

    async def _clarify(self, reply: Clarification) -> None:
        markup: InlineKeyboardMarkup | ForceReply | None = None
        if reply.options:
            markup = options_keyboard(reply.options)
        elif self._to.is_group:  # under privacy mode only a reply to the bot reaches it
            markup = ForceReply(selective=True, input_field_placeholder="Ihre Antwort …")
        await self._send_parts(text_parts(reply.question), markup)

    async def _progress(self, reply: Progress) -> None:
        if self._progress_id is None:
            [part, *_] = text_parts(reply.text)
            self._progress_id = await self._send_text(part, {})
            return
        await self._edit(self._progress_id, reply.text)

    async def _status(self, text: str) -> None:
        """The agent's current step in a private chat: the first sent, the next ones edited in."""
        if self._to.is_group:
            return  # nothing that stays behind in a group
        if self._status_id is None:
            [part, *_] = text_parts(text)
            self._status_id = await self._send_text(part, {})
            return
        await self._edit(self._status_id, text)

    async def _clear_status(self) -> None:
        if self._status_id is None:
            return
        message_id, self._status_id = self._status_id, None
        try:
            await self._paced(lambda: self._bot.delete_message(self._to.chat_id, message_id))
        except TelegramError as error:  # a status left standing is harmless
            log.info("could not delete the status message in chat %s: %s", self._to.chat_id, error)

    async def _edit(self, message_id: int, text: str) -> None:
        [part, *_] = text_parts(text)

        async def edit() -> object:
            return await self._bot.edit_message_text(
                part.plain, chat_id=self._to.chat_id, message_id=message_id, link_preview_options=NO_PREVIEW
            )

        try:
            await self._paced(edit)
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def _photo(self, reply: PageImage | Picture) -> None:
        async def send() -> object:
            return await self._bot.send_photo(
                self._to.chat_id, reply.png, caption=caption(reply.caption), message_thread_id=self._to.thread_id
            )

        await self._paced(send)
        self.sent += 1

    async def _document(self, reply: Document) -> None:
        async def send() -> object:
            return await self._bot.send_document(
                self._to.chat_id,
                InputFile(reply.data, filename=reply.name),
                caption=caption(reply.caption),
                message_thread_id=self._to.thread_id,
            )

        await self._paced(send)
        self.sent += 1

    async def _draft(self, text: str) -> None:
        """Streamed text in a private chat, as a draft at most every ``draft_every`` seconds."""
        now = time.monotonic()
        if self._to.is_group or not self._drafts or now - self._last_draft < self._draft_every:
            return
        self._last_draft = now
        parts = split_html(to_html(text))
        if not parts:
            return
        try:
            await self._bot.send_message_draft(
                self._to.chat_id,
                self._draft_id,
                parts[0],
                message_thread_id=self._to.thread_id,
                parse_mode=ParseMode.HTML,
            )
        except TelegramError as error:  # drafts are a nicety: the final answer follows anyway
            log.info("no more drafts in chat %s: %s", self._to.chat_id, error)
            self._drafts = False

    async def _answer_query(self, text: str | None) -> None:
        if self._to.query_id is None:
            return
        try:
            await self._bot.answer_callback_query(self._to.query_id, text=text)
        except BadRequest as error:  # too old (after a restart): the chat reply still goes out
            log.info("could not answer button press: %s", error)

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self._bot.send_chat_action(
                    self._to.chat_id, ChatAction.TYPING, message_thread_id=self._to.thread_id
                )
            except TelegramError as error:
                log.info("typing indicator failed in chat %s: %s", self._to.chat_id, error)
            await asyncio.sleep(self._typing_every)

    async def _paced(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """One message request: paced by the bot's rate limiter, tried again after a network failure."""
        what = f"sending to chat {self._to.chat_id}"
        return await self._send.run(what, call)

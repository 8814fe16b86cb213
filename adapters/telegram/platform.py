"""Telegram as a ``Platform`` of ``nik serve``: in by long polling or webhook, out through PTB.

Lifecycle: ``start`` initialises python-telegram-bot's ``Application`` (built
without its own updater or web server; ``getMe`` tells the bot's name), then
either registers the webhook (``setWebhook`` with the secret) or deletes it and
starts long polling. ``stop`` runs the other way round.

**Store before acknowledging.** A webhook update is stored in the inbox
(``Dispatcher.submit``) before the 200; if storage is down the answer is 503 and
Telegram delivers again. Polling does the same with the offset: the next
``getUpdates`` confirms an update only after the inbox holds it (PTB's ``Updater``
would confirm it as soon as it is queued in memory, hence our own small loop).

**Process.** The dispatcher calls ``process`` per chat in order — also after a
restart, from the stored JSON alone: the payload becomes a ``telegram.Update``
again, ``to_incoming`` turns it into the core's message, images are downloaded,
and the core's replies are shown through ``TurnOutput``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, CallbackQuery, Message, Update
from telegram.error import BadRequest, Conflict, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder

from adapters.telegram.albums import Albums
from adapters.telegram.outbox import Limits, Outbox, retry_seconds
from adapters.telegram.replies import Target, TurnOutput
from adapters.telegram.translate import ImageFile, chat_key_of, image_files, to_incoming
from bot.core.messages import FEEDBACK_PREFIX, OPTION_PREFIX, ImageInput, IncomingMessage
from bot.errors import ConfigError
from bot.runtime.composition import Nik
from storage.errors import StorageError
from storage.inbox import Delivery
from storage.store import Receipt

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_PATH = "/telegram/webhook"
STORAGE_ERRORS = (StorageError, SQLAlchemyError, OSError)
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramPlatform:
    name = "telegram"

    def __init__(
        self,
        nik: Nik,
        *,
        limits: Limits | None = None,
        album_quiet: float = 1.5,
        poll_timeout: float = 25.0,
        typing_every: float = 4.0,
        draft_every: float = 1.0,
    ) -> None:
        settings = nik.settings
        if settings.telegram_bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN fehlt.")
        self._nik = nik
        self._webhook_url = settings.telegram_webhook_url
        self._secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        if self._webhook_url:
            if not _SECRET.fullmatch(self._secret):
                raise ConfigError(
                    "TELEGRAM_WEBHOOK_SECRET fehlt oder ist ungültig (1–256 Zeichen A–Z, a–z, 0–9, _ und -); "
                    "ohne ihn könnte jeder dem Webhook Nachrichten unterschieben."
                )
            self._path = urlsplit(self._webhook_url).path or DEFAULT_PATH
        root = settings.telegram_api_base_url.rstrip("/")
        self._app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token.get_secret_value())
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .updater(None)
            .build()
        )
        self._outbox = Outbox(limits or Limits())
        self._albums = Albums(album_quiet)
        self._poll_timeout = poll_timeout
        self._typing_every = typing_every
        self._draft_every = draft_every
        self._max_image = settings.max_image_bytes
        self._username = ""
        self._poller: asyncio.Task[None] | None = None

    @property
    def bot(self) -> Bot:
        return self._app.bot

    # --- Platform -------------------------------------------------------------------------------

    def routes(self) -> Sequence[web.RouteDef]:
        return [web.post(self._path, self._webhook)] if self._webhook_url else []

    async def start(self) -> None:
        await self._app.initialize()  # getMe
        self._username = self.bot.username
        await self._app.start()
        if self._webhook_url:
            await self.bot.set_webhook(self._webhook_url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES)
            log.warning("Telegram @%s: webhook %s", self._username, self._path)
        else:
            await self.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="nik-telegram-polling")
            log.warning("Telegram @%s: long polling", self._username)

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._app.running:
            await self._app.stop()
        await self._app.shutdown()

    async def ready(self) -> tuple[bool, str]:
        if not self._username:
            return False, "not connected"
        if self._webhook_url:
            return True, f"@{self._username} webhook"
        alive = self._poller is not None and not self._poller.done()
        return alive, f"@{self._username} polling" if alive else "polling stopped"

    async def notify(self, chat_id: str, text: str) -> None:
        """A plain note from Nik itself (the scheduled sync's summary) to ``chat_id``."""
        group = chat_id.startswith("-")
        await self._outbox.send(chat_id, group, lambda: self.bot.send_message(chat_id, text))

    async def process(self, delivery: Delivery, receipt: Receipt) -> None:
        update = Update.de_json(delivery.payload, self.bot)
        message = to_incoming(update, self._username)
        if message is None:
            return
        files = image_files(update.message) if update.message is not None else ()
        if update.message is not None and update.message.media_group_id:
            album = await self._albums.collect(message.chat_id, update.message.media_group_id, message.message_id)
            if album == []:
                return  # answered with the album's first part
            if album:
                message, files = self._merge(message, album)
        if files:
            message = replace(message, images=await self._download(files))
        target = self._target(update, message)
        query = update.callback_query
        if query is not None:
            await self._acknowledge(query, message)
        output = TurnOutput(
            self.bot, self._outbox, target, typing_every=self._typing_every, draft_every=self._draft_every
        )
        try:
            async for reply in self._nik.conversation.handle(message, receipt=receipt):
                await output.show(reply)
        finally:
            await output.close()

    # --- inbound --------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return web.Response(status=403)
        try:
            payload = await request.json()
            update = Update.de_json(payload, self.bot) if isinstance(payload, dict) else None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            update = None
        if update is None:
            return web.Response(status=400)
        try:
            await self._ingest(update, payload)
        except STORAGE_ERRORS as error:
            log.error("could not store Telegram update %s: %s", update.update_id, error)
            return web.Response(status=503)  # Telegram delivers it again
        return web.Response(status=200)

    async def _ingest(self, update: Update, payload: dict[str, Any]) -> None:
        """Store the update (a re-delivery is dropped by the inbox) and queue it."""
        found = chat_key_of(update)
        if found is None:
            return
        key, message_id = found
        stored = await self._nik.dispatcher.submit(key, message_id, payload)
        if stored and update.message is not None and update.message.media_group_id:
            self._albums.add(key.chat_id, update.message.media_group_id, message_id, payload)

    async def _poll(self) -> None:
        offset: int | None = None
        backoff = 1.0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=timedelta(seconds=self._poll_timeout), allowed_updates=ALLOWED_UPDATES
                )
            except RetryAfter as error:
                await asyncio.sleep(retry_seconds(error))
                continue
            except (Conflict, NetworkError) as error:  # another poller, or the network: try again later
                log.warning("getUpdates failed (%s); retrying in %.0f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            for update in updates:
                await self._ingest_until_stored(update)
                offset = update.update_id + 1  # confirmed with the next getUpdates

    async def _ingest_until_stored(self, update: Update) -> None:
        pause = 0.5
        while True:
            try:
                await self._ingest(update, update.to_dict())
                return
            except STORAGE_ERRORS as error:  # not confirmed: Telegram keeps it meanwhile
                log.error("could not store Telegram update %s (%s); retrying", update.update_id, error)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    # --- helpers --------------------------------------------------------------------------------

    def _merge(
        self, first: IncomingMessage, album: list[dict[str, Any]]
    ) -> tuple[IncomingMessage, tuple[ImageFile, ...]]:
        """One message from an album's parts: every image, the captions joined."""
        texts: list[str] = []
        files: list[ImageFile] = []
        mentioned, replied = first.mentions_bot, first.reply_to_bot
        for payload in album:
            update = Update.de_json(payload, self.bot)
            part = to_incoming(update, self._username)
            if part is None or update.message is None:
                continue
            texts.append(part.text)
            files.extend(image_files(update.message))
            mentioned, replied = mentioned or part.mentions_bot, replied or part.reply_to_bot
        text = "\n".join(t for t in texts if t)
        return replace(first, text=text, mentions_bot=mentioned, reply_to_bot=replied), tuple(files)

    async def _download(self, files: Sequence[ImageFile]) -> tuple[ImageInput, ...]:
        images = []
        for file in files:
            try:
                found = await self.bot.get_file(file.file_id)
                data = await found.download_as_bytearray()
            except TelegramError as error:  # e.g. "file is too big" (20 MB on Telegram's servers)
                log.warning("could not download a Telegram file: %s", error)
                continue
            images.append(ImageInput(bytes(data), file.mime))
        return tuple(images)

    def _target(self, update: Update, message: IncomingMessage) -> Target:
        query = update.callback_query
        vote = bool(message.callback_data and message.callback_data.startswith(FEEDBACK_PREFIX))
        reply_to = update.message.message_id if update.message is not None and message.is_group else None
        return Target(
            chat_id=int(message.chat_id),
            thread_id=int(message.thread_id) if message.thread_id else None,
            is_group=message.is_group,
            reply_to=reply_to,
            query_id=query.id if query is not None else None,
            vote=vote,
        )

    async def _acknowledge(self, query: CallbackQuery, message: IncomingMessage) -> None:
        """Stop the button's spinner (a vote's thanks comes later) and remove a clarification's keyboard."""
        data = message.callback_data or ""
        try:
            if not data.startswith(FEEDBACK_PREFIX):
                await query.answer()
            source = query.message
            if data.startswith(OPTION_PREFIX) and isinstance(source, Message):
                await self._outbox.send(
                    source.chat.id,
                    message.is_group,
                    lambda: self.bot.edit_message_reply_markup(source.chat.id, source.message_id, reply_markup=None),
                    paced=False,
                )
        except BadRequest as error:  # a press older than Telegram keeps it, or the keyboard is gone
            log.info("button press %s: %s", query.id, error)

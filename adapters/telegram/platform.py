"""Telegram as a ``Platform`` of ``nik serve``: in by long polling or webhook, out through PTB.

Lifecycle: ``start`` connects python-telegram-bot's ``ExtBot`` (``getMe`` tells
the bot's name), then either registers the webhook (``setWebhook`` with the
secret) or deletes it and starts long polling. A network failure on the way is
retried with backoff until Telegram answers (one warning per attempt; ``ready``
says "connecting" meanwhile); a token Telegram rejects stops ``nik serve``.
``stop`` runs the other way round.

**Store before acknowledging.** A webhook update is stored in the inbox
(``Dispatcher.submit``) before the 200; if storage is down the answer is 503 and
Telegram delivers again. Polling does the same with the offset: the next
``getUpdates`` confirms an update only after the inbox holds it (PTB's ``Updater``
would confirm it as soon as it is queued in memory, hence our own small loop). Both
store the update's JSON as Telegram sent it; one that PTB cannot read is refused
(webhook: 400) or, polled, logged and confirmed so that it does not come back.

**Process.** The dispatcher calls ``process`` per chat in order — also after a
restart, from the stored JSON alone: the payload becomes a ``telegram.Update``
again (an update this process has just stored is kept as parsed for its turn),
``to_incoming`` turns it into the core's message, images are downloaded (a
voice note only when the core will transcribe it: ``VoiceIntake.wants`` with the
duration and size the update reports), and the core's replies are shown through
``TurnOutput``.
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
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, CallbackQuery, Message, ReplyParameters, Update
from telegram.error import BadRequest, InvalidToken, TelegramError

from adapters.telegram.albums import Albums
from adapters.telegram.client import CONNECT, POLL, SEND, fetch_updates, make_bot
from adapters.telegram.menu import publish_menu
from adapters.telegram.replies import NO_PREVIEW, Target, TurnOutput
from adapters.telegram.translate import (
    DOWNLOAD_BYTES,
    AudioFile,
    DocumentFile,
    ImageFile,
    audio_file,
    chat_key_of,
    document_file,
    image_files,
    to_incoming,
)
from bot.core.messages import (
    FEEDBACK_PREFIX,
    OPTION_PREFIX,
    AudioInput,
    DocumentInput,
    ImageInput,
    IncomingMessage,
    Progress,
)
from bot.errors import ConfigError
from bot.runtime.composition import Nik
from bot.runtime.jobs import Report
from bot.runtime.retry import Retry
from bot.support.outbox import Post, PostFailed
from storage.errors import StorageError
from storage.inbox import Delivery
from storage.store import ChatKey, Receipt

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_PATH = "/telegram/webhook"
STORAGE_ERRORS = (StorageError, SQLAlchemyError, OSError)
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Seconds between storing a batch of polled updates and asking for the next (PTB's ``poll_interval``):
# building a getUpdates request takes the loop ~0.5 ms, which a turn that just started would
# otherwise wait for before its reply goes out; an update arriving meanwhile waits this long.
POLL_INTERVAL = 0.002
PARSED_KEPT = 1000  # parsed updates kept for their turn (a turn parses from the stored JSON otherwise)


class TelegramPlatform:
    name = "telegram"

    def __init__(
        self,
        nik: Nik,
        *,
        backoff: float = 0.5,
        album_quiet: float = 1.5,
        poll_timeout: float = 25.0,
        poll_interval: float = POLL_INTERVAL,
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
        self._bot = make_bot(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base_url)
        # the retry policies, their first wait ``backoff`` seconds (tests make it short)
        self._send = replace(SEND, first=backoff)
        self._connecting = replace(CONNECT, first=backoff)
        self._polling = replace(POLL, first=backoff)
        self._storing = Retry(_storage_failed, first=backoff, level=logging.ERROR)
        self._albums = Albums(album_quiet)
        self._poll_timeout = poll_timeout
        self._poll_interval = poll_interval
        self._typing_every = typing_every
        self._draft_every = draft_every
        self._max_image = settings.max_image_bytes
        self._admins = settings.admins
        self._username = ""
        self._poller: asyncio.Task[None] | None = None
        self._parsed: dict[tuple[ChatKey, str], Update] = {}  # stored here, not yet processed: parsed once

    @property
    def bot(self) -> Bot:
        return self._bot

    # --- Platform -------------------------------------------------------------------------------

    def routes(self) -> Sequence[web.RouteDef]:
        return [web.post(self._path, self._webhook)] if self._webhook_url else []

    async def start(self) -> None:
        try:
            await self._connecting.run("Telegram: connecting", self._connect)
        except InvalidToken:  # PTB's message repeats the token: never log it
            raise ConfigError("TELEGRAM_BOT_TOKEN wurde von Telegram abgelehnt.") from None
        if self._webhook_url:
            log.warning("Telegram @%s: webhook %s", self._username, self._path)
        else:
            self._poller = asyncio.create_task(self._poll(), name="nik-telegram-polling")
            log.warning("Telegram @%s: long polling", self._username)

    async def _connect(self) -> None:
        await self._bot.initialize()  # getMe (once it has answered, initialize returns at once)
        if self._webhook_url:
            await self.bot.set_webhook(self._webhook_url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES)
        else:
            await self.bot.delete_webhook()
        self._username = self.bot.username
        await publish_menu(self.bot, self._admins)

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self._bot.shutdown()

    async def ready(self) -> tuple[bool, str]:
        if not self._username:
            return False, "connecting"
        if self._webhook_url:
            return True, f"@{self._username} webhook"
        alive = self._poller is not None and not self._poller.done()
        return alive, f"@{self._username} polling" if alive else "polling stopped"

    async def notify(self, chat_id: str, text: str) -> None:
        """A plain note from Nik itself (the scheduled sync's summary) to ``chat_id``."""
        await self._send.run(f"a note to chat {chat_id}", lambda: self.bot.send_message(chat_id, text))

    async def post(self, key: ChatKey, post: Post) -> tuple[str, ...]:
        """A message into any chat, outside its turn (the support desk's ``Outbox``): the text
        (plain, as typed), then each photo as a reply to it; the ids of the messages sent."""
        try:
            chat_id = int(key.chat_id)
            topic = int(key.thread_id) if key.thread_id else None
            reply_to = int(post.reply_to) if post.reply_to else None
        except ValueError:
            raise PostFailed(f"not a Telegram chat: {key.chat_id!r}") from None

        def replying(message_id: int | None) -> ReplyParameters | None:
            return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None

        try:
            sent = await self._send.run(
                f"a post to chat {chat_id}",
                lambda: self.bot.send_message(
                    chat_id,
                    post.clipped,
                    message_thread_id=topic,
                    reply_parameters=replying(reply_to),
                    link_preview_options=NO_PREVIEW,
                ),
            )
            ids = [str(sent.message_id)]
            for photo in post.photos:
                shown = await self._send.run(
                    f"a photo to chat {chat_id}",
                    partial(
                        self.bot.send_photo,
                        chat_id,
                        photo,
                        message_thread_id=topic,
                        reply_parameters=replying(sent.message_id),
                    ),
                )
                ids.append(str(shown.message_id))
        except TelegramError as error:
            raise PostFailed(f"Telegram refused a post to chat {chat_id}: {error}") from error
        return tuple(ids)

    def progress_note(self, key: ChatKey) -> Report:
        """A background job's progress in ``key``'s chat (its topic too): one message, sent
        by the first report and edited in place by the later ones, after the turn is over."""
        topic = int(key.thread_id) if key.thread_id else None
        output = TurnOutput(self.bot, Target(int(key.chat_id), topic, key.chat_id.startswith("-")), send=self._send)

        async def show(progress: Progress) -> None:
            try:
                await output.show(progress)
            except TelegramError as error:  # a lost progress edit is harmless: the next one follows
                log.warning("progress note in chat %s not shown: %s", key.chat_id, error)

        return show

    async def process(self, delivery: Delivery, receipt: Receipt) -> None:
        update = self._parsed.pop((delivery.key, delivery.message_id), None)
        if update is None:  # stored by an earlier process (or this one, long ago): from its JSON
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
        audio = audio_file(update.message) if update.message is not None else None
        if audio is not None:
            message = replace(message, audio=await self._hear(audio))
        document = document_file(update.message) if update.message is not None else None
        if document is not None:
            message = replace(message, document=await self._fetch_document(document, message.user_id))
        target = self._target(update, message)
        query = update.callback_query
        if query is not None:
            await self._acknowledge(query, message)
        output = TurnOutput(
            self.bot, target, send=self._send, typing_every=self._typing_every, draft_every=self._draft_every
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
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        update = self._read(payload)
        if update is None:
            return web.Response(status=400)
        try:
            await self._ingest(update, payload)
        except STORAGE_ERRORS as error:
            log.error("could not store Telegram update %s: %s", update.update_id, error)
            return web.Response(status=503)  # Telegram delivers it again
        return web.Response(status=200)

    async def _ingest(self, update: Update, payload: dict[str, Any]) -> None:
        """Store the update as Telegram sent it (``payload``; a re-delivery is dropped by the inbox) and queue it."""
        found = chat_key_of(update)
        if found is None:
            return
        key, message_id = found
        stored = await self._nik.dispatcher.submit(key, message_id, payload)
        if stored:
            if len(self._parsed) >= PARSED_KEPT:  # updates another process took over are never processed here
                del self._parsed[next(iter(self._parsed))]
            self._parsed[key, message_id] = update
        if stored and update.message is not None and update.message.media_group_id:
            self._albums.add(key.chat_id, update.message.media_group_id, message_id, payload)

    async def _poll(self) -> None:
        """Fetch, store, confirm (with the next ``getUpdates``), for as long as the platform runs.

        ``getUpdates`` is retried while the network or another poller is in the way;
        an update that cannot be stored is retried until it is (Telegram keeps it meanwhile)."""
        offset: int | None = None
        while True:
            payloads = await self._polling.run("getUpdates", partial(self._fetch, offset))
            for payload in payloads:
                update = self._read(payload)
                if update is None:  # confirmed all the same, or it would come back forever
                    log.error("Telegram sent an update Nik cannot read, skipped: %.300r", payload)
                    if isinstance(payload, dict) and isinstance(payload.get("update_id"), int):
                        offset = payload["update_id"] + 1
                    continue
                await self._storing.run(
                    f"storing Telegram update {update.update_id}", partial(self._ingest, update, payload)
                )
                offset = update.update_id + 1  # confirmed with the next getUpdates
            if payloads:  # the stored updates' turns send their first replies before the next getUpdates is built
                await asyncio.sleep(self._poll_interval)

    async def _fetch(self, offset: int | None) -> list[Any]:
        return await fetch_updates(self.bot, offset, self._poll_timeout, ALLOWED_UPDATES)

    # --- helpers --------------------------------------------------------------------------------

    def _read(self, payload: Any) -> Update | None:
        """The update in Telegram's JSON, or None when it is none (not an object, fields missing)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return None
        try:
            return Update.de_json(payload, self.bot)
        except (AttributeError, KeyError, TypeError, ValueError):  # what PTB raises for a malformed field
            return None

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

    async def _hear(self, file: AudioFile) -> AudioInput:
        """A voice note for the core: its bytes only when it will be transcribed (else none, and the
        core says why); what Telegram reported about it either way. Kept in memory only."""
        data, size = b"", file.size
        if self._nik.voice.wants(file.seconds, size):
            try:
                found = await self.bot.get_file(file.file_id)
                size = size if size is not None else found.file_size
                if self._nik.voice.wants(file.seconds, size):
                    data = bytes(await found.download_as_bytearray())
            except TelegramError as error:
                log.warning("could not download a Telegram voice note: %s", error)
        return AudioInput(data, file.mime, file.seconds, file.name, size)

    async def _fetch_document(self, file: DocumentFile, user_id: str) -> DocumentInput:
        """A document for the core: its bytes only when it is an admin's, within ``NIK_MAX_MANUAL_BYTES`` and
        the Bot API's download limit (else none, and the core says why); the reported size either way."""
        data, size = b"", file.size
        uploads = self._nik.commands.uploads
        within = size is None or size <= DOWNLOAD_BYTES
        if within and uploads is not None and uploads.wants("telegram", user_id, size):
            try:
                found = await self.bot.get_file(file.file_id)
                size = size if size is not None else found.file_size
                if (size is None or size <= DOWNLOAD_BYTES) and uploads.wants("telegram", user_id, size):
                    data = bytes(await found.download_as_bytearray())
            except TelegramError as error:
                log.warning("could not download a Telegram document: %s", error)
        return DocumentInput(data, file.mime, file.name, size)

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
                chat_id, message_id = source.chat.id, source.message_id
                await self._send.run(
                    "removing a keyboard",
                    lambda: self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None),
                )
        except BadRequest as error:  # a press older than Telegram keeps it, or the keyboard is gone
            log.info("button press %s: %s", query.id, error)


def _storage_failed(error: BaseException) -> bool:
    return isinstance(error, STORAGE_ERRORS)

"""Microsoft Teams in ``nik serve``: ``POST /api/messages`` acknowledges fast, turns run later.

The route checks Content-Type (415) and the token (401, nothing stored), stores the
activity JSON in the inbox through the dispatcher and answers 201 at once — Teams
gives a bot about 15 s, a turn with the LLM may take a minute. The dispatcher then
calls ``process`` per chat in order (also after a restart): it rebuilds everything
from the stored activity, saves the conversation reference through the core's
store, downloads inline images (and a voice message, when the core will transcribe
it: ``VoiceIntake.wants`` with the duration an audio card reports), and runs the conversation inside
``CloudAdapter.continue_conversation`` (a proactive turn), rendering the replies.

Without ``TEAMS_APP_ID`` nothing is authenticated; that is only allowed with
``NIK_ENV=development`` and ``NIK_TEAMS=true`` (the Bot Framework Emulator).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from botbuilder.core import MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, Attachment, ConversationReference
from msrest.exceptions import DeserializationError

from adapters.files import FileShelf
from adapters.teams.auth import (
    PUBLIC_CLOUD,
    AuthError,
    Cloud,
    KeysUnavailable,
    NikAuthentication,
    TokenUnavailable,
    TokenValidator,
    credentials_factory,
)
from adapters.teams.render import Renderer, file_info_activity, text_activity
from adapters.teams.stream import EVERY
from adapters.teams.translate import (
    FILE_HOSTS,
    PLATFORM,
    THREAD_MARK,
    AudioRef,
    FileRef,
    ImageRef,
    added_the_bot,
    audio_attachment,
    chat_key,
    file_download,
    inline_images,
    shared_files,
    to_incoming,
)
from adapters.web import file_route
from bot.core.messages import AudioInput, DocumentInput, ImageInput, Progress, Reply
from bot.errors import ConfigError
from bot.runtime.composition import Nik
from bot.runtime.jobs import Report
from bot.support.outbox import Post, PostFailed
from bot.voice.transcriber import audio_name
from storage.inbox import Delivery
from storage.store import ChatKey, Receipt

log = logging.getLogger(__name__)

ROUTE = "/api/messages"
STORED_TYPES = frozenset({ActivityTypes.message, ActivityTypes.conversation_update})
APP_TYPES = {"multitenant", "singletenant", "userassignedmsi"}
# hosts the bot's token may be sent to for attachment downloads (and their subdomains)
TRUSTED_HOSTS = ("botframework.com", "teams.microsoft.com", "smba.trafficmanager.net", "asm.skype.com")
WELCOME = (
    "Hallo, ich bin **Nik**! Ich beantworte Fragen aus den Produkt-Handbüchern – mit Handbuch und Seite "
    "als Quelle. Schreiben Sie einfach Ihre Frage (in Gruppen und Kanälen mit @Nik). "
    "Fotos vom Display können Sie direkt in den Chat einfügen. **help** zeigt alle Befehle."
)
FILES_NOTE = (
    "Dateien aus SharePoint/OneDrive kann ich nicht öffnen. Fotos lese ich, wenn Sie sie direkt "
    "in den Chat einfügen (kopieren und einfügen oder über das Bild-Symbol)."
)
_Turn = Callable[[Renderer], Awaitable[object]]
IMAGE_FAILED = "Ein Bild konnte ich nicht laden – bitte schicken Sie es noch einmal."
FILE_CONSENT_INVOKE = "fileConsent/invoke"
FILE_DECLINED = "In Ordnung, ich schicke die Datei nicht."
FILE_EXPIRED = "Die Datei ist nicht mehr da – bitte fordern Sie sie noch einmal an (z. B. mit /pdf)."
UPLOAD_FAILED = "Die Datei konnte ich nicht in Ihr OneDrive hochladen – bitte versuchen Sie es noch einmal."


class TeamsPlatform:
    name = PLATFORM

    def __init__(
        self, nik: Nik, *, cloud: Cloud = PUBLIC_CLOUD, typing_every: float = 3.0, stream_every: float | None = EVERY
    ) -> None:
        settings = nik.settings
        self._nik = nik
        self._app_id = settings.teams_app_id or ""
        self._typing_every = typing_every
        self._stream_every = stream_every  # personal chats stream at most this often (None: never)
        app_type = settings.teams_app_type.strip().lower()
        if app_type not in APP_TYPES:
            raise ConfigError("TEAMS_APP_TYPE muss MultiTenant, SingleTenant oder UserAssignedMSI sein.")
        secret = settings.teams_app_password.get_secret_value() if settings.teams_app_password else None
        if self._app_id:
            if app_type != "userassignedmsi" and not secret:
                raise ConfigError("TEAMS_APP_PASSWORD fehlt (das Client-Secret der Azure-Bot-Registrierung).")
            if app_type in ("singletenant", "userassignedmsi") and not settings.teams_app_tenant_id:
                raise ConfigError(f"TEAMS_APP_TENANT_ID fehlt (nötig für TEAMS_APP_TYPE={settings.teams_app_type}).")
        elif settings.env.lower() == "development" and settings.teams_enabled:
            log.warning("Teams runs WITHOUT authentication (no TEAMS_APP_ID, NIK_ENV=development): local tests only")
        else:
            raise ConfigError(
                "TEAMS_APP_ID fehlt: ohne App-ID prüft Nik keine Anfragen. Nur zum lokalen Testen mit dem "
                "Bot Framework Emulator: NIK_ENV=development und NIK_TEAMS=true setzen."
            )
        self._trusted = TRUSTED_HOSTS + tuple(h.lower() for h in settings.teams_trusted_hosts)
        self._http: aiohttp.ClientSession | None = None
        self._credentials = credentials_factory(
            self._app_id, secret, settings.teams_app_tenant_id, app_type, self._session
        )
        validator = TokenValidator(cloud, self._app_id, self._session) if self._app_id else None
        self._cloud = cloud
        self._auth = NikAuthentication(cloud, self._credentials, validator)
        self._adapter = CloudAdapter(self._auth)
        self._adapter.on_turn_error = self._on_turn_error
        self._files = FileShelf.from_settings(settings)  # files wait here for the consent upload or their link

    # -- Platform ------------------------------------------------------------------

    def routes(self) -> Sequence[web.RouteDef]:
        return [web.post(ROUTE, self._receive), file_route(self._files)]

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def ready(self) -> tuple[bool, str]:
        mode = f"app {self._app_id}" if self._app_id else "unauthenticated (development)"
        return self._http is not None, mode

    async def process(self, delivery: Delivery, receipt: Receipt) -> None:
        activity = Activity().deserialize(delivery.payload)
        reference = TurnContext.get_conversation_reference(activity)
        await self._nik.store.save_reference(delivery.key, reference.serialize())
        stored = await self._nik.store.reference(delivery.key)
        reference = ConversationReference().deserialize(stored)
        if added_the_bot(activity):
            await self._continue(reference, lambda renderer: renderer.send(text_activity(WELCOME)))
            return
        message = to_incoming(activity)
        if message is None:
            return
        upload = file_download(activity)
        uploads = self._nik.commands.uploads
        if upload is not None and (uploads is None or not uploads.wants(PLATFORM, message.user_id, None)):
            upload = None  # not an admin's: the note on shared files, as for any file
        files = shared_files(activity) if upload is None else []
        if upload is not None:
            message = replace(message, document=await self._fetch_file(upload))
        images, failed = await self._download(inline_images(activity))
        message = replace(message, images=tuple(images))
        audio = audio_attachment(activity)
        if audio is not None:
            message = replace(message, audio=await self._hear(audio))

        async def turn(renderer: Renderer) -> None:
            if files:
                await renderer.send(text_activity(FILES_NOTE))
            if failed:
                await renderer.send(text_activity(IMAGE_FAILED))
            if files and not message.text and not message.images and not message.callback_data:
                return  # only a shared file: the note is the answer
            handled = cast(AsyncGenerator[Reply, None], self._nik.conversation.handle(message, receipt=receipt))
            async with aclosing(handled) as replies:  # a failed send stops the turn (and its engine) at once
                async for reply in replies:
                    await renderer.render(reply)

        await self._continue(reference, turn)

    async def notify(self, chat_id: str, text: str) -> None:
        """A note of Nik's own (the scheduled sync's summary) into a chat Nik has been in."""
        stored = await self._nik.store.reference(ChatKey("teams", chat_id))
        if stored is None:
            log.warning("no conversation reference for Teams chat %s yet: the note stays in the log", chat_id)
            return
        reference = ConversationReference().deserialize(stored)
        await self._continue(reference, lambda renderer: renderer.send(text_activity(text)))

    async def post(self, key: ChatKey, post: Post) -> tuple[str, ...]:
        """A proactive message into a chat Nik has been in (the support desk's ``Outbox``).

        Needs a stored conversation reference of that chat (any of its threads: a channel
        Nik was mentioned in once, or was installed into). ``post.reply_to`` (or the key's
        thread) makes it a reply in that thread; otherwise it is a new post. Photos go
        inline, as data URIs."""
        stored = await self._nik.store.reference(key) or await self._nik.store.any_reference(PLATFORM, key.chat_id)
        if stored is None:
            raise PostFailed(f"no conversation reference for Teams chat {key.chat_id}: add Nik there, mention it once")
        reference = ConversationReference().deserialize(stored)
        thread = post.reply_to or key.thread_id
        reference.conversation.id = key.chat_id + (f"{THREAD_MARK}{thread}" if thread else "")
        reference.activity_id = None  # not a reply to some earlier activity
        activity = MessageFactory.text(post.clipped)
        activity.text_format = "plain"
        activity.attachments = [
            Attachment(
                content_type="image/jpeg",
                content_url="data:image/jpeg;base64," + base64.b64encode(photo).decode("ascii"),
                name=f"Foto {number}.jpg",
            )
            for number, photo in enumerate(post.photos, start=1)
        ] or None
        ids: list[str] = []

        async def turn(renderer: Renderer) -> None:
            sent = await renderer.send(activity)
            if sent:
                ids.append(sent)

        await self._continue(reference, turn)  # a failure is logged by _on_turn_error
        if not ids:
            raise PostFailed(f"the Teams connector did not take a post to {key.chat_id}")
        return tuple(ids)

    def progress_note(self, key: ChatKey) -> Report:
        """A background job's progress in ``key``'s chat: one message, sent by the first
        report and updated by the later ones, each through ``continue_conversation``."""
        activity_id: str | None = None  # the message's, once sent

        async def show(progress: Progress) -> None:
            stored = await self._nik.store.reference(key)
            if stored is None:
                log.warning("no conversation reference for Teams chat %s: progress stays in the log", key.chat_id)
                return

            async def turn(renderer: Renderer) -> None:
                nonlocal activity_id
                renderer.progress_id = activity_id
                await renderer.render(progress)
                activity_id = renderer.progress_id

            await self._continue(ConversationReference().deserialize(stored), turn)  # errors: _on_turn_error

        return show

    # -- inbound -------------------------------------------------------------------

    async def _receive(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.Response(status=415, text="Content-Type must be application/json")
        try:
            body = await request.json()
            activity = Activity().deserialize(body) if isinstance(body, dict) else None
        except (ValueError, DeserializationError):
            activity = None
        if activity is None or not activity.type:
            return web.Response(status=400, text="not an activity")
        try:
            await self._auth.claims(activity, request.headers.get("Authorization", ""))
        except AuthError as error:
            log.warning("rejected a Teams request: %s", error)
            return web.Response(status=401)
        except KeysUnavailable as error:
            log.error("cannot check Teams tokens: %s", error)
            return web.Response(status=503)
        if activity.type == ActivityTypes.invoke and activity.name == FILE_CONSENT_INVOKE and activity.conversation:
            await self._file_consent(activity)
            return web.json_response({}, status=200)
        if activity.type not in STORED_TYPES or not activity.conversation or not activity.conversation.id:
            return web.Response(status=200)  # reactions, typing, invokes…: nothing to answer
        if activity.type == ActivityTypes.conversation_update and not added_the_bot(activity):
            return web.Response(status=200)
        message_id = activity.id or hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
        fresh = await self._nik.dispatcher.submit(chat_key(activity), message_id, body)
        if not fresh:
            log.info("Teams re-delivered activity %s", message_id)
        return web.Response(status=201)

    async def _file_consent(self, activity: Activity) -> None:
        """The user's answer to a file-consent card: on accept, PUT the file to their OneDrive and show it."""
        value = activity.value if isinstance(activity.value, dict) else {}
        context = _mapping(value.get("context"))
        shelved = self._files.get(str(context.get("token", "")))
        upload = _mapping(value.get("uploadInfo"))
        reference = TurnContext.get_conversation_reference(activity)
        if value.get("action") != "accept":
            note = text_activity(FILE_DECLINED)
        elif shelved is None or not upload.get("uploadUrl"):
            note = text_activity(FILE_EXPIRED)
        else:
            size = len(shelved.data)
            headers = {"Content-Length": str(size), "Content-Range": f"bytes 0-{size - 1}/{size}"}
            try:
                async with self._session().put(str(upload["uploadUrl"]), data=shelved.data, headers=headers) as sent:
                    uploaded = sent.status < 300
                    if not uploaded:
                        log.warning("Teams file upload refused: HTTP %d", sent.status)
            except aiohttp.ClientError as error:
                log.warning("Teams file upload failed: %s", error)
                uploaded = False
            note = file_info_activity(upload) if uploaded else text_activity(UPLOAD_FAILED)
        await self._continue(reference, lambda renderer: renderer.send(note))

    # -- outbound ------------------------------------------------------------------

    async def _continue(self, reference: ConversationReference, turn: _Turn) -> None:
        async def logic(context: TurnContext) -> None:
            # the continuation activity has a made-up id; replies should answer the user's message
            context.activity.id = reference.activity_id
            renderer = Renderer(
                context, typing_every=self._typing_every, stream_every=self._stream_every, files=self._files
            )
            try:
                await turn(renderer)
            finally:
                await renderer.close()

        await self._adapter.continue_conversation(reference, logic, bot_app_id=self._app_id or None)

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """botbuilder's error hook: a reply that could not be sent (the core has its own boundary)."""
        log.error("Teams turn in %s failed: %r", context.activity.conversation.id, error, exc_info=error)

    async def _download(self, refs: list[ImageRef]) -> tuple[list[ImageInput], int]:
        """The images from trusted hosts, with the bot's token; how many could not be loaded."""
        images: list[ImageInput] = []
        failed = 0
        limit = self._nik.settings.max_image_bytes
        for ref in refs:
            if not self._is_trusted(ref.url):
                log.warning("not downloading an image from untrusted host %s", urlsplit(ref.url).hostname)
                failed += 1
                continue
            try:
                headers = {"Authorization": f"Bearer {await self._token()}"} if self._app_id else {}
                async with self._session().get(
                    ref.url, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=30)
                ) as response:
                    response.raise_for_status()
                    data = await response.content.read(limit + 1)
            except (aiohttp.ClientError, TimeoutError, TokenUnavailable) as error:
                log.warning("image download failed: %r", error)
                failed += 1
                continue
            if len(data) > limit:
                failed += 1
                continue
            images.append(ImageInput(data, ref.mime))
        return images, failed

    async def _hear(self, ref: AudioRef) -> AudioInput:
        """A voice message for the core: its bytes (from a trusted host, with the bot's token, at most
        ``NIK_MAX_VOICE_BYTES``) only when it will be transcribed; else none, and the core says why."""
        voice = self._nik.voice
        mime = ref.mime or "audio/ogg"
        if not voice.wants(ref.seconds, None):
            return AudioInput(b"", mime, ref.seconds, ref.name or audio_name(mime))
        if not self._is_trusted(ref.url):
            log.warning("not downloading audio from untrusted host %s", urlsplit(ref.url).hostname)
            return AudioInput(b"", mime, ref.seconds, ref.name or audio_name(mime))
        try:
            headers = {"Authorization": f"Bearer {await self._token()}"} if self._app_id else {}
            async with self._session().get(
                ref.url, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=30)
            ) as response:
                response.raise_for_status()
                if ref.mime is None and response.content_type.startswith("audio/"):
                    mime = response.content_type
                data = await response.content.read(voice.max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError, TokenUnavailable) as error:
            log.warning("audio download failed: %r", error)
            data = b""
        name = ref.name or audio_name(mime)
        if len(data) > voice.max_bytes:  # the core refuses it as too big; the bytes are not kept
            return AudioInput(b"", mime, ref.seconds, name, size=len(data))
        return AudioInput(data, mime, ref.seconds, name)

    async def _fetch_file(self, ref: FileRef) -> DocumentInput:
        """An admin's uploaded file for the core: its bytes only when at most ``NIK_MAX_MANUAL_BYTES``,
        fetched from exactly the URL Teams gave (a SharePoint/OneDrive host or a trusted one, no
        redirects, no token: the URL is pre-authenticated); else none, and the core says why."""
        mime = "application/pdf" if ref.file_type.lower() == "pdf" else "application/octet-stream"
        uploads = self._nik.commands.uploads
        if uploads is None:
            return DocumentInput(b"", mime, ref.name)
        if not self._is_file_host(ref.url):
            log.warning("not downloading a file from untrusted host %s", urlsplit(ref.url).hostname)
            return DocumentInput(b"", mime, ref.name)
        try:
            async with self._session().get(
                ref.url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=120)
            ) as response:
                response.raise_for_status()
                if response.status != 200:  # a redirect elsewhere is not followed
                    log.warning("file download answered %d", response.status)
                    return DocumentInput(b"", mime, ref.name)
                data = await response.content.read(uploads.max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("file download failed: %r", error)
            return DocumentInput(b"", mime, ref.name)
        if len(data) > uploads.max_bytes:  # the core refuses it as too big; the bytes are not kept
            return DocumentInput(b"", mime, ref.name, size=len(data))
        return DocumentInput(data, mime, ref.name, size=len(data))

    def _is_file_host(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        on_files = parts.scheme == "https" and any(host == h or host.endswith(f".{h}") for h in FILE_HOSTS)
        return on_files or self._is_trusted(url)

    async def _token(self) -> str:
        credentials = await self._credentials.create_credentials(
            self._app_id, self._cloud.oauth_scope, self._cloud.login_url, True
        )
        return str(await asyncio.to_thread(credentials.get_access_token))  # cached: MSAL may block

    def _is_trusted(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host:
            return False
        for trusted in self._trusted:
            if host == trusted or host.endswith(f".{trusted}"):
                return parts.scheme == "https" or trusted not in TRUSTED_HOSTS  # our own list may be http
        return False

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("the Teams platform is not started")
        return self._http


def _mapping(value: object) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}

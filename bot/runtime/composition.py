"""The one place that wires Nik together: settings → knowledge, store, engine, conversation.

Nothing starts at import time. ``open_nik`` opens the chat store and closes it
again on the way out; the CLI (and later the web process) runs inside it::

    async with open_nik(settings) as nik:
        async for reply in nik.conversation.handle(message): ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from bot.agent.agent import LlmAgent
from bot.agent.llm import LlmClient
from bot.config import Settings
from bot.core.commands import Commands
from bot.core.conversation import Conversation
from bot.core.gate import Gate
from bot.core.turn import Engine
from bot.core.uploads import Uploads
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.photos.intake import PhotoIntake, PhotoStore
from bot.photos.vision import PhotoReader
from bot.runtime.dispatcher import Dispatcher
from bot.runtime.jobs import Jobs
from bot.runtime.metrics import Metrics
from bot.runtime.scheduler import Chore
from bot.support.desk import SupportDesk, support_target
from bot.support.outbox import Outboxes
from bot.voice.intake import VoiceIntake
from bot.voice.transcriber import DEFAULT_MODEL, SpeechClient
from knowledge.embedder import make_embedder
from knowledge.ocr import RapidOcr
from knowledge.rerank import CohereReranker
from knowledge.service import KnowledgeBase
from storage.cases import Cases
from storage.db import database_url
from storage.inbox import Inbox
from storage.store import Store, utc_now

CLAIMS_KEPT = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Nik:
    settings: Settings
    knowledge: KnowledgeBase
    store: Store
    engine: Engine
    conversation: Conversation
    dispatcher: Dispatcher  # runs stored platform updates (``nik serve``); started by the server
    metrics: Metrics
    commands: Commands
    jobs: Jobs  # long work outside the turn (reindex); platforms register their notes with it
    chores: tuple[Chore, ...]  # periodic pruning, run by the scheduler of ``nik serve``
    support: SupportDesk  # hand-off to humans; platforms that can post outside a turn register with it
    voice: VoiceIntake = field(default_factory=lambda: VoiceIntake(None))  # adapters ask it before downloading


def build_knowledge(settings: Settings) -> KnowledgeBase:
    """Wire the knowledge base from settings (embedder, optional reranker, OCR for scanned pages)."""
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    embedder = make_embedder(settings.embedder, api_key, settings.openai_base_url)
    reranker = None
    if settings.cohere_api_key is not None:
        reranker = CohereReranker(
            settings.cohere_api_key.get_secret_value(), settings.rerank_model, settings.cohere_base_url
        )
    return KnowledgeBase(settings.index_uri, settings.data_dir, embedder, reranker, ocr=RapidOcr())


def build_llm(settings: Settings) -> LlmClient | None:
    """The chat-completions client when ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` is set."""
    if not settings.llm_configured:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return LlmClient(key, settings.openai_base_url)


def build_engine(
    settings: Settings,
    knowledge: KnowledgeBase,
    llm: LlmClient | None,
    reader: PhotoReader | None = None,
    photos: PhotoStore | None = None,
) -> Engine:
    """The LLM agent when one is configured, else the offline extractive answerer;
    both read photos with ``reader``; the agent re-reads a paused turn's photos from ``photos``."""
    if llm is not None:
        return LlmAgent(knowledge, llm, settings.llm_model, reader=reader, photos=photos)
    return OfflineEngine(OfflineAnswerer(knowledge), reader)


def build_photos(settings: Settings) -> PhotoIntake:
    """Photo safety checks and the per-chat photo folder under ``NIK_DATA_DIR``."""
    store = PhotoStore(settings.data_dir / "photos", settings.photo_retention_days)
    return PhotoIntake(store, settings.max_image_bytes)


def build_voice(settings: Settings) -> VoiceIntake:
    """Voice notes: their own speech server (``NIK_STT_BASE_URL``, ``NIK_STT_API_KEY``), else the
    LLM's endpoint and key once ``NIK_STT_MODEL`` is set; without either, notes say what is missing.
    (The LLM's key is never sent to another server.)"""
    limits = partial(VoiceIntake, max_seconds=settings.max_voice_seconds, max_bytes=settings.max_voice_bytes)
    if not settings.voice_configured:
        return limits(None)
    base_url: str | None
    if settings.stt_base_url:
        secret, base_url = settings.stt_api_key, settings.stt_base_url
    else:
        secret, base_url = settings.openai_api_key, settings.openai_base_url
    client = SpeechClient(
        secret.get_secret_value() if secret else None,
        base_url,
        settings.stt_model or DEFAULT_MODEL,
        language=settings.stt_language,
        seconds=settings.stt_seconds,
    )
    return limits(client)


def build_uploads(settings: Settings, store: Store, jobs: Jobs) -> Uploads:
    """Admins' manuals from the chat go to ``NIK_MANUALS_DIR``; a replacement waits under ``NIK_DATA_DIR``."""
    staging = settings.data_dir / "uploads"
    return Uploads(store, jobs, settings.manuals_dir, staging, settings.admins, settings.max_manual_bytes)


def llm_label(settings: Settings) -> str:
    """What /status calls the answering engine."""
    return settings.llm_model if settings.llm_configured else "offline"


async def _forget_old_claims(inbox: Inbox) -> None:
    """Platforms stop re-delivering within a day; older answered updates can go."""
    await inbox.prune(utc_now() - CLAIMS_KEPT)


async def _prune_photos(photos: PhotoStore) -> None:
    await asyncio.to_thread(photos.prune)


@asynccontextmanager
async def open_nik(settings: Settings, knowledge: KnowledgeBase | None = None) -> AsyncIterator[Nik]:
    """Open the store and wire everything; the store is closed on exit."""
    kb = knowledge or build_knowledge(settings)
    store = await Store.open(database_url(settings.data_dir, settings.database_url))
    llm = build_llm(settings)
    voice = build_voice(settings)
    metrics = Metrics()
    kb.on_search = metrics.retrieval_seconds.observe
    try:
        photos = build_photos(settings)
        reader = PhotoReader(kb.ocr or RapidOcr(), settings.max_image_bytes)  # one OCR engine for both
        engine = build_engine(settings, kb, llm, reader, photos.store)
        jobs = Jobs(kb, settings.manuals_dir, metrics=metrics)
        uploads = build_uploads(settings, store, jobs)
        commands = Commands(
            knowledge=kb,
            store=store,
            admins=settings.admins,
            manuals_dir=settings.manuals_dir,
            llm=llm_label(settings),
            metrics=metrics,
            jobs=jobs,
            photos=photos.store,
            pdf_max_bytes=settings.pdf_max_bytes,
            uploads=uploads,
        )
        support = SupportDesk(
            store,
            Cases(store.engine),
            Outboxes(),
            support_target(settings.support_chat),
            engine=engine,
            photos=photos,
        )
        conversation = Conversation(
            store,
            engine,
            commands,
            window=settings.history_window,
            pause_hours=settings.pause_hours,
            gate=Gate.from_settings(settings),
            photos=photos,
            metrics=metrics,
            support=support,
            voice=voice,
        )
        inbox = Inbox(store.engine)
        dispatcher = Dispatcher(inbox, lease=timedelta(seconds=settings.turn_lease_seconds))
        chores = (partial(_forget_old_claims, inbox), partial(_prune_photos, photos.store))
        try:
            yield Nik(
                settings, kb, store, engine, conversation, dispatcher, metrics, commands, jobs, chores, support, voice
            )
        finally:
            await jobs.stop()
            await conversation.aclose()  # its background summaries write to the store
    finally:
        if llm is not None:
            await llm.close()
        await voice.close()
        await store.close()

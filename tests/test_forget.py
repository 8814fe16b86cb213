"""/forget and ``nik forget``: a demo conversation in a private chat and a group (questions,
photos, votes, a pending question, the device, replies that quote the user, inbox rows), then
the user's data is deleted, on SQLite and PostgreSQL. Every table of ``storage.models`` is
searched for the user's id, name and texts (tables added later are covered), the photo
folder for their photos, and every row of the others is compared with before."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.commands import Commands
from bot.core.conversation import Conversation
from bot.core.messages import Answer, Clarification, ImageInput, IncomingMessage, Reply, feedback_data
from bot.core.privacy import forget_user
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.photos.intake import PhotoIntake, PhotoStore
from bot.photos.vision import PhotoReader
from knowledge.ocr import RapidOcr
from knowledge.service import KnowledgeBase
from photo_maker import LEVELS, display_photo, nameplate_photo
from storage.cases import Cases
from storage.forget import mentions
from storage.inbox import Inbox
from storage.models import Base
from storage.store import ChatKey, Receipt, Store

ANNA, BEN = "777001", "888002"
ANNA_NEEDLES = (ANNA, "Kanarienvogel")  # her id, her name, and a word in every text she writes
PRIVATE, GROUP = ChatKey("telegram", ANNA), ChatKey("telegram", "-100500")
Rows = dict[str, set[tuple[Any, ...]]]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Demo:
    """The conversation core with a real inbox: every message is stored first, as a webhook does."""

    def __init__(self, store: Store, conversation: Conversation, photos: PhotoStore, clock: Clock) -> None:
        self.store, self.conversation, self.photos, self.clock = store, conversation, photos, clock
        self.inbox = Inbox(store.engine)
        self._ids = itertools.count(1)

    async def say(
        self,
        key: ChatKey,
        user: str,
        text: str,
        *,
        image: bytes | None = None,
        quoting: dict[str, Any] | None = None,
        data: str | None = None,
    ) -> Answer | Clarification:
        n = next(self._ids)
        person = {"id": int(user), "first_name": "Anna" if user == ANNA else "Ben"}
        if user == ANNA:
            person["last_name"] = "Kanarienvogel"
        group = key != PRIVATE
        message: dict[str, Any] = {
            "message_id": n,
            "from": person,
            "chat": {"id": int(key.chat_id), "type": "supergroup" if group else "private"},
            ("caption" if image else "text"): text,
        }
        if quoting is not None:
            message["reply_to_message"] = quoting
        payload = {"update_id": n, "message": message}
        delivery = await self.inbox.put(key, str(n), payload, timedelta(minutes=5))
        assert delivery is not None
        name = "Anna Kanarienvogel" if user == ANNA else "Ben"
        images = (ImageInput(image, "image/jpeg"),) if image else ()
        incoming = IncomingMessage(
            "telegram",
            key.chat_id,
            user,
            name,
            str(n),
            text,
            images,
            is_group=group,
            mentions_bot=group,
            callback_data=data,
        )
        receipt = Receipt(delivery.id)
        replies: list[Reply] = [r async for r in self.conversation.handle(incoming, receipt=receipt)]
        if not receipt.closed.is_set():
            await self.inbox.done(delivery.id)  # what the dispatcher does after a turn that stored nothing
        last = replies[-1]
        assert isinstance(last, Answer | Clarification), replies
        return last

    async def vote(self, key: ChatKey, user: str, answer: Answer | Clarification) -> None:
        assert isinstance(answer, Answer) and answer.feedback_id is not None
        reply = await self.say(key, user, "", data=feedback_data(answer.feedback_id, 1))
        assert isinstance(reply, Answer) and "Danke" in reply.text


@pytest.fixture
async def demo(backend_url: str, sample_kb: KnowledgeBase, tmp_path: Path) -> AsyncIterator[Demo]:
    clock = Clock()
    store = await Store.open(backend_url, clock=clock)
    photos = PhotoStore(tmp_path / "photos", retention_days=30)
    commands = Commands(sample_kb, store, frozenset(), Path("unused"), "offline", photos=photos)
    engine = OfflineEngine(OfflineAnswerer(sample_kb), PhotoReader(RapidOcr()))
    conversation = Conversation(store, engine, commands, photos=PhotoIntake(photos, 1 << 24), clock=clock)
    try:
        yield Demo(store, conversation, photos, clock)
    finally:
        await store.close()


async def play(demo: Demo) -> None:
    """Anna and Ben talk to Nik; Anna has something in every table there is."""
    first = await demo.say(PRIVATE, ANNA, "Kanarienvogel fragt: was bedeutet E013?")
    await demo.vote(PRIVATE, ANNA, first)
    display = display_photo(["E013", "Fehlerstrom zu hoch"], LEVELS["easy"])
    seen = await demo.say(PRIVATE, ANNA, "Kanarienvogel-Foto", image=display)
    assert isinstance(seen, Answer) and "E013" in seen.text
    assert (await demo.say(PRIVATE, ANNA, "/device SF-5000TL")).text.startswith("Gerät gemerkt")

    hers = await demo.say(GROUP, ANNA, "Kanarienvogel in der Gruppe: Fehler E013?")
    his = await demo.say(GROUP, BEN, "Ben fragt: Isolationsfehler prüfen?")
    quoted = {"message_id": 4, "from": {"id": int(ANNA), "first_name": "Anna"}, "text": "Kanarienvogel in der Gruppe"}
    await demo.say(GROUP, BEN, "Ben antwortet Anna: E013 heißt Fehlerstrom", quoting=quoted)
    await demo.vote(GROUP, BEN, hers)
    await demo.vote(GROUP, ANNA, his)
    plate = nameplate_photo(["SolarFux", "Typ: SF-5000TL"])
    asked = await demo.say(GROUP, ANNA, "", image=plate)  # no code: a question back, and the device learned
    assert isinstance(asked, Clarification) and "Gerät gemerkt" in asked.question
    await demo.say(GROUP, BEN, "/device SF-3000TL")  # Ben's device replaces Anna's
    await demo.store.save_reference(GROUP, {"user": {"id": ANNA, "name": "Anna Kanarienvogel"}, "bot": {"id": "nik"}})
    assert (await demo.say(GROUP, BEN, "/forget")).buttons  # Ben asks too, and never confirms
    cases, support = Cases(demo.store.engine), ChatKey("telegram", "-100999")
    for n, (user, name) in enumerate([(ANNA, "Anna Kanarienvogel"), (BEN, "Ben")]):
        case = await cases.open(GROUP, user, name, f"{name}: Wechselrichter piept", support)  # as /support does
        await cases.posted(case.number, f"s{n}", root=True)


async def rows(store: Store) -> Rows:
    async with store.engine.connect() as conn:
        return {
            name: {tuple(row) for row in (await conn.execute(select(table))).all()}
            for name, table in Base.metadata.tables.items()
        }


def hers(row: tuple[Any, ...]) -> bool:
    return any(needle in str(value) for value in row for needle in ANNA_NEEDLES)


def hanging_off(before: Rows, owners: set[tuple[str, tuple[Any, ...]]]) -> set[tuple[str, tuple[Any, ...]]]:
    """Rows that reference one of ``owners`` through a foreign key (a case's posts), transitively."""
    found = set(owners)
    while True:
        more = set()
        for name, table in Base.metadata.tables.items():
            columns = [c.name for c in table.columns]
            for fk in table.foreign_keys:
                parent = fk.column.table
                at = [c.name for c in parent.columns].index(fk.column.name)
                keys = {row[at] for owner, row in found if owner == parent.name}
                mine = columns.index(fk.parent.name)
                more |= {(name, row) for row in before[name] if row[mine] in keys}
        if more <= found:
            return found
        found |= more


def answers_to_her(before: Rows, chats: set[int]) -> set[tuple[Any, ...]]:
    """Nik's answers right after Anna's messages (they go with her questions)."""
    table = Base.metadata.tables["messages"]
    columns = [c.name for c in table.columns]
    messages = [dict(zip(columns, row, strict=True)) for row in before["messages"]]
    asked = {(m["chat_row_id"], m["position"] + 1) for m in messages if m["user_id"] == ANNA}
    return {
        row
        for row, m in zip(before["messages"], messages, strict=True)
        if m["role"] == "assistant" and (m["chat_row_id"], m["position"]) in asked and m["chat_row_id"] in chats
    }


def total(found: Rows) -> int:
    return sum(len(table) for table in found.values())


async def chat_row_id(store: Store, key: ChatKey) -> int:
    chats = Base.metadata.tables["chats"]
    async with store.engine.connect() as conn:
        found = await conn.scalar(select(chats.c.id).where(chats.c.chat_id == key.chat_id))
    assert found is not None
    return int(found)


def in_chat(found: Rows, chat: int, key: ChatKey) -> list[tuple[str, tuple[Any, ...]]]:
    """Every row that belongs to the chat: by ``chat_row_id``, the chat row itself, its inbox rows."""
    out = []
    for name, table_rows in found.items():
        table = Base.metadata.tables[name]
        columns = [c.name for c in table.columns]
        for row in table_rows:
            values = dict(zip(columns, row, strict=True))
            if (
                values.get("chat_row_id") == chat
                or (name == "chats" and values["id"] == chat)
                or (name == "inbox" and values["chat_id"] == key.chat_id)
            ):
                out.append((name, row))
    return out


def photo_files(photos: PhotoStore) -> set[Path]:
    return set(photos.root.glob("*/*.jpg"))


async def test_forget_in_a_group_then_everywhere_leaves_nothing_of_the_user(demo: Demo) -> None:
    await play(demo)
    before = await rows(demo.store)
    group_row = await chat_row_id(demo.store, GROUP)
    assert all(before[name] for name in Base.metadata.tables if name != "summaries"), {
        name: len(found) for name, found in before.items()
    }  # the demo fills every table (the offline engine writes no summaries)
    assert any(hers(row) for _, row in in_chat(before, group_row, GROUP))
    photos_before = photo_files(demo.photos)
    assert len(photos_before) == 2

    # Without asking first, "yes" deletes nothing.
    not_asked = await demo.say(GROUP, ANNA, "/forget yes")
    assert isinstance(not_asked, Answer) and "nichts zu bestätigen" in not_asked.text
    asked = await demo.say(GROUP, ANNA, "/forget")
    assert isinstance(asked, Answer) and [b.command for b in asked.buttons] == ["/forget yes", "/forget no"]
    snapshot = await rows(demo.store)
    assert {n: r for n, r in snapshot.items() if n not in ("inbox", "confirmations")} == {
        n: r for n, r in before.items() if n not in ("inbox", "confirmations")
    }

    done = await demo.say(GROUP, ANNA, "/forget yes")  # her /forget rows in the inbox go too
    assert isinstance(done, Answer) and done.text.startswith("Gelöscht: ") and "Nachrichten" in done.text
    after_group = await rows(demo.store)
    left = [(name, row) for name, row in in_chat(after_group, group_row, GROUP) if hers(row)]
    assert left == [], left
    with_her = hanging_off(before, {(n, r) for n, found in before.items() for r in found if hers(r) and n != "chats"})
    for name, row in in_chat(before, group_row, GROUP):  # Ben's rows and the group's own are all there
        if (name, row) not in with_her and row not in answers_to_her(before, {group_row}):
            assert row in after_group[name], (name, row)
    assert any(hers(row) for row in after_group["messages"])  # her private chat is another chat: kept
    private_photo, group_photo = sorted(photos_before, key=lambda p: p.parent.name != _folder(demo, PRIVATE))
    assert private_photo.exists() and not group_photo.exists()

    report = await forget_user(demo.store, demo.photos, "telegram", ANNA)  # `nik forget` for an admin
    assert report is not None and report.counts["photos"] == 1 and report.counts["chats"] == 1
    after = await rows(demo.store)
    left = [(name, row) for name, found in after.items() for row in found if hers(row)]
    assert left == [], left
    assert photo_files(demo.photos) == set()
    theirs = answers_to_her(before, {group_row, await _private_row(before)})
    with_her = hanging_off(before, {(n, r) for n, found in before.items() for r in found if hers(r)})
    for name, found in before.items():
        for row in found:
            if (name, row) not in with_her and row not in theirs and name != "confirmations":
                assert row in after[name], (name, row)
    print(
        f"\n/forget demo ({demo.store.engine.dialect.name}): {total(before)} rows before, "
        f"{total(after_group)} after /forget in the group, {total(after)} after `nik forget`; "
        f"group /forget: {done.text}; admin: {report.counts}"
    )


async def test_forget_in_a_private_chat_removes_the_chat_and_its_photos(demo: Demo) -> None:
    first = await demo.say(PRIVATE, ANNA, "Kanarienvogel fragt: was bedeutet E013?")
    await demo.vote(PRIVATE, ANNA, first)
    await demo.say(PRIVATE, ANNA, "Kanarienvogel-Foto", image=display_photo(["E013"], LEVELS["easy"]))
    await demo.say(PRIVATE, ANNA, "/device SF-5000TL")
    await demo.say(GROUP, BEN, "Ben fragt: Isolationsfehler prüfen?")
    before = await rows(demo.store)
    await demo.say(PRIVATE, ANNA, "/forget")
    done = await demo.say(PRIVATE, ANNA, "/forget yes")
    assert isinstance(done, Answer) and "1 Foto" in done.text and "1 Geräteeinstellung" in done.text
    after = await rows(demo.store)
    assert [(name, row) for name, found in after.items() for row in found if hers(row)] == []
    assert photo_files(demo.photos) == set()
    assert after["messages"] == {row for row in before["messages"] if not _in_private(row, before)}
    assert await demo.store.device(PRIVATE) is None


async def test_an_expired_or_cancelled_request_deletes_nothing(demo: Demo) -> None:
    await demo.say(PRIVATE, ANNA, "Kanarienvogel fragt: was bedeutet E013?")
    await demo.say(PRIVATE, ANNA, "/forget")
    demo.clock.now += timedelta(minutes=6)  # the one clock of store and conversation
    late = await demo.say(PRIVATE, ANNA, "/forget yes")
    assert isinstance(late, Answer) and "nichts zu bestätigen" in late.text
    await demo.say(PRIVATE, ANNA, "/forget")
    cancelled = await demo.say(PRIVATE, ANNA, "/forget no")
    assert isinstance(cancelled, Answer) and "nichts gelöscht" in cancelled.text
    assert "nichts zu bestätigen" in (await demo.say(PRIVATE, ANNA, "/forget yes")).text
    assert len(await demo.store.history(PRIVATE, 10)) == 2


def test_a_payload_names_a_user_as_sender_or_quoted_sender_only() -> None:
    update = {"message": {"from": {"id": 5}, "reply_to_message": {"from": {"id": 7}}, "text": "7 Fehler"}}
    assert mentions(update, "5") and mentions(update, "7") and not mentions(update, "8")
    assert mentions({"from": {"id": "29:x", "aadObjectId": "aad-1"}}, "aad-1")
    assert not mentions({"text": "777001", "chat": {"id": 777001}}, "777001")  # a chat id is not a sender
    assert mentions(json.loads(json.dumps({"user": {"id": "a"}})), "a")


def _folder(demo: Demo, key: ChatKey) -> str:
    [ref] = demo.photos.save(key, "probe", (ImageInput(b"x", "image/jpeg"),))
    (demo.photos.root / ref).unlink()
    return ref.split("/")[0]


async def _private_row(before: Rows) -> int:
    columns = [c.name for c in Base.metadata.tables["chats"].columns]
    return next(
        dict(zip(columns, row, strict=True))["id"]
        for row in before["chats"]
        if dict(zip(columns, row, strict=True))["chat_id"] == ANNA
    )


def _in_private(row: tuple[Any, ...], before: Rows) -> bool:
    columns = [c.name for c in Base.metadata.tables["messages"].columns]
    chats = [c.name for c in Base.metadata.tables["chats"].columns]
    private = {
        dict(zip(chats, c, strict=True))["id"]
        for c in before["chats"]
        if dict(zip(chats, c, strict=True))["chat_id"] == ANNA
    }
    return dict(zip(columns, row, strict=True))["chat_row_id"] in private

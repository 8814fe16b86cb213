"""The command menu Telegram shows beside the text field (``setMyCommands``), in German.

Everyone sees ``COMMANDS``; each admin's private chat with the bot also lists
``ADMIN_COMMANDS`` (a ``chat`` scope per admin). Set once per start; a failure only
costs the menu, never the start."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

log = logging.getLogger(__name__)

COMMANDS = (
    ("help", "Was Nik kann und wie man fragt"),
    ("new", "Neues Gespräch beginnen"),
    ("docs", "Welche Handbücher Nik kennt"),
    ("search", "Fundstellen suchen: /search E013"),
    ("page", "Handbuchseite als Bild: /page HANDBUCH SEITE"),
    ("pdf", "Handbuchseiten als PDF: /pdf HANDBUCH SEITEN"),
    ("device", "Gerät für diesen Chat festlegen"),
    ("forget", "Meine Daten in diesem Chat löschen"),
    ("support", "An einen Menschen vom Support übergeben"),
    ("done", "Support-Fall schließen"),
    ("nik", "Nik fragen, während ein Support-Fall offen ist"),
    ("cases", "Offene Support-Fälle (im Support-Chat)"),
)
ADMIN_COMMANDS = (
    ("status", "Index und Betrieb"),
    ("reindex", "Handbücher neu einlesen"),
    ("report", "Qualitätsbericht: /report 7d"),
    ("remove", "Handbuch entfernen: /remove HANDBUCH"),
)


def admin_chats(admins: Iterable[str]) -> tuple[int, ...]:
    """The Telegram user ids among ``NIK_ADMINS`` ("telegram:123"): their private chat has the same id."""
    ids = (admin.partition(":")[2] for admin in admins if admin.startswith("telegram:"))
    return tuple(sorted(int(user) for user in ids if user.lstrip("-").isdigit()))


async def publish_menu(bot: Bot, admins: Iterable[str] = ()) -> None:
    everyone = [BotCommand(name, description) for name, description in COMMANDS]
    admin = everyone + [BotCommand(name, description) for name, description in ADMIN_COMMANDS]
    try:
        await bot.set_my_commands(everyone, scope=BotCommandScopeDefault())
        for chat in admin_chats(admins):
            await bot.set_my_commands(admin, scope=BotCommandScopeChat(chat))
    except TelegramError as error:
        log.warning("Telegram command menu not set: %s", error)

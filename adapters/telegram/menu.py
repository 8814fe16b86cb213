"""The command menu Telegram shows beside the text field (``setMyCommands``), in German.

Set once per start; a failure only costs the menu, never the start."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand
from telegram.error import TelegramError

log = logging.getLogger(__name__)

COMMANDS = (
    ("help", "Was Nik kann und wie man fragt"),
    ("new", "Neues Gespräch beginnen"),
    ("docs", "Welche Handbücher Nik kennt"),
    ("search", "Fundstellen suchen: /search E013"),
    ("page", "Handbuchseite als Bild: /page HANDBUCH SEITE"),
    ("device", "Gerät für diesen Chat festlegen"),
    ("forget", "Meine Daten in diesem Chat löschen"),
    ("support", "An einen Menschen vom Support übergeben"),
    ("done", "Support-Fall schließen"),
    ("nik", "Nik fragen, während ein Support-Fall offen ist"),
    ("cases", "Offene Support-Fälle (im Support-Chat)"),
    ("status", "Index und Betrieb (nur Administratoren)"),
    ("reindex", "Handbücher neu einlesen (nur Administratoren)"),
)


async def set_menu(bot: Bot) -> None:
    try:
        await bot.set_my_commands([BotCommand(name, description) for name, description in COMMANDS])
    except TelegramError as error:
        log.warning("Telegram command menu not set: %s", error)

"""The shipped Teams app manifest template: valid JSON, icons of the sizes Teams demands,
and a command list the adapter understands without a slash."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from adapters.teams.translate import COMMANDS_ALONE, COMMANDS_WITH_ARGS, as_command

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "adapters" / "teams_manifest"


def test_manifest_commands_are_understood_without_a_slash() -> None:
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text(encoding="utf-8"))
    [bot] = manifest["bots"]
    assert bot["botId"] == manifest["id"] == "{{TEAMS_APP_ID}}"
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    lists = bot["commandLists"]
    assert sorted(scope for menu in lists for scope in menu["scopes"]) == ["groupChat", "personal", "team"]
    assert all(len(menu["commands"]) <= 10 for menu in lists)  # Teams refuses longer command lists
    titles = {command["title"] for menu in lists for command in menu["commands"]}
    assert titles <= COMMANDS_ALONE | COMMANDS_WITH_ARGS
    assert (COMMANDS_ALONE | COMMANDS_WITH_ARGS) - titles == {"start", "status", "reindex", "remove"}  # typed only
    for title in titles:
        typed = f"{title} E013" if title in COMMANDS_WITH_ARGS else title
        assert as_command(typed).startswith(f"/{title}")


def test_icons_have_the_sizes_teams_requires() -> None:
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text(encoding="utf-8"))
    with Image.open(MANIFEST_DIR / manifest["icons"]["color"]) as color:
        assert color.size == (192, 192)
    with Image.open(MANIFEST_DIR / manifest["icons"]["outline"]) as outline:
        assert outline.size == (32, 32) and outline.mode == "RGBA"
        colors = outline.getcolors() or []
        assert colors and all(a == 0 or (r, g, b) == (255, 255, 255) for _, (r, g, b, a) in colors)  # white on clear

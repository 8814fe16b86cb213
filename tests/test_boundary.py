"""Imports run one way: adapters → bot → knowledge, storage; no platform library below adapters."""

from __future__ import annotations

import subprocess
import sys

import pytest

PLATFORM_LIBRARIES = ("telegram", "botbuilder", "botframework", "aiohttp.web")
_PROBE = """
import importlib, pkgutil, sys
roots = {roots!r}
for root in roots:
    package = importlib.import_module(root)
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), root + "."):
        importlib.import_module(info.name)
watched = {watched!r}
print(",".join(sorted(m for m in sys.modules if any(m == w or m.startswith(w + ".") for w in watched))))
"""


def _loaded(roots: tuple[str, ...], watched: tuple[str, ...]) -> list[str]:
    """The modules of ``watched`` that importing every module under ``roots`` loads."""
    probe = _PROBE.format(roots=roots, watched=watched)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, check=True)
    return [m for m in done.stdout.strip().split(",") if m]


def test_no_module_of_the_core_loads_a_platform_library_or_an_adapter() -> None:
    assert _loaded(("bot",), (*PLATFORM_LIBRARIES, "adapters")) == []


@pytest.mark.parametrize("root", ["knowledge", "storage"])
def test_knowledge_and_storage_load_neither_bot_nor_a_platform(root: str) -> None:
    assert _loaded((root,), (*PLATFORM_LIBRARIES, "adapters", "bot")) == []


def test_the_command_line_loads_platforms_only_for_serve() -> None:
    assert _loaded(("adapters.cli",), PLATFORM_LIBRARIES) == []


def test_the_probe_sees_a_platform_library_when_one_is_loaded() -> None:
    loaded = _loaded(("adapters.telegram",), PLATFORM_LIBRARIES)
    assert "telegram" in loaded and any(m.startswith("aiohttp.web") for m in loaded)

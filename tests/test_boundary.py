"""The core never imports a platform library: adapters → bot → knowledge, storage."""

from __future__ import annotations

import subprocess
import sys

import pytest

PLATFORM_LIBRARIES = ("telegram", "botbuilder", "aiohttp.web")


@pytest.mark.parametrize("package", ["bot", "bot.cli", "bot.answerer", "bot.messages", "knowledge.service", "storage"])
def test_core_packages_import_no_platform_library(package: str) -> None:
    probe = (
        f"import sys, {package}; "
        f"print(','.join(m for m in sys.modules if m.split('.')[0] in ('telegram', 'botbuilder')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "", f"{package} pulled in {done.stdout.strip()}"


def test_knowledge_and_storage_do_not_import_bot() -> None:
    probe = (
        "import sys, knowledge.service, storage; "
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('bot', 'adapters')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == ""

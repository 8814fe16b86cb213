"""The ``nik`` console script: the core's commands plus ``nik serve``.

``serve`` lives here, not in :mod:`bot.cli`, because it wires the platform adapters
and imports run one way: adapters → bot → knowledge, storage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from bot import cli
from bot.config import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.serve import serve

    return asyncio.run(serve(settings))


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="serve the configured platforms (Telegram, Teams) and /healthz on NIK_HOST:NIK_PORT"
    )
    serve.set_defaults(run=_serve)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, extensions=[_add_serve])


if __name__ == "__main__":
    sys.exit(main())

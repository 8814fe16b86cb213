"""Nik's knowledge base: manuals in, cited passages out.

Platform-free and chat-free: ``ingest`` turns files into pages and chunks, ``index``
keeps them in LanceDB, ``retriever`` answers queries, ``service.KnowledgeBase`` is
the one object the rest of Nik talks to.
"""

import os as _os

# LanceDB's Rust core logs dataset creation and deprecations at WARN to stderr;
# keep the CLI and the bot's logs readable unless an operator asks for more.
_os.environ.setdefault("LANCEDB_LOG", "error")

"""Durable chat state for Nik: history, summaries, pending questions, feedback, dedup.

``store.Store`` is the one entry point (``await Store.open(database_url(data_dir, url))``);
``db`` makes the engine, ``models`` holds the tables, ``migrations`` versions them,
``errors`` draws the error tree. Nothing here imports ``bot``, ``adapters`` or a
platform library.
"""

"""Errors the chat-state store raises on purpose.

    StorageError                   base; ``str(err)`` is a message fit for an operator
    ├── SchemaTooNew               the database was migrated by a newer Nik than this one
    └── UnsupportedDatabase        the database URL is malformed, synchronous or of an unknown dialect

Invalid arguments from the caller (an unknown role, a vote other than ±1, a naive
datetime) raise ``ValueError``: they are bugs, not conditions to handle. Everything
else is a bug too and is caught only at the two outer boundaries.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class: an expected failure with a message for a person."""


class SchemaTooNew(StorageError):
    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"The chat database is at schema version {found}, but this Nik knows versions up to "
            f"{supported}. Upgrade Nik, or point it at another database."
        )
        self.found = found
        self.supported = supported


class UnsupportedDatabase(StorageError):
    pass

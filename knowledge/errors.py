"""Errors the knowledge base raises on purpose.

    KnowledgeError                 base; ``str(err)`` is a message fit for an operator
    ├── ManualsNotFound            a path to index does not exist / holds no manuals
    ├── DocumentUnreadable         one file could not be parsed (corrupt, password)
    ├── DocumentNotFound           a file or page asked for is not in the index
    ├── IndexMissing               nothing has been indexed yet
    ├── EmbedderMismatch           the index was built by another embedding model
    ├── EmbedderUnavailable        the configured embedder's package is not installed
    ├── IndexBusy                  another indexing run holds the lock
    ├── CatalogInvalid             the optional catalog file cannot be read
    └── OcrUnavailable             the OCR engine or its bundled models are missing

Everything else is a bug and is caught only at the two outer boundaries.
"""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class: an expected failure with a message for a person."""


class ManualsNotFound(KnowledgeError):
    pass


class DocumentUnreadable(KnowledgeError):
    pass


class DocumentNotFound(KnowledgeError):
    pass


class IndexMissing(KnowledgeError):
    pass


class EmbedderMismatch(KnowledgeError):
    pass


class EmbedderUnavailable(KnowledgeError):
    pass


class IndexBusy(KnowledgeError):
    pass


class CatalogInvalid(KnowledgeError):
    pass


class OcrUnavailable(KnowledgeError):
    pass

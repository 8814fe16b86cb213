"""Errors the core raises on purpose.

    NikError                       base; ``str(err)`` is fit for the person who caused it
    ├── ConfigError                an environment variable is missing or invalid
    ├── LlmUnavailable             the language model failed or ran out of the turn's time
    ├── PhotoRejected              a photo is not a safe, readable image (the text says why, in German)
    ├── SpeechUnavailable          the speech-to-text endpoint failed or ran out of the voice note's time
    └── knowledge.errors.KnowledgeError (re-exported: manuals, index, documents)

Anything else is a bug, caught only at the turn boundary and the framework's error hook.
"""

from __future__ import annotations

from knowledge.errors import KnowledgeError


class NikError(Exception):
    """Base class of the core's own expected failures."""


class ConfigError(NikError):
    pass


class LlmUnavailable(NikError):
    """The model could not be reached in time (after our bounded retries), or refused the request."""


class PhotoRejected(NikError):
    """An image was refused before anything was stored: too big, not an image, a
    decompression bomb, truncated, or a format we cannot open (HEIC)."""


class SpeechUnavailable(NikError):
    """A voice note could not be transcribed (after our bounded retries, within its time)."""


EXPECTED: tuple[type[Exception], ...] = (NikError, KnowledgeError)

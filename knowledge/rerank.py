"""Cohere rerank, switched on by ``COHERE_API_KEY``."""

from __future__ import annotations

from collections.abc import Sequence


class CohereReranker:
    def __init__(self, api_key: str, model: str, base_url: str | None = None, timeout: float = 8.0) -> None:
        import cohere

        self._client = cohere.ClientV2(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=1)
        self._model = model

    def rerank(self, query: str, texts: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        reply = self._client.rerank(model=self._model, query=query, documents=list(texts), top_n=top_n)
        return [(r.index, float(r.relevance_score)) for r in reply.results]

"""Cohere rerank against a fake Cohere API on 127.0.0.1 speaking its wire format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpers import open_kb
from knowledge.embedder import E5Embedder
from knowledge.rerank import CohereReranker


class FakeCohere(ThreadingHTTPServer):
    def __init__(self, status: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.requests: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeCohere

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if self.server.status != 200:
            self.send_response(self.server.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"message": "internal error"}')
            return
        # Rank the documents in reverse order of arrival: the last fused hit comes first.
        count = len(body["documents"])
        order = reversed(range(count))
        results = [{"index": i, "relevance_score": round(1 - n / count, 3)} for n, i in enumerate(order)]
        meta = {"api_version": {"version": "2"}}
        reply = {"id": "fake", "results": results[: body.get("top_n", count)], "meta": meta}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_cohere(request: pytest.FixtureRequest) -> Iterator[FakeCohere]:
    server = FakeCohere(getattr(request, "param", 200))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_rerank_orders_the_fused_hits(kb_dir: Path, embedder: E5Embedder, fake_cohere: FakeCohere) -> None:
    plain = open_kb(kb_dir, embedder).search("Lüfter reinigen Wartung", k=5)
    kb = open_kb(kb_dir, embedder, reranker=CohereReranker("test-key", "rerank-v3.5", fake_cohere.base_url))
    reranked = kb.search("Lüfter reinigen Wartung", k=5)
    assert fake_cohere.requests, "the reranker was not called"
    sent = fake_cohere.requests[0]
    assert sent["path"] == "/v2/rerank" and sent["model"] == "rerank-v3.5"
    assert sent["query"] == "Lüfter reinigen Wartung"
    assert sent["auth"] == "Bearer test-key"
    assert len(sent["documents"]) >= len(plain.passages) > 1
    # The fake ranks the last fused hit first: that is what search now returns first.
    assert [p.text for p in reranked] == list(reversed(sent["documents"]))[: len(reranked)]
    assert reranked[0].score == pytest.approx(1.0)


@pytest.mark.parametrize("fake_cohere", [500], indirect=True)
def test_a_failing_reranker_keeps_the_fused_order(kb_dir: Path, embedder: E5Embedder, fake_cohere: FakeCohere) -> None:
    plain = open_kb(kb_dir, embedder).search("Lüfter reinigen Wartung", k=5)
    kb = open_kb(kb_dir, embedder, reranker=CohereReranker("test-key", "rerank-v3.5", fake_cohere.base_url))
    result = kb.search("Lüfter reinigen Wartung", k=5)
    assert fake_cohere.requests
    assert [(p.file, p.page) for p in result] == [(p.file, p.page) for p in plain]

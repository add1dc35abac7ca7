"""A small OpenAI-compatible embeddings server on 127.0.0.1 for the tests, in a thread.

It embeds with the hashing function, so its answers can be checked, and can be told to
fail: ``fail_first`` requests answer 503, and ``delay`` seconds pass before each answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import omnivector as ov


class EmbeddingServer:
    def __init__(self, dimension: int = 16) -> None:
        self.function = ov.embeddings.get("hashing", dimension=dimension)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first = 0
        self.status = 503
        self.delay = 0.0
        self.url = ""

    def answer(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests.append(body)
        self.headers.append(headers)
        if self.delay:
            time.sleep(self.delay)
        if len(self.requests) <= self.fail_first:
            return self.status, {"error": {"message": "the model is overloaded"}}
        texts = body["input"]
        vectors = self.function.embed_documents(texts)
        data = [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in reversed(list(enumerate(vectors)))  # any order: clients sort by index
        ]
        return 200, {"object": "list", "data": data, "model": body.get("model")}


@contextmanager
def embedding_server(dimension: int = 16) -> Iterator[EmbeddingServer]:
    state = EmbeddingServer(dimension)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            status, answer = state.answer(body, dict(self.headers))
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up waiting (the timeout tests)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

"""``"openai"``: any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint, over httpx.

The API key is read at request time from the environment variable named by
``api_key_env`` (the table records the variable's name, never the key). Requests carry at
most ``batch_size`` texts; a timeout, a connection failure, 429 or a 5xx is retried
``retries`` times with exponential backoff, then raised as :class:`EmbeddingError` (a write
that needed the vectors writes nothing). ``query_input_type`` / ``document_input_type``
add an ``input_type`` field for servers that embed queries and documents differently;
``query_prefix`` / ``document_prefix`` prepend instructions (e5: ``"query: "``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from omnivector.core.errors import EmbeddingError, InvalidInputError, MissingDependencyError
from omnivector.core.validation import is_integer, is_number
from omnivector.embeddings.base import EmbeddingConfig, batches, check_dimension

__all__ = ["OpenAIEmbedding"]

_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_BACKOFF = 8.0


class OpenAIEmbedding:
    """``dimension``: the vectors' length; probed with one request when not given."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str | None = "OPENAI_API_KEY",
        dimension: int | None = None,
        batch_size: int = 128,
        retries: int = 3,
        timeout: float = 30.0,
        backoff: float = 0.5,
        query_prefix: str = "",
        document_prefix: str = "",
        query_input_type: str | None = None,
        document_input_type: str | None = None,
    ) -> None:
        try:
            import httpx
        except ImportError as exc:
            raise MissingDependencyError(
                "the 'openai' embedding needs httpx", extra="openai"
            ) from exc
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not is_integer(retries) or retries < 0:
            raise InvalidInputError(f"retries must be an integer >= 0, got {retries!r}")
        for knob, value in (("timeout", timeout), ("backoff", backoff)):
            if not is_number(value) or value < 0:
                raise InvalidInputError(f"{knob} must be a number >= 0, got {value!r}")
        self._options: dict[str, Any] = {
            "model": model,
            "base_url": base_url.rstrip("/"),
            "api_key_env": api_key_env,
            "batch_size": check_dimension(batch_size),
            "retries": retries,
            "timeout": float(timeout),
            "backoff": float(backoff),
            "query_prefix": query_prefix,
            "document_prefix": document_prefix,
            "query_input_type": query_input_type,
            "document_input_type": document_input_type,
        }
        self._dimension = None if dimension is None else check_dimension(dimension)
        self._httpx = httpx

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.embed_documents(["dimension"]).shape[1])
        return self._dimension

    @property
    def config(self) -> EmbeddingConfig:
        options = {k: v for k, v in self._options.items() if v not in (None, "")}
        if self._dimension is not None:
            options["dimension"] = self._dimension
        return EmbeddingConfig("openai", options)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        options = self._options
        return self._embed(texts, options["document_prefix"], options["document_input_type"])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        options = self._options
        return self._embed(texts, options["query_prefix"], options["query_input_type"])

    def _embed(self, texts: Sequence[str], prefix: str, input_type: str | None) -> np.ndarray:
        # a client per call: no connection outlives it (an idle one would leak a socket)
        with self._httpx.Client(timeout=self._options["timeout"]) as client:
            parts = [
                self._request(client, [prefix + t for t in chunk], input_type)
                for chunk in batches(texts, self._options["batch_size"])
            ]
        if not parts:
            return np.empty((0, self._dimension or 0), dtype=np.float32)
        widths = {p.shape[1] for p in parts}
        if len(widths) > 1:
            raise EmbeddingError(f"{self._url} returned vectors of lengths {sorted(widths)}")
        return np.vstack(parts)

    @property
    def _url(self) -> str:
        return f"{self._options['base_url']}/embeddings"

    def _request(self, client: Any, texts: list[str], input_type: str | None) -> np.ndarray:
        body: dict[str, Any] = {
            "model": self._options["model"],
            "input": texts,
            "encoding_format": "float",
        }
        if input_type is not None:
            body["input_type"] = input_type
        headers = {}
        key_name = self._options["api_key_env"]
        key = os.environ.get(key_name) if key_name else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        attempts = self._options["retries"] + 1
        failure = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(self._options["backoff"] * 2 ** (attempt - 1), _MAX_BACKOFF))
            try:
                response = client.post(self._url, json=body, headers=headers)
            except self._httpx.TimeoutException:
                failure = f"no answer within {self._options['timeout']:g} s"
                continue
            except self._httpx.TransportError as exc:
                failure = f"cannot connect: {exc}"
                continue
            if response.status_code in _RETRYABLE:
                failure = f"HTTP {response.status_code}: {_message(response)}"
                continue
            if response.status_code >= 400:
                hint = (
                    f" (the API key is read from ${key_name})"
                    if response.status_code in (401, 403) and key_name
                    else ""
                )
                raise EmbeddingError(
                    f"the embedding server at {self._url} refused the request: HTTP "
                    f"{response.status_code}: {_message(response)}{hint}"
                )
            return self._vectors(response, len(texts))
        raise EmbeddingError(
            f"the embedding server at {self._url} failed after {attempts} attempt(s): {failure}"
        )

    def _vectors(self, response: Any, count: int) -> np.ndarray:
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            matrix = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(
                f"the embedding server at {self._url} sent an answer that is not an "
                f"OpenAI embeddings response: {exc}"
            ) from exc
        if matrix.ndim != 2 or matrix.shape[0] != count:
            raise EmbeddingError(
                f"the embedding server at {self._url} returned {len(data)} vectors for "
                f"{count} texts"
            )
        return matrix


def _message(response: Any) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict):
            return str(error.get("message"))
        if error:
            return str(error)
    except ValueError:
        pass
    return response.text[:200] or response.reason_phrase

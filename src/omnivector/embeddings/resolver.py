"""A store's embedding functions: each recorded config built once, on first use."""

from __future__ import annotations

import threading

from omnivector.core.errors import EmbeddingUnavailableError, OmnivectorError
from omnivector.embeddings.base import EmbeddingConfig, EmbeddingFunction
from omnivector.embeddings.registry import from_config

__all__ = ["EmbeddingFunctions"]


class EmbeddingFunctions:
    """One instance of each embedding function per store (a model loads once)."""

    def __init__(self) -> None:
        self._built: dict[str, EmbeddingFunction] = {}
        self._lock = threading.Lock()

    def resolve(self, config: EmbeddingConfig, *, table: str) -> EmbeddingFunction:
        """The function ``config`` describes, or :class:`EmbeddingUnavailableError` saying
        how to supply it."""
        key = config.to_json()
        with self._lock:  # two threads must not load the same model twice
            function = self._built.get(key)
            if function is None:
                try:
                    function = from_config(config)
                except OmnivectorError as exc:
                    raise EmbeddingUnavailableError(
                        f"table {table!r} embeds with {config.to_json()}, which cannot be "
                        f"rebuilt here: {exc}. Pass the function: "
                        f"store.table({table!r}, embedding=fn)"
                    ) from exc
                self._built[key] = function
            return function

    def adopt(self, function: EmbeddingFunction) -> EmbeddingFunction:
        """Remember a function the caller built, so later tables with its config share it."""
        with self._lock:
            return self._built.setdefault(function.config.to_json(), function)

"""Reranking: re-score a search's candidates with a second, finer model.

A reranker is any callable ``(query, hits) -> scores``: ``query`` is the search's text
(``query=`` or ``text=``; ``None`` for a vector-only search), ``hits`` the candidates best
first, and it returns one number per candidate, higher is better. ``search(..., rerank=fn)``
fetches :func:`candidates` hits, re-sorts them by these scores (ties keep the first
ranking's order), cuts them to ``k`` and makes each score the hit's ``score``.
:class:`CrossEncoderReranker` is the built-in one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from numbers import Real
from typing import Any

from omnivector.core.errors import InvalidInputError, MissingDependencyError
from omnivector.core.results import Hit

__all__ = [
    "RERANK_DEPTH",
    "CrossEncoderReranker",
    "Reranker",
    "apply_reranker",
    "candidates",
    "check_reranker",
]

Reranker = Callable[[str | None, list[Hit]], Sequence[float]]

RERANK_DEPTH = 3
"""A reranked search fetches this many candidates per hit wanted: a second model can only
promote what the first retrieval found, and 3k gave it room at a third of the cost of 10k."""


def candidates(k: int) -> int:
    """How many hits a search reranked down to ``k`` fetches first."""
    return RERANK_DEPTH * k


def check_reranker(reranker: object) -> Reranker:
    if not callable(reranker):
        raise InvalidInputError(
            "rerank must be a callable (query, hits) -> one score per hit, or a "
            f"CrossEncoderReranker; got {reranker!r}"
        )
    return reranker


def apply_reranker(reranker: Reranker, query: str | None, hits: Sequence[Hit], k: int) -> list[Hit]:
    """The ``k`` best of ``hits`` by ``reranker``'s scores, which become their scores."""
    if not hits:
        return []
    scores = reranker(query, list(hits))
    values = _check_scores(scores, len(hits))
    order = sorted(range(len(hits)), key=lambda i: -values[i])  # stable: ties keep order
    return [replace(hits[i], score=values[i]) for i in order[:k]]


def _check_scores(scores: object, count: int) -> list[float]:
    if isinstance(scores, str | bytes) or not hasattr(scores, "__len__"):
        raise InvalidInputError(
            f"a reranker must return a sequence of {count} scores, one per hit; got {scores!r}"
        )
    values = list(scores)  # type: ignore[call-overload]
    if len(values) != count:
        raise InvalidInputError(
            f"the reranker returned {len(values)} scores for {count} hits; it must return "
            "exactly one score per hit, in the order given"
        )
    checked = []
    for position, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise InvalidInputError(
                f"the reranker's score #{position} is {value!r}; scores must be finite numbers"
            )
        checked.append(float(value))
    return checked


class CrossEncoderReranker:
    """Scores (query, text) pairs with a sentence-transformers cross-encoder.

    ``model`` is a loaded ``CrossEncoder`` (anything with ``predict(pairs)``) or the path or
    name of one already on this machine: it is loaded with ``local_files_only=True``, so
    nothing is downloaded while searching. Needs ``sentence-transformers`` (which brings
    PyTorch) for a path or name. Scores are the model's (for the usual MS MARCO models,
    probabilities in [0, 1]).
    """

    def __init__(self, model: Any, *, batch_size: int = 32) -> None:
        if isinstance(model, str):
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as exc:
                raise MissingDependencyError(
                    "CrossEncoderReranker needs sentence-transformers and PyTorch, which are "
                    "not installed: pip install sentence-transformers (PyTorch's CPU build "
                    "first: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
                    ", and the cross-encoder model on this machine (a local path, or in the "
                    "Hugging Face cache); or pass any callable (query, hits) -> scores as rerank=",
                    extra=None,
                ) from exc
            model = CrossEncoder(model, local_files_only=True)
        if not callable(getattr(model, "predict", None)):
            raise InvalidInputError(
                f"model must be a CrossEncoder (with predict(pairs)) or its path; got {model!r}"
            )
        self._model = model
        self._batch_size = batch_size

    def __call__(self, query: str | None, hits: list[Hit]) -> list[float]:
        if query is None:
            raise InvalidInputError(
                "a cross-encoder scores the query's text against each hit's: search with "
                "text= or query= to rerank with it"
            )
        pairs = [(query, hit.text or "") for hit in hits]
        scores = self._model.predict(pairs, batch_size=self._batch_size)
        return [float(score) for score in scores]

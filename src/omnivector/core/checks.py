"""The checks that read every value: finite vectors in new rows, and a valid query vector."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from omnivector.core.conversion import vector_to_numpy
from omnivector.core.errors import DimensionMismatchError, InvalidInputError

__all__ = ["check_vectors", "query_vector"]


def check_vectors(table: pa.Table, *, metric: str = "l2") -> None:
    """The check of converted rows that reads every vector: only finite values (values too
    large for the stored float type are infinite), none all zeros in a cosine table (a zero
    vector has no direction to compare). Ids repeated in a batch are refused by
    :func:`omnivector.storage.unique_ids.check_batch_ids`."""
    start = 0
    for chunk in table.column("vector").chunks:
        matrix = chunk.flatten().to_numpy().reshape(len(chunk), chunk.type.list_size)
        bad = _first_non_finite_row(matrix)
        if bad is not None:
            raise InvalidInputError(
                f"vector at position {start + bad} contains NaN or infinity (or a value too "
                f"large for {matrix.dtype} storage); vectors must be finite"
            )
        if metric == "cosine":
            zero = _first_zero_row(matrix)
            if zero is not None:
                raise InvalidInputError(
                    f"vector at position {start + zero} is all zeros, which has no cosine "
                    "similarity to anything; leave the document out or give it a non-zero "
                    "vector (or use metric='l2' or 'dot')"
                )
        start += len(chunk)


def _first_non_finite_row(matrix: np.ndarray) -> int | None:
    """The first row holding NaN or infinity, if any.

    ``isfinite`` runs on one core. A sum by matrix product reads the values ~3x faster
    alone, but it wakes the BLAS threads, which then spin on the cores Lance's writer is
    using (``add`` checks while the files are written): adds were 10-25% slower.
    """
    if np.isfinite(matrix).all():
        return None
    return int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])


def _first_zero_row(matrix: np.ndarray) -> int | None:
    """The first row whose values are all zero, if any."""
    nonzero = matrix.any(axis=1)
    if nonzero.all():
        return None
    return int(np.flatnonzero(~nonzero)[0])


def query_vector(value: object, dimension: int, metric: str = "l2") -> np.ndarray:
    """Validate a query vector and return it as float32."""
    # the common case, checked first: conversion and its checks cost more than a search
    if type(value) is np.ndarray and value.dtype == np.float32 and value.ndim == 1:
        array = value
    else:
        array = vector_to_numpy(value)
    if array.shape[0] != dimension:
        raise DimensionMismatchError(
            f"query vector has length {array.shape[0]}, but the table's dimension is {dimension}"
        )
    if not np.isfinite(array).all():
        raise InvalidInputError("the query vector contains NaN or infinity")
    if metric == "cosine" and not array.any():
        raise InvalidInputError(
            "the query vector is all zeros, which has no cosine similarity to anything; "
            "query with a non-zero vector"
        )
    return array

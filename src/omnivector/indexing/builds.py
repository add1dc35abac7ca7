"""Index management: what to build (specs and the auto policy), and building it.

Builds run blocking in the caller's thread, or in the background behind an
:class:`IndexBuild` handle. Background builds run in a worker process by default: an
in-process IVF_HNSW build occupies Lance's whole CPU pool and stalls every other query in
the process for tens of seconds, while a separate, lower-priority process leaves queries
answering. Every build and every compaction on a table holds that table's maintenance
lock (across processes), so a compaction never wastes a build with a commit conflict.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import lance
import pyarrow.compute as pc

from omnivector.core.errors import (
    IndexBuildCancelledError,
    IndexBuildError,
    IndexNotFoundError,
    InvalidInputError,
    OmnivectorError,
    lance_errors,
    lance_message,
)
from omnivector.indexing.watch import StallWatch
from omnivector.storage.locks import LockCancelledError, table_lock

if TYPE_CHECKING:
    from omnivector.core.schema import TableSpec
    from omnivector.store import VectorStore
    from omnivector.table import Table

__all__ = [
    "DEFAULT_INDEX_BUILDS",
    "EXACT_SEARCH_MAX_ROWS",
    "IndexBuild",
    "IndexBuildConfig",
    "IndexInfo",
    "IndexRequest",
    "IndexSkipped",
]

log = logging.getLogger(__name__)

VECTOR_KINDS = (
    "IVF_FLAT",
    "IVF_PQ",
    "IVF_SQ",
    "IVF_RQ",
    "IVF_HNSW_FLAT",
    "IVF_HNSW_SQ",
    "IVF_HNSW_PQ",
)
SCALAR_KINDS = {"btree": "BTREE", "bitmap": "BITMAP", "label_list": "LABEL_LIST"}
# Below this many rows an exact scan answers in a few milliseconds with perfect recall,
# so "auto" keeps exact search (see docs/benchmarks.md, `omnivector bench index`).
EXACT_SEARCH_MAX_ROWS = 20_000
AUTO_VECTOR_KIND = "IVF_HNSW_SQ"
BITMAP_MAX_DISTINCT = 1_000
_MIN_TRAINING_ROWS = 256
# Query-time defaults per index kind, chosen for recall@10 >= 0.95 (bench index). The PQ
# kinds need a refine depth of 20: at 10, 384-d clustered vectors stayed near 0.8.
QUERY_DEFAULTS: dict[str, dict[str, int]] = {
    "IVF_FLAT": {"nprobes": 20},
    "IVF_SQ": {"nprobes": 20, "refine_factor": 5},
    "IVF_PQ": {"nprobes": 20, "refine_factor": 20},
    "IVF_RQ": {"nprobes": 20, "refine_factor": 10},
    "IVF_HNSW_FLAT": {"nprobes": 8, "ef": 64},
    "IVF_HNSW_SQ": {"nprobes": 8, "ef": 64, "refine_factor": 2},
    "IVF_HNSW_PQ": {"nprobes": 8, "ef": 64, "refine_factor": 20},
}

BuildStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Executor = Literal["process", "thread"]


@dataclass(frozen=True, slots=True)
class IndexBuildConfig:
    """How background builds run.

    - ``executor``: "process" (default) builds in a separate, lower-priority worker process
      so queries in this process never stall; "thread" builds in-process (no process
      start-up, ~0.5 s, but IVF_HNSW builds then stall other queries).
    - ``max_concurrent``: builds on different tables that may run at once.
    - ``lock_timeout``: seconds a build waits for another build/compaction on its table.
    - ``worker_nice``: niceness added to worker processes (0 keeps normal priority).
    - ``stall_seconds``: a worker silent and idle (no CPU) this long is killed and the build
      retried once without Lance's progress events, which can hang a build.
    """

    executor: Executor = "process"
    max_concurrent: int = 1
    lock_timeout: float = 3600.0
    worker_nice: int = 10
    stall_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.executor not in ("process", "thread"):
            raise InvalidInputError(
                f"executor must be 'process' or 'thread', got {self.executor!r}"
            )
        if (
            isinstance(self.max_concurrent, bool)
            or not isinstance(self.max_concurrent, int)
            or self.max_concurrent < 1
        ):
            raise InvalidInputError("max_concurrent must be a positive integer")
        if (
            isinstance(self.stall_seconds, bool)
            or not isinstance(self.stall_seconds, (int, float))
            or self.stall_seconds <= 0
        ):
            raise InvalidInputError("stall_seconds must be a positive number of seconds")


DEFAULT_INDEX_BUILDS = IndexBuildConfig()


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """A fully resolved index build: Lance kind, column, name and parameters."""

    table: str
    column: str
    kind: str  # Lance index type, e.g. "IVF_HNSW_SQ", "BTREE", "INVERTED"
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    replace: bool = True

    @property
    def is_vector(self) -> bool:
        return self.kind in VECTOR_KINDS

    def to_json(self) -> str:
        return json.dumps(
            {
                "table": self.table,
                "column": self.column,
                "kind": self.kind,
                "name": self.name,
                "params": self.params,
                "replace": self.replace,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> IndexRequest:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index on a table."""

    name: str
    kind: str
    columns: list[str]
    indexed_rows: int
    unindexed_rows: int
    size_bytes: int = 0


@dataclass(frozen=True, slots=True)
class IndexSkipped:
    """What ``create_index`` returns when it decides not to build: ``reason`` says why.

    It is falsy, so ``if tbl.create_index(): ...`` reads as "an index was built".
    """

    table: str
    column: str
    reason: str

    def __bool__(self) -> bool:
        return False


# -- planning --------------------------------------------------------------------------------


def plan_vector_index(
    table: str,
    dataset: lance.LanceDataset,
    spec: TableSpec,
    *,
    kind: str,
    metric: str | None,
    replace: bool,
    params: dict[str, Any],
) -> IndexRequest | IndexSkipped:
    """Resolve a vector index request; :class:`IndexSkipped` when "auto" prefers exact
    search."""
    if metric is not None and metric != spec.metric:
        raise InvalidInputError(
            f"index metric {metric!r} differs from the table's metric {spec.metric!r}; "
            "scores would be wrong. Omit metric= or create the table with that metric"
        )
    if not isinstance(kind, str):
        raise InvalidInputError(f"kind must be a string, got {kind!r}")
    rows = dataset.count_rows()
    chosen = kind.upper()
    if chosen == "AUTO":
        if rows < EXACT_SEARCH_MAX_ROWS:
            return IndexSkipped(
                table,
                "vector",
                f"no vector index built: table {table!r} has {rows} rows, fewer than "
                f"{EXACT_SEARCH_MAX_ROWS}, where exact search is fast and exact. Pass a kind "
                "(e.g. kind='IVF_HNSW_SQ') to build one anyway",
            )
        chosen = AUTO_VECTOR_KIND
    if chosen not in VECTOR_KINDS:
        raise InvalidInputError(
            f"unknown vector index kind {kind!r}; use 'auto' or one of {list(VECTOR_KINDS)}"
        )
    if chosen == "IVF_RQ" and spec.dimension % 8:
        raise InvalidInputError(
            f"IVF_RQ needs a dimension divisible by 8 (table {table!r} has {spec.dimension}); "
            "choose another kind"
        )
    if rows < _MIN_TRAINING_ROWS:
        raise InvalidInputError(
            f"table {table!r} has {rows} rows; a vector index needs at least "
            f"{_MIN_TRAINING_ROWS} to train (exact search is used until then)"
        )
    resolved = {"metric": spec.metric, **_vector_defaults(chosen, rows, spec.dimension)}
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, (int, float, str, bool)):
            raise InvalidInputError(f"index parameter {key!r} must be a number, string or bool")
        resolved[key] = value
    return IndexRequest(table, "vector", chosen, "vector_idx", resolved, replace)


def _vector_defaults(kind: str, rows: int, dimension: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if "HNSW" in kind:
        # Large partitions keep HNSW recall high; ~1 partition per 250k rows.
        params["num_partitions"] = max(1, min(rows // _MIN_TRAINING_ROWS, round(rows / 250_000)))
    else:
        params["num_partitions"] = max(1, min(rows // _MIN_TRAINING_ROWS, round(math.sqrt(rows))))
    if kind.endswith("PQ"):
        params["num_sub_vectors"] = _sub_vectors(dimension)
    return params


def _sub_vectors(dimension: int) -> int:
    for width in (8, 4, 16, 2, 1):  # dimensions per sub-vector, preferred order
        if dimension % width == 0:
            return dimension // width
    return 1


def plan_scalar_index(
    table: str,
    dataset: lance.LanceDataset,
    spec: TableSpec,
    column: str,
    *,
    kind: str,
    replace: bool,
) -> IndexRequest:
    types = {"id": "string", "text": "string", **spec.fields}
    if column not in types:
        raise InvalidInputError(
            f"cannot index {column!r}: scalar indexes need 'id' or a "
            f"declared field ({sorted(spec.fields)})"
        )
    wanted = kind.lower() if isinstance(kind, str) else kind
    if wanted == "auto":
        if types[column] == "list<string>":
            wanted = "label_list"
        else:
            wanted = (
                "btree"
                if column == "id" or _distinct_above(dataset, column, BITMAP_MAX_DISTINCT)
                else "bitmap"
            )
    if wanted not in SCALAR_KINDS:
        raise InvalidInputError(
            f"unknown scalar index kind {kind!r}; use 'auto' or one of {list(SCALAR_KINDS)}"
        )
    if (wanted == "label_list") != (types[column] == "list<string>"):
        raise InvalidInputError(
            f"label_list indexes list<string> fields only; {column!r} is {types[column]}"
        )
    return IndexRequest(table, column, SCALAR_KINDS[wanted], f"{column}_idx", {}, replace)


def _distinct_above(dataset: lance.LanceDataset, column: str, limit: int) -> bool:
    seen: set[Any] = set()
    for batch in dataset.to_batches(columns=[column], batch_size=65536):
        seen.update(pc.unique(batch.column(0)).to_pylist())
        if len(seen) > limit:
            return True
    return False


_TOKENIZER_OPTIONS = (
    "base_tokenizer",
    "language",
    "with_position",
    "max_token_length",
    "lower_case",
    "stem",
    "remove_stop_words",
    "ascii_folding",
)


def plan_fts_index(
    table: str,
    dataset: lance.LanceDataset,
    spec: TableSpec,
    column: str,
    *,
    replace: bool,
    tokenizer: dict[str, Any],
) -> IndexRequest:
    if column != "text" and spec.fields.get(column) != "string":
        raise InvalidInputError(f"full-text indexes need 'text' or a string field, not {column!r}")
    unknown = sorted(set(tokenizer) - set(_TOKENIZER_OPTIONS))
    if unknown:
        raise InvalidInputError(
            f"unknown tokenizer option(s) {unknown}; use {list(_TOKENIZER_OPTIONS)}"
        )
    params = {"with_position": True, **tokenizer}
    return IndexRequest(table, column, "INVERTED", f"{column}_idx", params, replace)


def has_fts_index(dataset: lance.LanceDataset, column: str) -> bool:
    return any(i.kind == "INVERTED" and i.columns == [column] for i in _describe_cached(dataset))


# -- inspecting ------------------------------------------------------------------------------

_KIND_BY_URL = {
    "BTreeIndexDetails": "BTREE",
    "BitmapIndexDetails": "BITMAP",
    "LabelListIndexDetails": "LABEL_LIST",
    "InvertedIndexDetails": "INVERTED",
}


def _describe(dataset: lance.LanceDataset) -> list[IndexInfo]:
    infos = []
    rows = None
    for desc in dataset.describe_indices():
        suffix = desc.type_url.rsplit(".", 1)[-1]
        kind = _KIND_BY_URL.get(suffix)
        if kind is None:
            kind = str(dataset.stats.index_stats(desc.name).get("index_type", suffix)).upper()
        if rows is None:
            rows = dataset.count_rows()
        indexed = int(desc.num_rows_indexed)
        infos.append(
            IndexInfo(
                desc.name,
                kind,
                list(desc.field_names),
                indexed,
                max(rows - indexed, 0),
                int(desc.total_size_bytes or 0),
            )
        )
    return infos


def list_indexes(dataset: lance.LanceDataset) -> list[IndexInfo]:
    with lance_errors("listing indexes"):
        infos = _describe(dataset)
        return [_with_unindexed(dataset, info) for info in infos]


def _with_unindexed(dataset: lance.LanceDataset, info: IndexInfo) -> IndexInfo:
    try:
        stats = dataset.stats.index_stats(info.name)
    except (ValueError, OSError, RuntimeError):
        return info
    unindexed = stats.get("num_unindexed_rows")
    indexed = stats.get("num_indexed_rows", info.indexed_rows)
    if unindexed is None:
        return info
    return IndexInfo(
        info.name, info.kind, info.columns, int(indexed), int(unindexed), info.size_bytes
    )


_described: dict[tuple[str, int], list[IndexInfo]] = {}
_described_lock = threading.Lock()


def _describe_cached(dataset: lance.LanceDataset) -> list[IndexInfo]:
    """The indexes of this dataset version; a version's indexes never change, so cache them."""
    key = (dataset.uri, int(dataset.version))
    with _described_lock:
        found = _described.get(key)
    if found is None:
        found = _describe(dataset)
        with _described_lock:
            if len(_described) > 4096:
                _described.clear()
            _described[key] = found
    return found


def query_defaults(dataset: lance.LanceDataset) -> dict[str, int]:
    """Query knobs for the vector index of this dataset version."""
    kind = next((i.kind for i in _describe_cached(dataset) if i.columns == ["vector"]), None)
    return QUERY_DEFAULTS.get(kind or "", {})


def drop_index(table: Table, name: str, *, missing_ok: bool) -> None:
    dataset = table.dataset()
    if name not in {i.name for i in _describe(dataset)}:
        if missing_ok:
            return
        raise IndexNotFoundError(f"table {table.name!r} has no index {name!r}; see tbl.indexes()")
    store = table._store
    with (
        store._lock(
            store.location.lock_path(table.name, "maintenance"), timeout=600, what="maintenance"
        ),
        lance_errors(f"dropping index {name!r}"),
    ):
        dataset = table.writable_dataset()
        dataset.drop_index(name)
        store.cache.put(table.name, dataset)


def auto_index(table: Table, *, background: bool) -> list[IndexBuild | IndexInfo]:
    """Build the indexes the policy wants and the table lacks."""
    dataset = table.dataset()
    present = {tuple(i.columns) for i in _describe(dataset)}
    results: list[IndexBuild | IndexInfo] = []

    def keep(result: IndexBuild | IndexInfo | IndexSkipped | None) -> None:
        if isinstance(result, IndexBuild | IndexInfo):
            results.append(result)

    if ("vector",) not in present and dataset.count_rows() >= EXACT_SEARCH_MAX_ROWS:
        keep(table.create_index(kind="auto", background=background))
    if ("id",) not in present and dataset.count_rows() > 0:
        keep(table.create_scalar_index("id", background=background))
    if ("text",) not in present and dataset.count_rows(filter="text IS NOT NULL") > 0:
        keep(table.create_fts_index(background=background))
    for name, kind in table.spec.fields.items():
        if (
            (name,) not in present
            and kind in ("string", "int64", "bool", "list<string>", "timestamp")
            and dataset.count_rows() > 0
        ):
            keep(table.create_scalar_index(name, background=background))
    return results


# -- building --------------------------------------------------------------------------------


def skip(skipped: IndexSkipped, *, background: bool) -> IndexBuild | IndexSkipped:
    """Log why no index is built; the answer ``create_index`` returns for it."""
    log.info("%s", skipped.reason)
    return IndexBuild.not_built(skipped) if background else skipped


def build_in_process(
    dataset: lance.LanceDataset,
    request: IndexRequest,
    progress: Callable[[str, float | None], None] | None = None,
) -> None:
    """Run one build against ``dataset`` in this process (commits on success)."""

    def on_progress(event: Any) -> None:
        assert progress is not None
        total = getattr(event, "total", None)
        completed = getattr(event, "completed", None)
        fraction = completed / total if total and completed is not None else None
        progress(str(getattr(event, "stage", "")), fraction)

    # without a callback Lance reports nothing, and cannot hang on reporting either
    callback: dict[str, Any] = {} if progress is None else {"progress_callback": on_progress}
    if request.is_vector:
        dataset.create_index(
            request.column,
            request.kind,
            name=request.name,
            replace=request.replace,
            **callback,
            **request.params,
        )
    else:
        dataset.create_scalar_index(
            request.column,
            request.kind,  # type: ignore[arg-type]
            name=request.name,
            replace=request.replace,
            **callback,
            **request.params,
        )


class IndexBuild:
    """A handle on one index build: poll, wait, await, cancel, or get a callback.

    Works like ``concurrent.futures.Future``: ``result()`` returns the index's
    :class:`IndexInfo` or raises the build's error (``IndexBuildError``). A request the
    policy answered without building is finished at once; ``skipped`` says why.
    """

    def __init__(self, request: IndexRequest) -> None:
        self.request = request
        self.table = request.table
        self.created_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._status: BuildStatus = "queued"
        self._stage = "queued"
        self._fraction: float | None = None
        self._result: IndexInfo | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[IndexBuild], None]] = []
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._cancel_requested = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self.skipped: IndexSkipped | None = None

    @classmethod
    def not_built(cls, skipped: IndexSkipped) -> IndexBuild:
        """A finished handle for a request the policy answered without building
        (``build.skipped`` and ``build.progress["stage"]`` say why)."""
        build = cls(IndexRequest(skipped.table, skipped.column, "NONE", "", {}))
        build.skipped = skipped
        build._stage = skipped.reason
        build._finish("succeeded")
        return build

    def __repr__(self) -> str:
        return (
            f"IndexBuild(table={self.table!r}, kind={self.request.kind!r}, "
            f"status={self.status!r}, progress={self.progress})"
        )

    @property
    def status(self) -> BuildStatus:
        return self._status

    @property
    def kind(self) -> str:
        return self.request.kind

    @property
    def progress(self) -> dict[str, Any]:
        """``{"stage": str, "fraction": float | None}`` from Lance's progress events."""
        return {"stage": self._stage, "fraction": self._fraction}

    def done(self) -> bool:
        return self._done.is_set()

    def running(self) -> bool:
        return self._status == "running"

    def cancelled(self) -> bool:
        return self._status == "cancelled"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the build ends (or ``timeout`` s pass); return whether it ended."""
        return self._done.wait(timeout)

    def result(self, timeout: float | None = None) -> IndexInfo | None:
        if not self._done.wait(timeout):
            raise TimeoutError(
                f"index build on {self.table!r} still {self._status} after {timeout}s"
            )
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self._done.wait(timeout):
            raise TimeoutError(f"index build on {self.table!r} still {self._status}")
        return self._error

    def cancel(self) -> bool:
        """Stop the build; the table stays unchanged. False if it already finished."""
        with self._lock:
            if self._done.is_set():
                return False
            self._cancel_requested.set()
            process = self._process
            queued = self._status == "queued"
        if process is not None:
            process.kill()
        if queued:
            self._fail(
                IndexBuildCancelledError(f"index build on {self.table!r} was cancelled"),
                "cancelled",
            )
        return True

    def add_done_callback(self, callback: Callable[[IndexBuild], None]) -> None:
        """Call ``callback(build)`` when it ends (at once if it already has)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        _run_callback(callback, self)

    def __await__(self) -> Generator[Any, None, IndexInfo | None]:
        return asyncio.get_running_loop().run_in_executor(None, self.result).__await__()

    # -- driven by the builder --

    def _set_progress(self, stage: str, fraction: float | None) -> None:
        self._stage = stage
        self._fraction = fraction

    def _start(self) -> bool:
        with self._lock:
            if self._done.is_set() or self._cancel_requested.is_set():
                return False
            self._status = "running"
            self._stage = "starting"
            self.started_at = time.time()
            return True

    def _fail(self, error: BaseException, status: BuildStatus = "failed") -> None:
        self._error = error
        self._finish(status)

    def _succeed(self, info: IndexInfo | None) -> None:
        self._result = info
        self._stage, self._fraction = "done", 1.0
        self._finish("succeeded")

    def _finish(self, status: BuildStatus) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._status = status
            self.finished_at = time.time()
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _run_callback(callback, self)


def _run_callback(callback: Callable[[IndexBuild], None], build: IndexBuild) -> None:
    try:
        callback(build)
    except Exception:
        log.exception("an IndexBuild done-callback raised")


class IndexBuilder:
    """Runs index builds for one store: blocking, or queued in the background."""

    def __init__(self, store: VectorStore, config: IndexBuildConfig) -> None:
        self._store = store
        self.config = config
        self._pool = ThreadPoolExecutor(
            max_workers=config.max_concurrent, thread_name_prefix="omnivector-index"
        )
        self._builds: list[IndexBuild] = []
        self._lock = threading.Lock()

    def run(self, request: IndexRequest, *, background: bool) -> IndexBuild | IndexInfo | None:
        if not background:
            with self._maintenance_lock(request.table, None):
                self._build_here(request, None)
            return self._info(request)
        with self._lock:
            for build in self._builds:
                if build.request == request and not build.done():
                    return build  # the same index is already being built
            build = IndexBuild(request)
            self._builds.append(build)
        self._pool.submit(self._run_background, build)
        return build

    def builds(self) -> list[IndexBuild]:
        with self._lock:
            return list(self._builds)

    def wait_all(self, timeout: float | None) -> list[IndexBuild]:
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = [b for b in self.builds() if not b.done()]
        for build in pending:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if not build.wait(left):
                raise TimeoutError(
                    f"{sum(not b.done() for b in pending)} index build(s) "
                    f"still running after {timeout}s"
                )
        return pending

    def cancel_table(self, table: str) -> None:
        for build in self.builds():
            if build.table == table and not build.done():
                build.cancel()
                build.wait(30)

    def shutdown(self, *, cancel: bool, timeout: float | None) -> None:
        if cancel:
            for build in self.builds():
                build.cancel()
        try:
            self.wait_all(timeout)
        finally:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)

    def _maintenance_lock(self, table: str, build: IndexBuild | None) -> Any:
        cancelled = build._cancel_requested.is_set if build is not None else None
        return table_lock(
            self._store.location.lock_path(table, "maintenance"),
            timeout=self.config.lock_timeout,
            what="maintenance",
            cancelled=cancelled,
        )

    def _run_background(self, build: IndexBuild) -> None:
        request = build.request
        try:
            with self._maintenance_lock(request.table, build):
                if not build._start():
                    return
                log.info(
                    "index build started: %s %s on %s", request.kind, request.column, request.table
                )
                if self.config.executor == "process":
                    self._build_in_worker(build)
                else:
                    self._build_here(request, build._set_progress)
            if build._cancel_requested.is_set():
                raise IndexBuildCancelledError(f"index build on {request.table!r} was cancelled")
            build._succeed(self._info(request))
            log.info("index build succeeded: %s on %s", request.kind, request.table)
        except LockCancelledError:
            build._fail(
                IndexBuildCancelledError(f"index build on {request.table!r} was cancelled"),
                "cancelled",
            )
        except IndexBuildCancelledError as exc:
            build._fail(exc, "cancelled")
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, IndexBuildError)
                else IndexBuildError(
                    f"building {request.kind} index on {request.table!r}.{request.column} "
                    f"failed: {lance_message(exc)}"
                )
            )
            if error is not exc:
                error.__cause__ = exc
            log.error("%s", error)
            build._fail(error)

    def _build_here(
        self, request: IndexRequest, progress: Callable[[str, float | None], None] | None
    ) -> None:
        dataset = self._store.cache.open_private(request.table)
        try:
            build_in_process(dataset, request, progress)
        except OmnivectorError:
            raise
        except Exception as exc:
            raise IndexBuildError(
                f"building {request.kind} index on {request.table!r}.{request.column} failed: "
                f"{lance_message(exc)}"
            ) from exc
        self._store.cache.put(request.table, dataset)

    def _build_in_worker(self, build: IndexBuild) -> None:
        error, code, stalled = self._run_worker(build, progress=True)
        if stalled and not build._cancel_requested.is_set():
            log.warning(
                "index build on %r stalled (no output, no CPU for %.0f s); retrying without "
                "progress events",
                build.table,
                self.config.stall_seconds,
            )
            error, code, stalled = self._run_worker(build, progress=False)
        if build._cancel_requested.is_set():
            raise IndexBuildCancelledError(f"index build on {build.table!r} was cancelled")
        if stalled:
            error = f"the worker stalled twice (no output, no CPU for {self.config.stall_seconds}s)"
        if error is not None or code != 0:
            raise IndexBuildError(
                f"building {build.request.kind} index on {build.table!r} failed: "
                f"{error or f'exit code {code}'}"
            )

    def _run_worker(self, build: IndexBuild, *, progress: bool) -> tuple[str | None, int, bool]:
        """One worker run: (its error or last stderr line, exit code, killed as stalled)."""
        job = json.dumps(
            {
                "uri": self._store.location.table_uri(build.table),
                "storage_options": self._store.storage_options,
                "request": json.loads(build.request.to_json()),
                "nice": self.config.worker_nice,
                "progress": progress,
            }
        )
        # stderr goes to a file: a chatty worker must never block on a full pipe.
        with (
            tempfile.TemporaryFile("w+") as stderr,
            subprocess.Popen(
                worker_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "LANCE_INCLUDE_VECTOR_CENTROIDS": "false"},
            ) as process,
        ):
            with build._lock:
                build._process = process
            if build._cancel_requested.is_set():
                process.kill()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(job)
                process.stdin.close()
            except BrokenPipeError:
                pass  # killed by cancel() before it read its job
            with StallWatch(process, self.config.stall_seconds) as watch:
                error = _follow_worker(build, process.stdout, watch.touch)
                code = process.wait()
            stderr.seek(0)
            last_lines = stderr.read().strip().splitlines()[-1:]
        if error is None and code != 0 and last_lines:
            error = last_lines[0]
        return error, code, watch.stalled

    def _info(self, request: IndexRequest) -> IndexInfo | None:
        dataset = self._store.open_dataset(request.table)
        return next((i for i in list_indexes(dataset) if i.name == request.name), None)


def worker_command() -> list[str]:
    """The command line of an index-build worker process."""
    return [sys.executable, "-m", "omnivector.indexing.worker"]


def _follow_worker(
    build: IndexBuild, lines: Iterable[str], heard: Callable[[], None]
) -> str | None:
    """Read the worker's JSON-lines protocol; return its error message, if any."""
    error = None
    for line in lines:
        heard()
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("event") == "progress":
            build._set_progress(str(message.get("stage", "")), message.get("fraction"))
        elif message.get("event") == "error":
            error = str(message.get("message"))
    return error

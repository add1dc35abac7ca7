"""Running a table's heavy work on a Ray cluster through lance-ray.

Bulk ingest (``tbl.add(data, engine="ray")``, ``tbl.upsert(data, engine="ray")``), vector,
scalar and full-text index builds (``tbl.create_index(..., engine="ray")`` and its siblings)
and compaction (``tbl.compact(engine="ray")``) can run as Ray tasks instead of in this
process. The result is an ordinary omnivector table, served with no conversion:

- written rows go through the same validation and conversion as a local write (in the Ray
  workers), so they carry the table's columns, encoding hints and storage version;
- ids are checked to be new and unique before anything is committed: each worker checks its
  block against the table as it was when the write started, the driver checks across blocks
  and, under the table's write lock, against rows committed meanwhile;
- an upsert commits its files and the deletion of the rows they replace as one update;
- index builds and compaction hold the table's maintenance lock, like local ones, and every
  commit drops the table's handle from the connection pool so the next read sees it.

Ray and lance-ray are optional (``pip install 'omni-vector[ray]'``) and imported only when an
operation runs here. Ray workers import omnivector, so a remote cluster needs it installed on
its nodes (a Ray ``runtime_env`` with ``pip: ["omni-vector"]`` does that).
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import lance
import pyarrow as pa
import pyarrow.compute as pc

from . import errors
from .errors import (
    DuplicateIdError,
    IndexBuildError,
    InvalidInputError,
    MissingDependencyError,
    OmnivectorError,
    StorageError,
    lance_errors,
)
from .filters import ids_filter
from .indexing import IndexInfo, IndexRequest, list_indexes
from .maintenance import DEFAULT_MAINTENANCE, CompactionResult
from .schema import WRITE_BATCH_ROWS, TableSpec

if TYPE_CHECKING:
    from .table import Table, WriteResult

__all__ = ["DEFAULT_RAY", "Engine", "RayEngine", "resolve_engine"]

log = logging.getLogger(__name__)

_LOCK_TIMEOUT = 3600.0
_MAX_ROWS_PER_FILE = 1_048_576
# Index kinds lance-ray builds in segments, one per worker.
_SCALAR_KINDS = ("BTREE", "BITMAP", "INVERTED")
_MAX_SAMPLE_RATE = 256
_INSTALL_HINT = "pip install 'omni-vector[ray]'"


@dataclass(frozen=True, slots=True)
class RayEngine:
    """Where and how wide distributed work runs (``engine=RayEngine(...)``; ``"ray"`` is the
    default one).

    - ``address``: the Ray cluster to connect to. ``None`` connects to ``$RAY_ADDRESS`` when
      set, else starts a local cluster in this process (Ray stops it at exit). Either only
      happens when Ray is not initialised yet: call ``ray.init(...)`` yourself for full control.
    - ``num_cpus``: CPUs of a local cluster started here (``None``: every core).
    - ``num_workers``: tasks run side by side for index builds and compaction (``None``: as
      many as the cluster has CPUs for). Each worker opens the table and holds the part of an
      index it builds (its share of the fragments) in memory.
    - ``max_rows_per_file``: rows per data file a write task writes; each task writes at least
      one file per block it receives, so blocks, not this, usually set the file count.
    - ``ray_remote_args``: options for every Ray task and actor, e.g. ``{"num_cpus": 2}``.
    """

    address: str | None = None
    num_cpus: int | None = None
    num_workers: int | None = None
    max_rows_per_file: int = _MAX_ROWS_PER_FILE
    ray_remote_args: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("num_cpus", "num_workers"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidInputError(f"{name} must be a positive integer or None, got {value!r}")
        rows = self.max_rows_per_file
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise InvalidInputError(f"max_rows_per_file must be a positive integer, got {rows!r}")
        if self.address is not None and not isinstance(self.address, str):
            raise InvalidInputError(f"address must be a string or None, got {self.address!r}")
        if self.ray_remote_args is not None and not isinstance(self.ray_remote_args, Mapping):
            raise InvalidInputError("ray_remote_args must be a dict of Ray options")


DEFAULT_RAY = RayEngine()

Engine = Literal["local", "ray"] | RayEngine


def resolve_engine(engine: object) -> RayEngine | None:
    """``None`` for local work, else the Ray engine to use."""
    if engine == "local":
        return None
    if engine == "ray":
        return DEFAULT_RAY
    if isinstance(engine, RayEngine):
        return engine
    raise InvalidInputError(f"engine must be 'local', 'ray' or a RayEngine, got {engine!r}")


# -- Ray ------------------------------------------------------------------------------------


def _modules(engine: RayEngine) -> tuple[Any, Any]:
    """``(ray, lance_ray)``, with Ray initialised as ``engine`` says."""
    # Under ``uv run``, Ray would start its workers with ``uv run`` in a copy of the working
    # directory, where the project's environment is missing and every worker dies at start.
    # Workers here use this interpreter; set the variable to 1 to keep Ray's behaviour.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import lance_ray
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            f"engine='ray' needs Ray and lance-ray, which are not installed: {_INSTALL_HINT}"
        ) from exc
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False}
        local = engine.address in (None, "local") and (
            engine.address == "local" or "RAY_ADDRESS" not in os.environ
        )
        if local and engine.num_cpus is not None:
            options["num_cpus"] = engine.num_cpus
        try:
            with warnings.catch_warnings():
                # Ray forks only to exec its own processes; Lance's fork warning is moot.
                warnings.filterwarnings("ignore", "lance is not fork-safe", UserWarning)
                ray.init(address=engine.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise StorageError(f"could not start or reach the Ray cluster: {exc}") from exc
    return ray, lance_ray


def _remote_args(engine: RayEngine) -> dict[str, Any] | None:
    return dict(engine.ray_remote_args) if engine.ray_remote_args else None


def _workers(ray: Any, engine: RayEngine) -> int:
    """Workers for a lance-ray pool: never more than the cluster can run at once (a Ray pool
    larger than that is refused)."""
    cpus = float(ray.cluster_resources().get("CPU", 1))
    per_worker = float((engine.ray_remote_args or {}).get("num_cpus", 1) or 1)
    fits = max(1, int(cpus // per_worker))
    return min(engine.num_workers or fits, fits)


# -- ingest ---------------------------------------------------------------------------------

_RESULT_SCHEMA = pa.schema(
    [
        pa.field("fragments", pa.list_(pa.binary())),
        pa.field("ids", pa.list_(pa.string())),
        pa.field("taken", pa.list_(pa.string())),
        pa.field("error", pa.string()),
        pa.field("message", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class _BlockWriter:
    """The Ray task body of a distributed write: validate, convert, check ids, write files.

    It writes data files but commits nothing: it returns the fragments' metadata, the block's
    ids and any ids already stored, so the driver can refuse the whole write. Caller errors
    come back as values, since Ray does not carry the original exception to the driver.
    """

    table: str
    uri: str
    spec_json: str
    extra_schema: pa.Schema
    storage_options: dict[str, str] | None
    read_version: int | None
    storage_version: str
    max_rows_per_file: int

    def __call__(self, block: pa.Table) -> pa.Table:
        from lance_ray import LanceFragmentWriter

        from .table import existing_ids

        try:
            spec = TableSpec.from_json(self.spec_json)
            table = spec.to_arrow(_plain_columns(block), extra_schema=self.extra_schema)
            ids = table.column("id")
            taken: list[str] = []
            if self.read_version is not None:
                with lance_errors(f"opening {self.table!r}"):
                    dataset = lance.dataset(
                        self.uri, version=self.read_version, storage_options=self.storage_options
                    )
                taken = sorted(existing_ids(dataset, ids, table=self.table))
            fragments: list[bytes] = []
            if not taken and table.num_rows:
                writer = LanceFragmentWriter(
                    self.uri,
                    schema=table.schema,
                    data_storage_version=self.storage_version,
                    storage_options=self.storage_options,
                    max_rows_per_file=self.max_rows_per_file,
                )
                with lance_errors(f"writing to {self.table!r}"):
                    fragments = writer(table).column("fragment").to_pylist()
            return _result(fragments=fragments, ids=ids.combine_chunks(), taken=taken)
        except OmnivectorError as exc:
            taken = list(exc.ids) if isinstance(exc, DuplicateIdError) else []
            return _result(taken=taken, error=exc)


def _result(
    *,
    fragments: list[bytes] | None = None,
    ids: pa.Array | None = None,
    taken: list[str] | None = None,
    error: OmnivectorError | None = None,
) -> pa.Table:
    id_values = ids if ids is not None else pa.array([], pa.string())
    return pa.table(
        [
            pa.array([fragments or []], pa.list_(pa.binary())),
            pa.ListArray.from_arrays(pa.array([0, len(id_values)], pa.int32()), id_values),
            pa.array([taken or []], pa.list_(pa.string())),
            pa.array([type(error).__name__ if error is not None else None], pa.string()),
            pa.array([str(error) if error is not None else None], pa.string()),
        ],
        schema=_RESULT_SCHEMA,
    )


def _plain_columns(block: pa.Table) -> pa.Table:
    """Ray's tensor columns (numpy vectors) as the Arrow lists they are stored as."""
    columns = []
    for column in block.columns:
        if isinstance(column.type, pa.ExtensionType):
            column = pa.chunked_array(
                [chunk.storage for chunk in column.chunks], column.type.storage_type
            )
        columns.append(column)
    return pa.table(columns, names=block.column_names)


@dataclass(frozen=True, slots=True)
class _Written:
    """Data files Ray tasks wrote for one write, not committed yet."""

    fragments: list[Any]
    ids: pa.Array
    read_version: int
    last_fragment: int


def add(table: Table, data: Any, engine: RayEngine) -> WriteResult:
    """Insert documents with Ray tasks; ``data`` is a ``ray.data.Dataset`` or any input
    ``Table.add`` takes. Same contract as ``Table.add``: new, unique ids or nothing written."""
    from .table import WriteResult

    written = _write_blocks(table, data, engine, new_ids_only=True)
    if not written.fragments:
        return WriteResult(version=table.version)
    try:
        version = _commit_append(table, written)
    except DuplicateIdError:
        # refused before the commit; a failed commit leaves its files (a commit that failed
        # late may still reference them)
        table._store.location.remove_files(table.name, _data_files(written.fragments))
        raise
    table._store.after_write(table.name)
    return WriteResult(inserted=len(written.ids), version=version)


def upsert(table: Table, data: Any, engine: RayEngine) -> WriteResult:
    """Insert documents with Ray tasks, replacing stored documents with the same id in the
    same commit (readers see the old documents or the new ones, never neither)."""
    from .table import WriteResult

    written = _write_blocks(table, data, engine, new_ids_only=False)
    if not written.fragments:
        return WriteResult(version=table.version)
    updated, version = _commit_upsert(table, written)
    table._store.after_write(table.name)
    return WriteResult(inserted=len(written.ids) - updated, updated=updated, version=version)


def _write_blocks(table: Table, data: Any, engine: RayEngine, *, new_ids_only: bool) -> _Written:
    """Write ``data`` as data files with one Ray task per block, checking every id is unique
    (and, with ``new_ids_only``, not stored yet); the files are removed if not."""
    ray, _ = _modules(engine)
    store = table._store
    dataset = table.writable_dataset()
    read_version = int(dataset.version)
    writer = _BlockWriter(
        table=table.name,
        uri=table.uri,
        spec_json=table.spec.to_json(),
        extra_schema=table._extra_schema(),
        storage_options=store.storage_options or None,
        read_version=read_version if new_ids_only and dataset.count_rows() else None,
        storage_version=table.spec.storage.storage_version,
        max_rows_per_file=engine.max_rows_per_file,
    )
    source = _ray_dataset(ray, table, data, _workers(ray, engine))
    try:
        outputs = source.map_batches(
            writer, batch_format="pyarrow", **(_remote_args(engine) or {})
        ).to_arrow_refs()
        results = pa.concat_tables([_RESULT_SCHEMA.empty_table(), *ray.get(outputs)])
    except OmnivectorError:
        raise
    except Exception as exc:
        raise StorageError(f"the distributed write to {table.name!r} failed: {exc}") from exc
    fragments = [
        pickle.loads(raw) for row in results.column("fragments").to_pylist() for raw in row
    ]
    try:
        _check_results(table.name, results)
    except OmnivectorError:
        store.location.remove_files(table.name, _data_files(fragments))
        raise
    return _Written(
        fragments=fragments,
        ids=pc.list_flatten(results.column("ids")),
        read_version=read_version,
        last_fragment=max((f.fragment_id for f in dataset.get_fragments()), default=-1),
    )


def _ray_dataset(ray: Any, table: Table, data: Any, workers: int) -> Any:
    if isinstance(data, ray.data.Dataset):
        return data
    # Local input is validated (and embedded) here; it is split so every worker writes.
    converted = table._prepare(data)
    step = max(WRITE_BATCH_ROWS, -(-converted.num_rows // workers))
    parts = [converted.slice(start, step) for start in range(0, converted.num_rows, step)]
    return ray.data.from_arrow(parts or [converted])


def _check_results(name: str, results: pa.Table) -> None:
    failed = results.filter(pc.is_valid(results.column("error")))
    if failed.num_rows:
        kind, message = failed.column("error")[0].as_py(), failed.column("message")[0].as_py()
        cls = getattr(errors, kind, None)
        if cls is DuplicateIdError:
            raise DuplicateIdError(message, failed.column("taken")[0].as_py())
        if isinstance(cls, type) and issubclass(cls, OmnivectorError):
            raise cls(message)
        raise InvalidInputError(message)
    taken = sorted(pc.list_flatten(results.column("taken")).to_pylist())
    if taken:
        raise DuplicateIdError(
            f"{len(taken)} id(s) already exist in table {name!r}, e.g. {taken[:5]}; nothing "
            "was written. Use upsert() to replace them",
            taken,
        )
    counts = pc.value_counts(pc.list_flatten(results.column("ids")))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
    if repeated:
        raise DuplicateIdError(
            f"{len(repeated)} id(s) appear more than once in the data, e.g. {repeated[:5]}; "
            "each id must be unique (use upsert to replace documents); nothing was written",
            repeated,
        )


def _commit_append(table: Table, written: _Written) -> int:
    """Commit the written files as one append, under the write lock, once no id committed
    since the write started collides."""
    store = table._store
    with _write_lock(table):
        latest = store.cache.open_private(table.name)
        with lance_errors(f"committing to {table.name!r}"):
            if int(latest.version) != written.read_version:
                newer = [f for f in latest.get_fragments() if f.fragment_id > written.last_fragment]
                if newer:
                    scanner = latest.scanner(columns=["id"], fragments=newer)
                    stored = scanner.to_table().column("id")
                    ids = written.ids
                    clash = ids.filter(pc.is_in(ids, value_set=stored.combine_chunks()))
                    if len(clash):
                        taken = sorted(clash.to_pylist())
                        raise DuplicateIdError(
                            f"{len(taken)} id(s) were added to {table.name!r} by another writer "
                            f"during the distributed write, e.g. {taken[:5]}; nothing was "
                            "written",
                            taken,
                        )
            committed = lance.LanceDataset.commit(
                table.uri,
                lance.LanceOperation.Append(written.fragments),
                read_version=int(latest.version),
                storage_options=store.storage_options or None,
            )
        store.cache.evict(table.name)
    return int(committed.version)


def _commit_upsert(table: Table, written: _Written) -> tuple[int, int]:
    """Commit the written files and the deletion of the stored rows they replace as one
    update, under the write lock; returns ``(rows replaced, version)``."""
    from .table import stored_rows

    store = table._store
    with _write_lock(table):
        latest = store.cache.open_private(table.name)
        with lance_errors(f"upserting into {table.name!r}"):
            replaced = stored_rows(latest, written.ids, table=table.name, with_address=True)
            removed, updated = _delete_rows(latest, replaced)
            committed = lance.LanceDataset.commit(
                table.uri,
                lance.LanceOperation.Update(
                    removed_fragment_ids=removed,
                    updated_fragments=updated,
                    new_fragments=written.fragments,
                ),
                read_version=int(latest.version),
                storage_options=store.storage_options or None,
            )
        store.cache.evict(table.name)
    return replaced.num_rows, int(committed.version)


def _delete_rows(dataset: lance.LanceDataset, rows: pa.Table) -> tuple[list[int], list[Any]]:
    """Write (not commit) deletion files for ``rows`` (``id``, ``_rowaddr``): the ids of the
    fragments left empty, and the metadata of the others."""
    if rows.num_rows == 0:
        return [], []
    fragment_ids = pc.shift_right(rows.column("_rowaddr"), 32)
    removed: list[int] = []
    updated: list[Any] = []
    for fragment_id in pc.unique(fragment_ids).to_pylist():
        ids = rows.column("id").filter(pc.equal(fragment_ids, fragment_id)).to_pylist()
        fragment = dataset.get_fragment(fragment_id)
        assert fragment is not None  # its rows were just read
        metadata = fragment.delete(ids_filter(ids))
        if metadata is None:
            removed.append(fragment_id)
        else:
            updated.append(metadata)
    return removed, updated


def _data_files(fragments: list[Any]) -> list[str]:
    return [f"data/{file.path}" for fragment in fragments for file in fragment.files]


# -- index builds -----------------------------------------------------------------------------


def build_index(table: Table, request: IndexRequest, engine: RayEngine) -> IndexInfo | None:
    """Build the planned index with lance-ray (one segment per worker), blocking."""
    store = table._store
    if not request.is_vector and request.kind not in _SCALAR_KINDS:
        raise InvalidInputError(
            f"lance-ray does not build {request.kind} indexes; build this one with engine='local'"
        )
    ray, lance_ray = _modules(engine)
    params = dict(request.params)
    action = f"building {request.kind} index on {table.name!r}.{request.column} with Ray"
    with _maintenance(table), _build_errors(action):
        rows = table.writable_dataset().count_rows()
        common: dict[str, Any] = {
            "name": request.name,
            "replace": request.replace,
            "num_workers": _workers(ray, engine),
            "storage_options": store.storage_options or None,
            "ray_remote_args": _remote_args(engine),
        }
        if request.is_vector:
            metric = params.pop("metric", table.metric)
            if "sample_rate" not in params:
                params["sample_rate"] = _sample_rate(request.kind, rows, params)
            lance_ray.create_index(
                table.uri,
                column=request.column,
                index_type=request.kind,
                metric=metric,
                **common,
                **params,
            )
        else:
            lance_ray.create_scalar_index(
                table.uri, column=request.column, index_type=request.kind, **common, **params
            )
        store.cache.evict(table.name)
    dataset = store.open_dataset(table.name)
    return next((i for i in list_indexes(dataset) if i.name == request.name), None)


def _sample_rate(kind: str, rows: int, params: Mapping[str, Any]) -> int:
    """Rows sampled per IVF partition (and PQ centroid) for training on the driver.

    lance-ray trains on a sample of exactly ``sample_rate`` rows per partition (and per PQ
    centroid) and refuses a rate the table cannot fill, where a local build trains on every
    row; on tables under 65,536 rows the rate is lowered to what the table holds.
    """
    partitions = max(int(params.get("num_partitions") or 1), 1)
    limit = rows // partitions
    if kind.endswith("PQ"):
        limit = min(limit, rows // 2 ** int(params.get("num_bits", 8)))
    rate = min(_MAX_SAMPLE_RATE, limit)
    if rate < 2:
        raise InvalidInputError(
            f"{rows} rows are too few to train a distributed {kind} index with {partitions} "
            "partitions; use fewer partitions, or engine='local'"
        )
    return rate


# -- compaction -------------------------------------------------------------------------------


def compact(
    table: Table,
    engine: RayEngine,
    *,
    target_rows_per_fragment: int | None = None,
    materialize_deletions: bool = True,
) -> CompactionResult:
    """Merge small fragments (and purge deleted rows) with one Ray task per rewrite."""
    from lance.optimize import CompactionOptions

    store = table._store
    ray, lance_ray = _modules(engine)
    options = CompactionOptions(
        target_rows_per_fragment=target_rows_per_fragment
        or DEFAULT_MAINTENANCE.target_rows_per_fragment,
        materialize_deletions=materialize_deletions,
    )
    if materialize_deletions:
        options["materialize_deletions_threshold"] = 0.0
    action = f"compacting {table.name!r} with Ray"
    # As a local compaction: writers wait, so their commits cannot discard the rewrite.
    with (
        _maintenance(table),
        _write_lock(table),
        _storage_errors(action),
    ):
        metrics = lance_ray.compact_files(
            table.uri,
            compaction_options=options,
            num_workers=_workers(ray, engine),
            storage_options=store.storage_options or None,
            ray_remote_args=_remote_args(engine),
        )
        store.cache.evict(table.name)
    if metrics is None:
        return CompactionResult(0, 0, 0, 0)
    return CompactionResult(
        int(metrics.fragments_removed),
        int(metrics.fragments_added),
        int(metrics.files_removed),
        int(metrics.files_added),
    )


# -- shared -----------------------------------------------------------------------------------


def _write_lock(table: Table) -> Any:
    store = table._store
    return store.lock(
        store.location.lock_path(table.name, "write"), timeout=_LOCK_TIMEOUT, what="write"
    )


def _maintenance(table: Table) -> Any:
    store = table._store
    return store.lock(
        store.location.lock_path(table.name, "maintenance"),
        timeout=store.builder.config.lock_timeout,
        what="maintenance",
    )


@contextmanager
def _build_errors(action: str) -> Iterator[None]:
    try:
        yield
    except OmnivectorError:
        raise
    except Exception as exc:
        raise IndexBuildError(f"{action} failed: {exc}") from exc


@contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except OmnivectorError:
        raise
    except Exception as exc:
        raise StorageError(f"{action} failed: {exc}") from exc

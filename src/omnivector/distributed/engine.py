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
- an upsert commits its files and the deletion of the rows they replace as one update
  (the writes live in :mod:`omnivector.distributed_writes`);
- index builds and compaction hold the table's maintenance lock, like local ones, and every
  commit drops the table's handle from the connection pool so the next read sees it.

Ray and lance-ray are optional (``pip install 'omni-vector[ray]'``) and imported only when an
operation runs here. Ray workers import omnivector, so a remote cluster needs it installed on
its nodes (a Ray ``runtime_env`` with ``pip: ["omni-vector"]`` does that).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from omnivector.core.configs import DEFAULT_MAINTENANCE
from omnivector.core.errors import (
    IndexBuildError,
    InvalidInputError,
    MissingDependencyError,
    OmnivectorError,
    StorageError,
    lance_message,
    storage_error,
)
from omnivector.core.validation import is_integer
from omnivector.indexing.catalog import IndexInfo, list_indexes
from omnivector.indexing.planning import IndexRequest
from omnivector.maintenance.compaction import CompactionResult
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import CompactionOptions
from omnivector.storage.locks import REWRITE_TIMEOUT

__all__ = ["DEFAULT_RAY", "Engine", "RayEngine", "resolve_engine"]

_MAX_ROWS_PER_FILE = 1_048_576
# Index kinds lance-ray builds in segments, one per worker.
_SCALAR_KINDS = ("BTREE", "BITMAP", "INVERTED")
_MAX_SAMPLE_RATE = 256


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
            if value is not None and (not is_integer(value) or value < 1):
                raise InvalidInputError(f"{name} must be a positive integer or None, got {value!r}")
        rows = self.max_rows_per_file
        if not is_integer(rows) or rows < 1:
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


def ray_modules(engine: RayEngine) -> tuple[Any, Any]:
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
            "engine='ray' needs Ray and lance-ray, which are not installed", extra="ray"
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


def remote_args(engine: RayEngine) -> dict[str, Any] | None:
    return dict(engine.ray_remote_args) if engine.ray_remote_args else None


def worker_count(ray: Any, engine: RayEngine) -> int:
    """Workers for a lance-ray pool: never more than the cluster can run at once (a Ray pool
    larger than that is refused)."""
    cpus = float(ray.cluster_resources().get("CPU", 1))
    per_worker = float((engine.ray_remote_args or {}).get("num_cpus", 1) or 1)
    fits = max(1, int(cpus // per_worker))
    return min(engine.num_workers or fits, fits)


# -- index builds -----------------------------------------------------------------------------


def build_index(ctx: TableContext, request: IndexRequest, engine: RayEngine) -> IndexInfo | None:
    """Build the planned index with lance-ray (one segment per worker), blocking."""
    if not request.is_vector and request.kind not in _SCALAR_KINDS:
        raise InvalidInputError(
            f"lance-ray does not build {request.kind} indexes; build this one with engine='local'"
        )
    ray, lance_ray = ray_modules(engine)
    params = dict(request.params)
    action = f"building {request.kind} index on {ctx.name!r}.{request.column} with Ray"
    with _maintenance(ctx), _build_errors(action):
        rows = ctx.writable_dataset().count_rows()
        common: dict[str, Any] = {
            "name": request.name,
            "replace": request.replace,
            "num_workers": worker_count(ray, engine),
            "storage_options": ctx.services.datasets.storage_options or None,
            "ray_remote_args": remote_args(engine),
        }
        if request.is_vector:
            metric = params.pop("metric", ctx.spec.metric)
            if "sample_rate" not in params:
                params["sample_rate"] = _sample_rate(request.kind, rows, params)
            lance_ray.create_index(
                ctx.uri,
                column=request.column,
                index_type=request.kind,
                metric=metric,
                **common,
                **params,
            )
        else:
            lance_ray.create_scalar_index(
                ctx.uri, column=request.column, index_type=request.kind, **common, **params
            )
        ctx.services.datasets.evict(ctx.name)
    dataset = ctx.dataset()
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
    ctx: TableContext,
    engine: RayEngine,
    *,
    target_rows_per_fragment: int | None = None,
    materialize_deletions: bool = True,
) -> CompactionResult:
    """Merge small fragments (and purge deleted rows) with one Ray task per rewrite."""
    ray, lance_ray = ray_modules(engine)
    options = CompactionOptions(
        target_rows_per_fragment=target_rows_per_fragment
        or DEFAULT_MAINTENANCE.target_rows_per_fragment,
        materialize_deletions=materialize_deletions,
    )
    if materialize_deletions:
        options["materialize_deletions_threshold"] = 0.0
    action = f"compacting {ctx.name!r} with Ray"
    # As a local compaction: writers wait, so their commits cannot discard the rewrite.
    with (
        _maintenance(ctx),
        write_lock(ctx),
        _storage_errors(action),
    ):
        metrics = lance_ray.compact_files(
            ctx.uri,
            compaction_options=options,
            num_workers=worker_count(ray, engine),
            storage_options=ctx.services.datasets.storage_options or None,
            ray_remote_args=remote_args(engine),
        )
        ctx.services.datasets.evict(ctx.name)
    if metrics is None:
        return CompactionResult(0, 0, 0, 0)
    return CompactionResult(
        int(metrics.fragments_removed),
        int(metrics.fragments_added),
        int(metrics.files_removed),
        int(metrics.files_added),
    )


# -- shared -----------------------------------------------------------------------------------


def write_lock(ctx: TableContext) -> Any:
    return ctx.services.locks.write(ctx.name, timeout=REWRITE_TIMEOUT)


def _maintenance(ctx: TableContext) -> Any:
    return ctx.services.locks.maintenance(ctx.name, timeout=ctx.services.index_builds.lock_timeout)


@contextmanager
def _build_errors(action: str) -> Iterator[None]:
    try:
        yield
    except OmnivectorError:
        raise
    except Exception as exc:
        raise IndexBuildError(f"{action} failed: {lance_message(exc)}") from exc


@contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except OmnivectorError:
        raise
    except Exception as exc:
        raise storage_error(action, exc) from exc

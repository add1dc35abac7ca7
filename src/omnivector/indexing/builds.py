"""Running index builds: blocking in the caller's thread, or in the background behind an
:class:`IndexBuild` handle.

Background builds run in a worker process by default: an in-process IVF_HNSW build occupies
Lance's whole CPU pool and stalls every other query in the process for tens of seconds,
while a separate, lower-priority process leaves queries answering. Every build holds its
table's maintenance lock shared and its index's lock (across processes): a compaction, which
holds the maintenance lock alone, never wastes a build with a commit conflict, while builds of
different indexes (the vector index and the full-text index) run side by side, as Lance
allows; scalar and full-text builds have a queue of their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from omnivector.core.background import submit
from omnivector.core.errors import (
    IndexBuildCancelledError,
    IndexBuildError,
    OmnivectorError,
    lance_errors,
    lance_message,
)
from omnivector.core.schema import TableSpec
from omnivector.indexing.catalog import IndexInfo, list_indexes
from omnivector.indexing.planning import IndexRequest, IndexSkipped, plan_fts_index
from omnivector.indexing.watch import StallWatch
from omnivector.storage.context import StoreServices
from omnivector.storage.datasets import Dataset
from omnivector.storage.locks import LockCancelledError

__all__ = [
    "BuildStatus",
    "IndexBuild",
    "IndexBuilder",
    "build_in_process",
    "index_new_table",
    "skip",
    "worker_command",
]

log = logging.getLogger(__name__)


BuildStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def index_new_table(name: str, dataset: Dataset, spec: TableSpec) -> None:
    """Give a new, empty table its full-text index on "text" (nothing to index yet: a few
    milliseconds). Text searches never build an index: rows written later are searched
    through this one (Lance scans the rows it does not cover yet, with its tokenizer, so the
    results are those of an index over every row), and auto-maintenance folds them in."""
    request = plan_fts_index(name, dataset, spec, "text", replace=False, tokenizer={})
    with lance_errors(f"creating table {name!r}"):
        build_in_process(dataset, request)


def skip(skipped: IndexSkipped, *, background: bool) -> IndexBuild | IndexSkipped:
    """Log why no index is built; the answer ``create_index`` returns for it."""
    log.info("%s", skipped.reason)
    return IndexBuild.not_built(skipped) if background else skipped


def build_in_process(
    dataset: Dataset,
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

    def __init__(self, services: StoreServices) -> None:
        self._datasets = services.datasets
        self._locks = services.locks
        self.config = config = services.index_builds
        self._pool = ThreadPoolExecutor(
            max_workers=config.max_concurrent, thread_name_prefix="omnivector-index"
        )
        # scalar and full-text builds are short: never queued behind a vector build
        self._scalar_pool = ThreadPoolExecutor(
            max_workers=config.max_concurrent, thread_name_prefix="omnivector-index-scalar"
        )
        self._builds: list[IndexBuild] = []
        self._lock = threading.Lock()

    def run(self, request: IndexRequest, *, background: bool) -> IndexBuild | IndexInfo | None:
        if not background:
            with self._build_locks(request, None):
                self._build_here(request, None)
            return self._info(request)
        with self._lock:
            for build in self._builds:
                if build.request == request and not build.done():
                    return build  # the same index is already being built
            build = IndexBuild(request)
            self._builds.append(build)
        pool = self._pool if request.is_vector else self._scalar_pool
        submit(pool, self._run_background, build)  # in place once the interpreter exits
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

    def forget_builds(self) -> None:
        """In a forked child: the builds belong to the parent, which drives them. (Only
        this thread survived the fork; the lock may have been held by another.)"""
        self._lock = threading.Lock()
        self._builds = []

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
            for pool in (self._pool, self._scalar_pool):
                pool.shutdown(wait=not cancel, cancel_futures=cancel)

    def _build_locks(self, request: IndexRequest, build: IndexBuild | None) -> Any:
        cancelled = build._cancel_requested.is_set if build is not None else None
        return self._locks.index_build(
            request.table, request.name, timeout=self.config.lock_timeout, cancelled=cancelled
        )

    def _run_background(self, build: IndexBuild) -> None:
        request = build.request
        try:
            with self._build_locks(request, build):
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
        dataset = self._datasets.open_private(request.table)
        try:
            build_in_process(dataset, request, progress)
        except OmnivectorError:
            raise
        except Exception as exc:
            raise IndexBuildError(
                f"building {request.kind} index on {request.table!r}.{request.column} failed: "
                f"{lance_message(exc)}"
            ) from exc
        self._datasets.put(request.table, dataset)

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
                "uri": self._datasets.location.table_uri(build.table),
                "storage_options": self._datasets.storage_options,
                "request": json.loads(build.request.to_json()),
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
            _lower_priority(process.pid, self.config.worker_nice)
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
        dataset = self._datasets.get(request.table)
        return next((i for i in list_indexes(dataset) if i.name == request.name), None)


def _lower_priority(pid: int, nice: int) -> None:
    """Lower a worker's priority from the parent, at once: its start-up (importing Lance and
    numpy, about a second of CPU) must not compete with queries either."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(os.getpriority(os.PRIO_PROCESS, 0) + nice, 19))
    except OSError as exc:  # it ended already, or the system refuses
        log.debug("could not lower the priority of worker %d: %s", pid, exc)


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

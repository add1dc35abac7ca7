"""Auto-maintenance: the policy that keeps written tables compact and clean.

One background thread per store: after writes it checks each touched table's fragment count,
small files, deleted rows and unindexed rows, and when a threshold is passed it compacts,
folds new rows into indexes and removes old versions. It holds the table's maintenance lock
(which index builds hold shared, across processes) and skips a table whose lock is busy
rather than wait, so writers are never blocked. It also starts background builds of missing
full-text indexes: on "text" when a table holding text has none (tables get one when they
are created), and on the columns text searches asked for; a search never builds one itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from omnivector.core.configs import MaintenanceConfig
from omnivector.core.errors import (
    CommitConflictError,
)
from omnivector.indexing.catalog import IndexInfo, list_indexes
from omnivector.indexing.planning import IndexRequest, plan_fts_index
from omnivector.maintenance.compaction import (
    cleanup_locked,
    compact_locked,
    optimize_indexes_locked,
    tiered_target_rows,
)
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset
from omnivector.storage.locks import NO_WAIT

__all__ = ["AutoMaintainer"]

log = logging.getLogger(__name__)


class AutoMaintainer:
    """Background thread that keeps written tables compact and clean."""

    def __init__(
        self,
        config: MaintenanceConfig,
        context: Callable[[str], TableContext | None],
        start_build: Callable[[IndexRequest], object],
    ) -> None:
        """``context(name)``: the table's context, None once the store is closed or the
        table is gone; ``start_build(request)`` starts a background index build."""
        self._context = context
        self._start_build = start_build
        # columns searched by text that have no full-text index yet, per table
        self._wanted_text: dict[str, set[str]] = {}
        self.config = config
        self._pending: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._queued: set[str] = set()
        self._last_run: dict[str, float] = {}
        self._followups: dict[str, float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.runs = 0

    def notify(self, name: str) -> None:
        if not self.config.enabled or self._stopping.is_set():
            return
        with self._lock:
            if name in self._queued:
                return
            self._queued.add(name)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="omnivector-maintenance", daemon=True
                )
                self._thread.start()
        self._pending.put(name)

    def want_text_indexes(self, name: str, columns: Sequence[str]) -> None:
        """A text search found no full-text index on ``columns``: build them soon."""
        with self._lock:
            self._wanted_text.setdefault(name, set()).update(columns)
        self.notify(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._wanted_text.pop(name, None)
            self._queued.discard(name)
            self._followups.pop(name, None)
            self._last_run.pop(name, None)

    def shutdown(self, timeout: float | None) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            self._pending.put(None)
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            name = self._next_request()
            if name is None:
                return
            wait = self._last_run.get(name, 0.0) + self.config.min_interval - time.monotonic()
            if wait > 0 and self._stopping.wait(wait):
                return
            with self._lock:
                self._queued.discard(name)
            try:
                self.maintain(name)
            except Exception:
                log.warning(
                    "auto-maintenance of %s failed; it will be retried after the next write",
                    name,
                    exc_info=True,
                )
            self._last_run[name] = time.monotonic()

    def _next_request(self) -> str | None:
        """The next table to look at: a write's request, or a due follow-up cleanup."""
        while True:
            with self._lock:
                now = time.monotonic()
                due = [name for name, at in self._followups.items() if at <= now]
                for name in due:
                    del self._followups[name]
                timeout = min(self._followups.values(), default=now + 3600.0) - now
            for name in due:
                self.notify(name)
            try:
                return self._pending.get(timeout=max(timeout, 0.0))
            except queue.Empty:
                continue

    def _follow_up(self, name: str) -> None:
        """Look at ``name`` again once its recent versions are old enough to remove, so a
        burst of writes does not leave them on disk until the next write."""
        at = time.monotonic() + self.config.keep_seconds + self.config.min_interval
        with self._lock:
            self._followups[name] = at

    def _start_text_indexes(
        self, ctx: TableContext, dataset: Dataset, indexes: list[IndexInfo]
    ) -> None:
        """Start background builds of the missing full-text indexes: on "text" once it holds
        text, and on the columns text searches asked for. Builds hold locks of their own:
        nothing waits for them here."""
        with self._lock:
            wanted = self._wanted_text.pop(ctx.name, set())
        indexed = {tuple(i.columns) for i in indexes if i.kind == "INVERTED"}
        missing = [c for c in sorted({"text", *wanted}) if (c,) not in indexed]
        if (
            "text" in missing
            and "text" not in wanted
            and not dataset.count_rows(filter="text IS NOT NULL")
        ):
            missing.remove("text")
        for column in missing:
            request = plan_fts_index(
                ctx.name, dataset, ctx.spec, column, replace=False, tokenizer={}
            )
            self._start_build(request)
            log.info("building the full-text index on %s.%s in the background", ctx.name, column)

    def maintain(self, name: str) -> bool:
        """Run whatever maintenance ``name`` needs now; return whether anything ran."""
        ctx = self._context(name)
        if ctx is None:
            return False
        dataset = ctx.dataset()
        indexes = list_indexes(dataset)
        self._start_text_indexes(ctx, dataset, indexes)
        summary = dataset.stats.dataset_stats()
        rows = dataset.count_rows()
        deleted = int(summary["num_deleted_rows"])
        needs_compaction = (
            int(summary["num_fragments"]) > self.config.max_fragments
            or int(summary["num_small_files"]) > self.config.max_small_fragments
            or (
                rows + deleted > 0 and deleted / (rows + deleted) > self.config.max_deleted_fraction
            )
        )
        needs_index = any(i.unindexed_rows > self.config.fold_threshold(i.kind) for i in indexes)
        needs_cleanup = len(dataset.versions()) > self.config.keep_versions * 2
        if not (needs_compaction or needs_index or needs_cleanup):
            return False
        try:
            with ctx.services.locks.maintenance(name, timeout=NO_WAIT):
                if needs_compaction:
                    compact_locked(
                        ctx,
                        tiered_target_rows(rows, self.config),
                        deletions_threshold=self.config.max_deleted_fraction,
                    )
                if needs_index or needs_compaction:
                    optimize_indexes_locked(ctx)
                cleanup_locked(
                    ctx, timedelta(seconds=self.config.keep_seconds), self.config.keep_versions
                )
        except CommitConflictError:
            self.notify(name)  # busy (an index build or another process): try again later
            return False
        if len(ctx.dataset().versions()) > self.config.keep_versions:
            self._follow_up(name)
        self.runs += 1
        log.debug("auto-maintenance ran on %s", name)
        return True

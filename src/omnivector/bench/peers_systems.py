"""The systems compared by ``omnivector bench peers``, and the worker that measures one.

Every system is measured in its own worker process (``python -m
omnivector.bench.peers_systems SYSTEM PHASE WORKDIR STORE OUT``) so that its resident memory
is its own. The "build" phase ingests the documents in batches and builds the indexes; the
"query" phase reopens the store, times the first query, sweeps the system's search knob and
runs filtered and hybrid queries. The data arrives as files in a work directory written by
:mod:`omnivector.bench.peers`; the worker writes its figures as JSON.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivector.bench.peers_base import Batch, Params, System
from omnivector.bench.peers_lance import (
    LanceDB,
    Omnivector,
    OmnivectorFlat,
    OmnivectorLance,
    OmnivectorResident,
    Pylance,
)
from omnivector.bench.peers_others import Chroma, Faiss, Hnswlib, Numpy, Qdrant

__all__ = ["SYSTEMS", "Batch", "System", "available", "filtered_figures", "main", "missing_modules"]

SYSTEMS: dict[str, type[System]] = {
    cls.name: cls
    for cls in (
        Omnivector,
        OmnivectorLance,
        OmnivectorFlat,
        OmnivectorResident,
        Pylance,
        Numpy,
        LanceDB,
        Chroma,
        Qdrant,
        Hnswlib,
        Faiss,
    )
}


def missing_modules(system: type[System]) -> list[str]:
    """The Python modules a system needs that are not installed."""
    return [m for m in system.requires if importlib.util.find_spec(m) is None]


def available(system: type[System]) -> bool:
    return not missing_modules(system)


# -- the worker -------------------------------------------------------------------------------


def _rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _load_batches(work: Path, config: dict[str, Any]) -> list[Batch]:
    vectors = np.load(work / "vectors.npy", mmap_mode="r")
    texts: list[str] = json.loads((work / "texts.json").read_text())
    codes = np.load(work / "categories.npy")
    names: list[str] = config["categories"]
    size = int(config["batch_size"])
    return [
        Batch(
            start,
            np.ascontiguousarray(vectors[start : start + size], np.float32),
            texts[start : start + size],
            [names[c] for c in codes[start : start + size]],
        )
        for start in range(0, len(vectors), size)
    ]


def _build(system: System, work: Path, config: dict[str, Any]) -> dict[str, Any]:
    sample = _training_sample(work, system.count)
    ingest_s, train_s = _ingest(system, work, config, sample)
    build_s: float | None = train_s if system.train_first else None
    if not system.train_first:
        start = time.perf_counter()
        built = system.build(sample)
        build_s = time.perf_counter() - start if built else None
    start = time.perf_counter()
    system.build_extras()
    extras_s = time.perf_counter() - start
    system.close()
    return {
        "rows": system.count,
        "ingest_s": ingest_s,
        "ingest_rows_per_s": system.count / ingest_s if ingest_s > 0 else None,
        "build_s": build_s,
        "extra_indexes_s": extras_s,
        "disk_bytes": _disk_bytes(system.path),
        "bytes_per_doc": _disk_bytes(system.path) / system.count,
    }


def _ingest_again(system: System, work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """One more timed ingest into a scratch store, for a median over rounds."""
    sample = _training_sample(work, system.count if system.train_first else 0)
    ingest_s, _ = _ingest(system, work, config, sample)
    system.close()
    return {"ingest_rows_per_s": system.count / ingest_s if ingest_s > 0 else None}


def _training_sample(work: Path, count: int) -> np.ndarray:
    rows = min(count, 50_000)
    return np.asarray(np.load(work / "vectors.npy", mmap_mode="r")[:rows], np.float32)


def _ingest(
    system: System, work: Path, config: dict[str, Any], sample: np.ndarray
) -> tuple[float, float]:
    """Create the store and add every batch: the seconds the adds took (the timed ingest),
    and those spent training first for a system that must."""
    prepared = [system.prepare(b) for b in _load_batches(work, config)]
    system.create()
    train_s = 0.0
    if system.train_first:
        start = time.perf_counter()
        system.build(sample)
        train_s = time.perf_counter() - start
    start = time.perf_counter()
    for item in prepared:
        system.add(item)
    system.finish()
    return time.perf_counter() - start, train_s


def _timed(
    calls: Sequence[Callable[[], list[int]]], warmup: int
) -> tuple[list[list[int]], list[float]]:
    for call in calls[:warmup]:
        call()
    found: list[list[int]] = []
    latencies: list[float] = []
    for call in calls:
        start = time.perf_counter()
        ids = call()
        latencies.append((time.perf_counter() - start) * 1000.0)
        found.append(ids)
    return found, latencies


def _summary(latencies: list[float]) -> dict[str, float]:
    values = np.asarray(latencies)
    mean = float(values.mean())
    return {
        "p50_ms": float(np.median(values)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": mean,
        "qps": 1000.0 / mean if mean > 0 else 0.0,
    }


def _recall(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    hits = [len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def measure_curve(
    system: System, queries: np.ndarray, truth: np.ndarray, k: int, warmup: int, rounds: int
) -> list[dict[str, Any]]:
    """The recall-QPS curve, each setting measured in ``rounds`` passes over the whole sweep
    (so a slow spell of the machine hits several settings a little, not one a lot); a
    setting reports the pass with its median QPS."""
    settings = system.sweep()
    passes: list[list[dict[str, Any]]] = [[] for _ in settings]
    for _ in range(rounds):
        for params, measured in zip(settings, passes, strict=True):
            calls = [functools.partial(system.search, q, k, params) for q in queries]
            found, latencies = _timed(calls, warmup)
            measured.append({"recall": _recall(found, truth, k), **_summary(latencies)})
    curve = []
    for params, measured in zip(settings, passes, strict=True):
        median = sorted(measured, key=lambda m: m["qps"])[len(measured) // 2]
        curve.append({"params": params, **median, "rounds": len(measured)})
    return curve


def _filtered_at(
    system: System,
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    category: str,
    params: Params,
    warmup: int,
) -> dict[str, Any]:
    """Filtered queries at ``params``, each alternating with the same query unfiltered at
    the same settings: the twins' p50 is the baseline a filtered p50 is held to, measured
    under the same load of the machine."""
    calls = [functools.partial(system.search_filtered, q, k, params, category) for q in queries]
    twins = [functools.partial(system.search, q, k, params) for q in queries]
    pairs = [call for pair in zip(calls, twins, strict=True) for call in pair]
    found, latencies = _timed(pairs, 2 * warmup)
    return {
        "recall": _recall(found[::2], truth, k),
        **_summary(latencies[::2]),
        "unfiltered_p50_ms": float(np.median(latencies[1::2])),
        "params": params,
    }


def filtered_figures(
    system: System,
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    category: str,
    curve: list[dict[str, Any]],
    chosen: dict[str, Any],
    target: float,
    warmup: int,
) -> dict[str, Any]:
    """Filtered figures at recall >= ``target`` where the system reaches it: at the
    operating point, else at the next costlier settings of its sweep in turn (by falling
    unfiltered QPS) until one does, so that systems compare at equal recall. A system that
    reaches it nowhere reports its last setting tried."""
    costlier = sorted(
        (point for point in curve if point["qps"] < chosen["qps"]),
        key=lambda point: -point["qps"],
    )
    figures: dict[str, Any] = {}
    for point in [chosen, *costlier]:
        figures = _filtered_at(system, queries, truth, k, category, point["params"], warmup)
        if figures["recall"] >= target:
            break
    return figures


def _query(system: System, work: Path, config: dict[str, Any]) -> dict[str, Any]:
    k = int(config["k"])
    target = float(config["target_recall"])
    warmup = int(config["warmup"])
    queries = np.load(work / "queries.npy")
    truth = np.load(work / "truth.npy")
    filtered_truth = {
        name: np.load(work / f"filtered_truth_{name}.npy") for name in config["filters"]
    }
    query_texts: list[str] = json.loads((work / "query_texts.json").read_text())
    for module in system.imports:
        importlib.import_module(module)
    # RSS after each phase: what the libraries, the first query, the load and each kind of
    # query added
    rss = {"imported": _rss_bytes()}

    start = time.perf_counter()
    system.open()
    first = system.search(queries[0], k, None)
    first_query_ms = (time.perf_counter() - start) * 1000.0
    rss["first query"] = _rss_bytes()
    if not first:
        raise RuntimeError(f"{system.name} returned no hits for the first query")
    start = time.perf_counter()
    system.warm()
    warm_s = time.perf_counter() - start
    rss["loaded"] = _rss_bytes()

    curve = measure_curve(system, queries, truth, k, warmup, int(config.get("sweep_rounds", 1)))
    reaching = [p for p in curve if p["recall"] >= target]
    chosen = max(reaching, key=lambda p: p["qps"]) if reaching else max(curve, key=_by_recall)
    chosen_params: Params = chosen["params"]

    calls = [functools.partial(system.search, q, k, None) for q in queries]
    found, latencies = _timed(calls, warmup)
    defaults = {"recall": _recall(found, truth, k), **_summary(latencies)}
    rss["unfiltered"] = _rss_bytes()

    count = min(len(queries), int(config["filtered_queries"]))
    filtered = {
        name: filtered_figures(
            system,
            queries[:count],
            filtered_truth[name][:count],
            k,
            category,
            curve,
            chosen,
            target,
            warmup,
        )
        for name, category in config["filters"].items()
    }
    rss["filtered"] = _rss_bytes()

    exact = None
    if system.exact:
        calls = [functools.partial(system.search_exact, q, k) for q in queries[:count]]
        found, latencies = _timed(calls, warmup)
        exact = {"recall": _recall(found, truth[:count], k), **_summary(latencies)}
        rss["exact"] = _rss_bytes()

    hybrid = None
    if system.hybrid:
        calls = [
            functools.partial(system.search_hybrid, q, t, k, chosen_params)
            for q, t in zip(queries[:count], query_texts[:count], strict=True)
        ]
        found, latencies = _timed(calls, warmup)
        hybrid = _summary(latencies)
        rss["hybrid"] = _rss_bytes()
    rss_after = _rss_bytes()
    memory_parts = system.memory_parts()
    system.close()
    return {
        "first_query_ms": first_query_ms,
        "warm_s": warm_s,
        "curve": curve,
        "operating_point": {**chosen, "meets_target": bool(reaching)},
        "qps_at_target": qps_at_recall(curve, target),
        "defaults": defaults,
        "filtered": filtered["10%"],
        "filtered_1pct": filtered["1%"],
        "exact": exact,
        "hybrid": hybrid,
        "rss_bytes": rss_after,
        "rss_load_bytes": rss_after - rss["imported"],
        "rss_stages": rss,
        "memory_parts": memory_parts,
    }


def upper_frontier(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The settings no other setting beats on both recall and QPS: by recall, falling (QPS
    rising)."""
    frontier: list[dict[str, Any]] = []
    for point in sorted(curve, key=lambda p: (-p["recall"], -p["qps"])):
        if not frontier or point["qps"] > frontier[-1]["qps"]:
            frontier.append(point)
    return frontier


def qps_at_recall(curve: list[dict[str, Any]], target: float) -> float | None:
    """QPS where the recall-QPS curve crosses ``target``: linear between the two settings of
    its upper frontier around it, so systems compare on their curves, not on where their
    sweeps happen to stop (None if no setting reaches ``target``)."""
    frontier = upper_frontier(curve)
    above = [p for p in frontier if p["recall"] >= target]
    below = [p for p in frontier if p["recall"] < target]
    if not above:
        return None
    high = above[-1]
    if not below:
        return float(high["qps"])
    low = below[0]
    share = (high["recall"] - target) / (high["recall"] - low["recall"])
    return float(high["qps"] + (low["qps"] - high["qps"]) * share)


def _by_recall(point: dict[str, Any]) -> tuple[float, float]:
    return point["recall"], point["qps"]


def main(argv: list[str]) -> int:
    """``SYSTEM PHASE WORKDIR STORE OUT``: run one phase and write its figures to OUT.

    PHASE is "build", "query" or "both" (one process for both phases: quicker, but its
    RSS then includes what ingest left behind), or "ingest": one more timed ingest alone.
    """
    name, phase, work, store, out = argv
    warnings.simplefilter("ignore")  # peers warn about local-mode sizes and deprecations
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    work_dir = Path(work)
    config = json.loads((work_dir / "config.json").read_text())
    cls = SYSTEMS[name]
    result: dict[str, Any] = {}
    if phase in ("build", "both"):
        result["build"] = _build(cls(Path(store), config), work_dir, config)
    if phase in ("query", "both"):
        result["query"] = _query(cls(Path(store), config), work_dir, config)
    if phase == "ingest":
        result["ingest"] = _ingest_again(cls(Path(store), config), work_dir, config)
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

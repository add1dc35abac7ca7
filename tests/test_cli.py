"""The command line: real stores in tmp_path, through Typer's runner and the installed script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.main import get_command
from typer.testing import CliRunner, Result

import omnivector as ov
from omnivector.cli import app, main

DIM = 8
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMNIVECTOR_STORE", raising=False)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    # a wide "terminal", so human tables are not cut
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "160", **(env or {})})


def cli_json(*args: str | Path) -> Any:
    result = cli("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fail_line(result: Result, code: int = 1) -> str:
    """The single error line of a failed command (no traceback)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def documents(count: int, *, seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "doc_id": i,
            "embedding": rng.standard_normal(DIM).round(5).tolist(),
            "body": f"document {i} about {'lance columnar storage' if i % 3 == 0 else 'python'}",
            "category": ["paper", "blog", "note"][i % 3],
            "year": 2000 + i,
        }
        for i in range(count)
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "docs.jsonl", documents(60))


@pytest.fixture
def store_path(tmp_path: Path, source: Path) -> Path:
    """A store whose table ``docs`` was imported through the CLI."""
    path = tmp_path / "store"
    result = cli(
        "--store", path, "import", "docs", source,
        "--id", "doc_id", "--vector", "embedding", "--text", "body",
        "--field", "category:string", "--batch-size", "25",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def opened(store_path: Path) -> Iterator[ov.VectorStore]:
    with ov.VectorStore(store_path) as store:
        yield store


@pytest.fixture
def big(opened: ov.VectorStore) -> str:
    """A table ``big`` large enough to train a vector index (256 rows at least)."""
    rng = np.random.default_rng(5)
    rows = [
        {"id": f"b{i}", "vector": rng.standard_normal(DIM), "text": f"row {i}"} for i in range(300)
    ]
    opened.create_table("big", dimension=DIM, fields={"category": "string"}).add(
        [{**row, "category": ["x", "y"][i % 2]} for i, row in enumerate(rows)]
    )
    return "big"


# -- import / export ---------------------------------------------------------------------------


def test_import_creates_store_and_table_with_mapping(store_path: Path, source: Path) -> None:
    with ov.VectorStore(store_path) as store:
        table = store.table("docs")
        assert (table.dimension, table.metric, table.fields) == (
            DIM,
            "cosine",
            {"category": "string"},
        )
        assert table.count() == 60
        assert table.version == 5  # created, its full-text index, one commit per 25-row batch
        [doc] = table.get(["7"])
    original = documents(60)[7]
    assert doc["text"] == original["body"] and doc["category"] == "blog"
    assert doc["metadata"] == {"year": 2007}  # a column the table lacks goes to metadata
    np.testing.assert_allclose(doc["vector"], original["embedding"], rtol=1e-6)


def test_import_refuses_duplicates_unless_upsert(store_path: Path, tmp_path: Path) -> None:
    changed = [{**row, "body": "changed"} for row in documents(3)]
    changed.append({**documents(61)[60]})
    again = write_jsonl(tmp_path / "again.jsonl", changed)
    args = ["--store", store_path, "import", "docs", again, "--id", "doc_id", "--vector",
            "embedding", "--text", "body"]  # fmt: skip
    line = fail_line(cli(*args))
    assert "already exist" in line and "upsert" in line
    report = cli_json(*args, "--upsert")
    assert (report["inserted"], report["updated"], report["created"]) == (1, 3, False)
    with ov.VectorStore(store_path) as store:
        assert store.table("docs").get(["0"])[0]["text"] == "changed"
        assert store.table("docs").count() == 61


@pytest.mark.parametrize("suffix", ["jsonl", "json", "parquet", "csv", "arrow"])
def test_export_and_import_round_trip(store_path: Path, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out.{suffix}"
    report = cli_json("--store", store_path, "export", "docs", target)
    assert (report["rows"], report["format"]) == (60, suffix)
    imported = cli_json("--store", store_path, "import", "copy", target)
    assert (imported["created"], imported["inserted"]) == (True, 60)
    with ov.VectorStore(store_path) as store:
        ids = [str(i) for i in range(60)]
        original = store.table("docs").get(ids)
        copy = store.table("copy").get(ids)
    for before, after in zip(original, copy, strict=True):
        assert after["id"] == before["id"] and after["text"] == before["text"]
        np.testing.assert_allclose(after["vector"], before["vector"], rtol=1e-6)
        # the copy has no declared field, so category travels in metadata
        assert after["metadata"] == {**before["metadata"], "category": before["category"]}


def test_export_with_filter(store_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "papers.jsonl"
    report = cli_json("--store", store_path, "export", "docs", target, "--where",
                      '{"category": "paper"}')  # fmt: skip
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert report["rows"] == len(rows) == 20
    assert {row["category"] for row in rows} == {"paper"}


def test_import_csv_with_json_vectors_and_integer_ids(tmp_path: Path) -> None:
    csv = tmp_path / "docs.csv"
    csv.write_text('key,vec,kind\n1,"[1, 0, 0]",a\n2,"[0, 1, 0]",b\n')
    store = tmp_path / "s"
    result = cli("--store", store, "import", "t", csv, "--id", "key", "--vector", "vec",
                 "--metric", "l2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created table t: 2 inserted" in result.stdout
    hits = cli_json(
        "--store", store, "search", "t", "--vector-file", _json_vector(tmp_path, [0, 1, 0])
    )
    assert [h["id"] for h in hits] == ["2", "1"] and hits[0]["metadata"] == {"kind": "b"}


def _json_vector(tmp_path: Path, values: list[float]) -> Path:
    path = tmp_path / "query.json"
    path.write_text(json.dumps(values))
    return path


# -- reading ---------------------------------------------------------------------------------


def test_tables_info_count(store_path: Path) -> None:
    assert cli_json("--store", store_path, "tables") == [{"name": "docs"}]
    counted = cli_json("--store", store_path, "tables", "--counts")
    assert counted == [
        {"name": "docs", "rows": 60, "dimension": DIM, "metric": "cosine", "version": 5}
    ]
    info = cli_json("--store", store_path, "info", "docs")
    assert (info["rows"], info["dimension"], info["fields"]) == (60, DIM, {"category": "string"})
    assert [i["name"] for i in info["indexes"]] == ["text_idx"]
    assert info["storage"]["storage_version"] == "2.2"
    where = '{"category": "paper", "year": {"$gte": 2030}}'
    assert cli_json("--store", store_path, "count", "docs", "--where", where)["count"] == 10
    human = cli("--store", store_path, "count", "docs")
    assert human.exit_code == 0 and human.stdout.strip() == "60"
    listing = cli("--store", store_path, "tables", "--counts")
    assert re.search(r"docs\s+│\s+60\s+│\s+8\s+│\s+cosine", listing.stdout), listing.stdout


def test_search_vector_text_and_hybrid_match_the_library(
    store_path: Path, opened: ov.VectorStore, tmp_path: Path
) -> None:
    query = np.random.default_rng(3).standard_normal(DIM).astype(np.float32)
    npy = tmp_path / "q.npy"
    np.save(npy, query)
    table = opened.table("docs")
    where = '{"category": {"$in": ["paper", "note"]}}'
    hits = cli_json("--store", store_path, "search", "docs", "--vector-file", npy, "-k", "5",
                    "--where", where)  # fmt: skip
    expected = table.search(query, k=5, where={"category": {"$in": ["paper", "note"]}})
    assert [h["id"] for h in hits] == expected.ids
    assert hits[0]["score"] == pytest.approx(expected[0].score)
    text = cli_json("--store", store_path, "search", "docs", "--text", "columnar", "-k", "3")
    assert len(text) == 3 and all("columnar" in h["text"] for h in text)
    as_json = _json_vector(tmp_path, query.tolist())
    hybrid = cli_json("--store", store_path, "search", "docs", "--text", "columnar",
                      "--vector-file", as_json, "-k", "4")  # fmt: skip
    assert [h["id"] for h in hybrid] == table.search(query, text="columnar", k=4).ids
    human = cli("--store", store_path, "search", "docs", "--text", "columnar", "-k", "2")
    assert human.exit_code == 0 and "bm25" in human.stdout and "columnar" in human.stdout


def test_get_prints_documents_and_fails_on_missing_ids(store_path: Path) -> None:
    docs = cli_json("--store", store_path, "get", "docs", "3", "5", "--with-vector")
    assert [d["id"] for d in docs] == ["3", "5"] and len(docs[0]["vector"]) == DIM
    result = cli("--store", store_path, "get", "docs", "3", "nope")
    assert result.exit_code == 1 and "not found in docs: nope" in result.stderr
    assert "document 3" in result.stdout


def test_delete_by_ids_and_by_filter(store_path: Path, opened: ov.VectorStore) -> None:
    assert (
        cli_json("--store", store_path, "delete", "docs", "--ids", "1,2", "--ids", "3")["deleted"]
        == 3
    )
    report = cli_json("--store", store_path, "delete", "docs", "--where", '{"category": "paper"}')
    assert report["deleted"] == 19  # 20 papers, one (3) already gone
    assert opened.table("docs").count() == 38


def test_drop_asks_unless_yes(store_path: Path) -> None:
    refused = CliRunner().invoke(app, ["--store", str(store_path), "drop", "docs"], input="n\n")
    assert refused.exit_code == 1 and cli_json("--store", store_path, "tables") == [
        {"name": "docs"}
    ]
    assert cli_json("--store", store_path, "drop", "docs", "--yes") == {
        "table": "docs",
        "dropped": True,
    }
    assert cli_json("--store", store_path, "tables") == []


# -- indexes ---------------------------------------------------------------------------------


def test_index_create_list_status_drop(store_path: Path, opened: ov.VectorStore, big: str) -> None:
    built = cli_json("--store", store_path, "index", "create", big, "--kind", "IVF_FLAT",
                     "-p", "num_partitions=2")  # fmt: skip
    assert built["index"]["kind"] == "IVF_FLAT" and built["index"]["indexed_rows"] == 300
    scalar = cli("--store", store_path, "index", "create", big, "--column", "category")
    assert scalar.exit_code == 0 and "built BITMAP index category_idx" in scalar.stdout
    skipped = cli_json("--store", store_path, "index", "create", "docs", "--kind", "auto")
    assert skipped["index"] is None and "exact search" in skipped["message"]
    too_small = fail_line(cli("--store", store_path, "index", "create", "docs", "--kind", "IVF_PQ"))
    assert "needs at least 256" in too_small
    listed = cli_json("--store", store_path, "index", "list", big)
    assert {i["name"] for i in listed} == {"vector_idx", "category_idx", "text_idx"}
    assert [i.name for i in opened.table(big).indexes()] == [i["name"] for i in listed]
    status = cli_json("--store", store_path, "index", "status")
    assert [(s["table"], s["busy"], len(s["indexes"])) for s in status] == [
        ("big", False, 3), ("docs", False, 1)
    ]  # fmt: skip
    assert cli_json("--store", store_path, "index", "drop", big, "category_idx")["dropped"]
    assert "no index 'category_idx'" in fail_line(
        cli("--store", store_path, "index", "drop", big, "category_idx")
    )
    assert cli("--store", store_path, "index", "drop", big, "x", "--missing-ok").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["index", "create", "big", "--engine", "spark"],
        ["index", "create", "big", "--workers", "2"],
        ["index", "create", "big", "--engine", "ray", "--background"],
        ["compact", "big", "--workers", "2"],
    ],
)
def test_engine_options_are_checked(store_path: Path, args: list[str]) -> None:
    result = cli("--store", store_path, *args)
    assert result.exit_code == 2 and "Usage:" in result.output, result.output


def test_index_background_build_follows_the_worker(store_path: Path) -> None:
    result = cli("--store", store_path, "index", "create", "docs", "--kind", "fts", "--background")
    assert result.exit_code == 0, result.output
    assert re.search(r"index build on docs.text \(INVERTED\): (queued|running)", result.stdout)
    assert "built INVERTED index text_idx on docs.text: 60 rows indexed" in result.stdout


def test_index_status_and_wait_see_another_holder_of_the_lock(
    store_path: Path, opened: ov.VectorStore
) -> None:
    with opened._services.locks.maintenance(
        "docs", timeout=5
    ):  # as a build in another process would
        [status] = cli_json("--store", store_path, "index", "status", "docs")
        assert status["busy"] is True
        waited = cli("--store", store_path, "index", "wait", "docs", "--timeout", "0.3")
        assert waited.exit_code == 1 and "still building after 0.3s: docs" in waited.stderr
    assert cli_json("--store", store_path, "index", "wait", "docs")[0]["busy"] is False


# -- maintenance and versions ------------------------------------------------------------------


def test_versions_tag_restore(store_path: Path, opened: ov.VectorStore) -> None:
    assert cli_json("--store", store_path, "tag", "docs", "loaded") == {
        "table": "docs", "tag": "loaded", "version": 5
    }  # fmt: skip
    cli_json("--store", store_path, "delete", "docs", "--where", '{"year": {"$lt": 2050}}')
    assert opened.table("docs").count() == 10
    versions = cli_json("--store", store_path, "versions", "docs")
    assert [v["version"] for v in versions] == [1, 2, 3, 4, 5, 6]
    assert versions[4]["tags"] == ["loaded"] and versions[5]["rows"] == 10
    restored = cli_json("--store", store_path, "restore", "docs", "loaded")
    assert restored["version"] == 7 and opened.table("docs").count() == 60
    assert cli_json("--store", store_path, "restore", "docs", "3")["version"] == 8
    assert opened.table("docs").count() == 25
    assert "no tag 'nope'" in fail_line(cli("--store", store_path, "restore", "docs", "nope"))
    assert cli_json("--store", store_path, "tag", "docs", "loaded", "--delete")["deleted"]
    human = cli("--store", store_path, "versions", "docs")
    assert human.exit_code == 0 and re.search(r"4 │ \S+ \S+ │ Append", human.stdout)


def test_compact_cleanup_optimize_health_stats(store_path: Path, opened: ov.VectorStore) -> None:
    health = cli_json("--store", store_path, "health", "docs")
    assert (health["rows"], health["fragments"], health["healthy"]) == (60, 3, True)
    compacted = cli_json("--store", store_path, "compact", "docs")
    assert (compacted["fragments_removed"], compacted["fragments_added"]) == (3, 1)
    before = len(cli_json("--store", store_path, "versions", "docs"))
    cleaned = cli_json("--store", store_path, "cleanup", "docs", "--older-than", "0",
                       "--keep-versions", "1")  # fmt: skip
    assert cleaned["versions_removed"] == before - 1 and cleaned["bytes_removed"] > 0
    assert len(opened.table("docs").versions()) == 1
    optimized = cli_json("--store", store_path, "optimize", "docs")
    assert optimized["compaction"]["fragments_removed"] == 0 and "cleanup" in optimized
    stats = cli_json("--store", store_path, "stats", "docs")
    assert stats["rows"] == 60 and stats["fragments"] == 1
    assert set(stats["column_bytes"]) >= {"id", "vector", "text", "metadata", "category"}
    everything = cli_json("--store", store_path, "stats")
    assert everything["rows"] == 60 and everything["tables"][0]["table"] == "docs"
    assert [h["table"] for h in cli_json("--store", store_path, "health")] == ["docs"]
    human = cli("--store", store_path, "stats")
    assert human.exit_code == 0 and "total: 60 rows" in human.stdout


# -- bench and demo --------------------------------------------------------------------------


def test_bench_passes_its_options_and_prints_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import omnivector.bench as bench

    calls: list[dict[str, Any]] = []

    def fake_run_suite(name: str, **options: Any) -> dict[str, Any]:
        calls.append({"name": name, **options})
        options["echo"]("suite table")
        return {"median_ms": 1.5}

    monkeypatch.setattr(bench, "run_suite", fake_run_suite)
    out = tmp_path / "r.json"
    result = cli("--json", "bench", "cache", "--quick", "--json", out, "--plot", tmp_path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"median_ms": 1.5} and "suite table" in result.stderr
    assert calls[0]["name"] == "cache" and calls[0]["quick"] is True
    assert (calls[0]["json_path"], calls[0]["plot_dir"]) == (out, tmp_path)
    human = cli("bench", "cache")
    assert human.stdout == "suite table\n"


def test_bench_unknown_suite_is_an_error() -> None:
    assert "unknown benchmark suite 'nope'" in fail_line(cli("bench", "nope"))


def test_demo_uses_its_own_default_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import omnivector.demo as demo

    paths: list[str] = []

    def fake_run_demo(path: str, *, echo: Any) -> None:
        paths.append(path)
        echo("demo ran")

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    # $OMNIVECTOR_STORE names the user's store: the demo must not write into it
    result = cli("demo", env={"OMNIVECTOR_STORE": str(tmp_path / "mine")})
    assert result.exit_code == 0 and result.stdout == "demo ran\n"
    assert cli_json("demo", "--store", tmp_path / "d") == {
        "store": str(tmp_path / "d"),
        "output": ["demo ran"],
    }
    assert paths == [".data/demo-store", str(tmp_path / "d")]


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["--store", "S", "info"],
        ["--store", "S", "count", "docs", "--where", "{not json"],
        ["--store", "S", "count", "docs", "--where", "[1, 2]"],
        ["--store", "S", "search", "docs"],
        ["--store", "S", "search", "docs", "--text", "x", "-k", "0"],
        ["--store", "S", "delete", "docs"],
        ["--store", "S", "delete", "docs", "--ids", "a", "--where", "{}"],
        ["--store", "S", "import", "docs", "F", "--field", "category"],
        ["--store", "S", "index", "create", "docs", "--no-wait"],
        ["--store", "S", "index", "create", "docs", "-p", "novalue"],
        ["tables"],  # no --store and no $OMNIVECTOR_STORE
    ],
)
def test_usage_errors_exit_2(store_path: Path, source: Path, args: list[str]) -> None:
    args = [str(store_path) if a == "S" else str(source) if a == "F" else a for a in args]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "command", [["tables"], ["info", "docs"], ["search", "docs", "--text", "x"]]
)
def test_missing_store_is_an_error_and_is_not_created(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nowhere"
    line = fail_line(cli("--store", missing, *command))
    assert f"no store at {missing}" in line
    assert not missing.exists()


def test_library_and_file_errors_print_one_line(store_path: Path, tmp_path: Path) -> None:
    s = ["--store", store_path]
    assert "table 'nope' does not exist" in fail_line(cli(*s, "info", "nope"))
    bad_filter = fail_line(cli(*s, "count", "docs", "--where", '{"year": {"$near": 1}}'))
    assert "$near" in bad_filter
    assert "no such file" in fail_line(cli(*s, "import", "docs", tmp_path / "none.jsonl"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "vector": [1]}\n{oops\n')
    assert "line 2: not valid JSON" in fail_line(cli(*s, "import", "new", broken))
    assert "cannot tell the format" in fail_line(cli(*s, "export", "docs", tmp_path / "x.xlsx"))
    assert "has no column 'nope'" in fail_line(
        cli(*s, "import", "docs", _parquet(tmp_path), "--id", "nope")
    )
    not_parquet = tmp_path / "fake.parquet"
    not_parquet.write_text("hello")
    assert "cannot read" in fail_line(cli(*s, "import", "docs", not_parquet))
    assert "dimension" in fail_line(
        cli(*s, "search", "docs", "--vector-file", _json_vector(tmp_path, [1.0, 2.0]))
    )
    assert "a document has no 'id' field" in fail_line(
        cli(*s, "import", "docs", write_jsonl(tmp_path / "noid.jsonl", [{"vector": [1]}]))
    )


def _parquet(tmp_path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"key": ["a"], "vector": [[1.0] * DIM]}), path)
    return path


def test_debug_shows_the_exception(store_path: Path) -> None:
    result = cli("--debug", "--store", store_path, "info", "nope")
    assert result.exit_code == 1 and isinstance(result.exception, ov.TableNotFoundError)
    per_command = cli("info", "nope", "--store", store_path, "--debug")
    assert isinstance(per_command.exception, ov.TableNotFoundError)


def test_store_from_environment_and_options_after_the_command(store_path: Path) -> None:
    result = cli("tables", "--json", env={"OMNIVECTOR_STORE": str(store_path)})
    assert result.exit_code == 0 and json.loads(result.stdout) == [{"name": "docs"}]
    assert main(["count", "docs", "--store", str(store_path)]) == 0
    assert main(["count"]) == 2


# -- help and docs ---------------------------------------------------------------------------


def _commands() -> list[tuple[str, Any]]:
    root = get_command(app)
    found = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            found.append((name, command))
    return found


def test_every_command_has_help_and_is_documented() -> None:
    docs = (ROOT / "docs" / "cli.md").read_text()
    names = [name for name, _ in _commands()]
    assert {"tables", "import", "search", "index create", "index wait", "bench", "demo"} <= set(
        names
    )
    for name, command in _commands():
        assert command.help and len(command.help.strip()) > 15, name
        assert f"### `omnivector {name}`" in docs, f"{name} is not documented in docs/cli.md"
        result = cli(*name.split(), "--help")
        assert result.exit_code == 0 and "Usage: omnivector" in result.stdout, name
        assert "--store" in result.stdout and "--debug" in result.stdout, name


# -- the installed script --------------------------------------------------------------------


def _script() -> list[str]:
    found = shutil.which("omnivector", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "omnivector"]


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_script(), *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        check=False,
    )


def test_installed_script_json_errors_and_usage(store_path: Path, tmp_path: Path) -> None:
    listed = _run("--json", "tables", "--counts", env={"OMNIVECTOR_STORE": str(store_path)})
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["rows"] == 60
    missing = _run("--store", tmp_path / "nowhere", "tables")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.startswith("error: no store at") and len(missing.stderr.splitlines()) == 1
    usage = _run("--store", store_path, "search", "docs", "-k", "many")
    assert usage.returncode == 2 and "Usage:" in usage.stderr


def test_python_dash_m_and_a_detached_index_build(
    store_path: Path, tmp_path: Path, big: str
) -> None:
    log = tmp_path / "build.log"
    started = subprocess.run(
        [sys.executable, "-m", "omnivector", "--json", "--store", str(store_path), "index",
         "create", big, "--kind", "IVF_FLAT", "-p", "num_partitions=2", "--background",
         "--no-wait", "--log", str(log)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    detached = json.loads(started.stdout)
    assert detached["status"] == "detached" and detached["log"] == str(log)
    waited = _run("--json", "--store", store_path, "index", "wait", big, "--timeout", "90")
    assert waited.returncode == 0, waited.stderr
    [entry] = json.loads(waited.stdout)
    assert entry["busy"] is False
    assert [i["kind"] for i in entry["indexes"]] == ["INVERTED", "IVF_FLAT"], log.read_text()
    output = log.read_text()
    assert re.search(r"index build on big.vector \(IVF_FLAT\): (queued|running)", output)
    assert '"indexed_rows": 300' in output


def test_import_embeds_texts_and_search_by_query(tmp_path: Path) -> None:
    store = tmp_path / "store"
    texts = tmp_path / "texts.jsonl"
    docs = [
        {"id": "gzip", "body": "compress data with gzip", "topic": "files"},
        {"id": "json", "body": "parse a JSON document", "topic": "formats"},
    ]
    texts.write_text("".join(json.dumps(d) + "\n" for d in docs))
    created = cli_json(
        "--store", store, "import", "docs", texts, "--text", "body", "--embedding", "hashing"
    )
    assert created["created"] and created["inserted"] == 2
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "sock", "body": "open a network socket"}) + "\n")
    # the table's own function embeds the next file: no option needed
    assert cli_json("--store", store, "import", "docs", more, "--text", "body")["inserted"] == 1
    hits = cli_json("--store", store, "search", "docs", "--query", "parse JSON", "-k", "1")
    assert [h["id"] for h in hits] == ["json"]
    result = cli("--store", store, "search", "docs", "--query", "x", "--text", "y")
    assert result.exit_code != 0 and "--query goes alone" in result.output
    with ov.VectorStore(store) as opened:
        table = opened.table("docs")
        assert table.embedding_config == ov.embeddings.EmbeddingConfig(
            "hashing", {"dimension": 384}
        )
        assert table.count() == 3

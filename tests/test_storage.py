"""Storage layout: version, column compression, metadata encodings, float16, on every path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivector as ov

DIM = 8
HINTS = {
    b"lance-encoding:compression": b"zstd",
    b"lance-encoding:compression-level": b"3",
    b"lance-encoding:minichunk-size": b"8192",
    b"lance-encoding:structural-encoding": b"miniblock",
}


def _docs(count: int, start: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(start)
    return [
        {
            "id": f"d{i}",
            "vector": rng.random(DIM),
            "text": f"some words about item {i}",
            "metadata": {"k": i, "author": {"name": f"author {i % 7}"}, "tags": ["a", "b"]},
        }
        for i in range(start, start + count)
    ]


def _check_layout(table: ov.Table, version: str, encoding: str) -> None:
    dataset = table.dataset()
    assert dataset.data_storage_version == version
    metadata_field = dataset.schema.field("metadata")
    for column in ("text", "metadata"):
        assert dict(dataset.schema.field(column).metadata or {}) == HINTS
    assert not dataset.schema.field("id").metadata  # ids keep Lance's default encoding
    assert str(metadata_field.type) == ("string" if encoding == "json" else "binary")
    assert table.storage.metadata_encoding == encoding


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_layout_is_kept_on_create_append_upsert_and_compaction(
    tmp_path: Path, encoding: str, version: str
) -> None:
    options = ov.StorageOptions(storage_version=version, metadata_encoding=encoding)  # type: ignore[arg-type]
    with ov.VectorStore(
        tmp_path, dimension=DIM, maintenance=ov.MaintenanceConfig(enabled=False)
    ) as store:
        table = store.create_table("t", storage=options)
        _check_layout(table, version, encoding)
        table.add(_docs(300))
        table.add(_docs(300, start=300))
        _check_layout(table, version, encoding)
        table.upsert(_docs(50, start=550))
        _check_layout(table, version, encoding)
        table.compact()
        _check_layout(table, version, encoding)
        assert len(table.dataset().get_fragments()) == 1
        # the layout is recorded in the table, so a new store reopens it unchanged
        with ov.VectorStore(tmp_path) as again:
            reopened = again.table("t")
            assert reopened.storage == options
            _check_layout(reopened, version, encoding)
        assert table.count({"author.name": "author 3"}) == sum(1 for i in range(600) if i % 7 == 3)
        assert table.get(["d10"])[0]["metadata"]["author"] == {"name": "author 3"}


def test_metadata_compression_shrinks_the_column(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        compressed = store.create_table("zstd")
        plain = store.create_table(
            "plain", storage=ov.StorageOptions(metadata_compression="default")
        )
        docs = _docs(3000)
        compressed.add(docs)
        plain.add(docs)
        small = compressed.stats().column_bytes["metadata"]
        large = plain.stats().column_bytes["metadata"]
        assert small * 2 < large


def test_text_and_id_compression_beat_lances_default_on_real_text(tmp_path: Path) -> None:
    from omnivector.demo.corpus import stdlib_docstrings

    docs = [{"id": d.id, "vector": np.ones(DIM), "text": d.text} for d in stdlib_docstrings(2000)]
    docs.append({"id": "huge", "vector": np.ones(DIM), "text": "long line " * 40_000})
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        ours = store.create_table("zstd", storage=ov.StorageOptions(id_compression="zstd"))
        lance_default = store.create_table(
            "default", storage=ov.StorageOptions(text_compression="default")
        )
        ours.add(docs)
        lance_default.add(docs)
        small, large = ours.stats().column_bytes, lance_default.stats().column_bytes
        assert small["text"] < 0.8 * large["text"]
        assert small["id"] < 0.8 * large["id"]
        assert ours.get(["huge"])[0]["text"] == "long line " * 40_000


def test_stats_report_bytes_per_column_and_row(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        table = store.create_table("t", fields={"n": "int64"})
        table.add([{**d, "n": i} for i, d in enumerate(_docs(500))])
        stats = table.stats()
        assert set(stats.column_bytes) == {"id", "vector", "text", "metadata", "n"}
        assert stats.column_bytes["vector"] >= 500 * DIM * 4  # float32 is stored raw
        assert stats.bytes_on_disk == sum(stats.column_bytes.values())
        assert stats.bytes_per_row == pytest.approx(stats.bytes_on_disk / 500)
        assert stats.rows == 500 and stats.data_storage_version == "2.2"


def test_float16_halves_the_vector_column(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=64) as store:
        rng = np.random.default_rng(0)
        docs = [{"id": str(i), "vector": rng.standard_normal(64)} for i in range(2000)]
        full = store.create_table("f32")
        half = store.create_table("f16", storage=ov.StorageOptions(vector_dtype="float16"))
        full.add(docs)
        half.add(docs)
        ratio = half.stats().column_bytes["vector"] / full.stats().column_bytes["vector"]
        assert 0.45 < ratio < 0.55
        query = rng.standard_normal(64).astype(np.float32)
        assert full.search(query, k=10).ids[:5] == half.search(query, k=10).ids[:5]
        for read in (
            half.get(["7"])[0]["vector"],
            next(iter(half.iter_documents(where={"id": "7"})))["vector"],
            half.search(query, k=1, where={"id": "7"}, columns=["vector"])[0].vector,
        ):
            assert read is not None and all(type(v) is float for v in read)
            assert np.allclose(read, docs[7]["vector"], atol=1e-2)


def test_older_storage_version_is_readable_and_writable(tmp_path: Path) -> None:
    with ov.VectorStore(
        tmp_path, dimension=DIM, storage=ov.StorageOptions(storage_version="2.0")
    ) as store:
        table = store.create_table("old")
        table.add(_docs(20))
        assert table.dataset().data_storage_version == "2.0"
        assert table.search(table.get(["d5"])[0]["vector"], k=1).ids == ["d5"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"storage_version": "1.0"},
        {"vector_dtype": "int8"},
        {"metadata_encoding": "xml"},
        {"text_compression": "brotli"},
        {"id_compression": "gzip"},
        {"compression_level": 0},
        {"compression_level": True},
    ],
)
def test_bad_storage_options_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ov.InvalidInputError):
        ov.StorageOptions(**kwargs)


def test_storage_benchmark_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnivector.bench import run_suite
    from omnivector.bench.storage import DEFAULT_LAYOUT

    monkeypatch.setenv("OMNIVECTOR_BENCH_ROWS", "300")
    result = run_suite("storage", quick=True, echo=lambda _: None)
    default = result["bytes_per_doc"][DEFAULT_LAYOUT]
    assert default["vector"] == pytest.approx(384 * 4, rel=0.05)
    half = result["bytes_per_doc"]["float16 vectors"]["vector"]
    assert half == pytest.approx(default["vector"] / 2, rel=0.05)
    assert all(0.0 <= loss <= 0.05 for loss in result["float16_recall_loss"].values())

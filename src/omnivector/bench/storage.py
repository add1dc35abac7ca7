"""``omnivector bench storage``: bytes per document for each storage option, next to peers.

Real text (the standard library's docstrings) with 384-d vectors (the hashing embedding) and six
metadata keys. For each option set: bytes per document per column and in total, write
throughput and the cost of reading 1,000 random documents; next to raw Arrow IPC,
Parquet + zstd, Lance 2.0 defaults, lancedb's defaults, chromadb's on-disk size, and an xz
copy of the non-vector columns (a practical floor). float16's recall cost is measured
against exact float32 search.
"""

from __future__ import annotations

import json
import lzma
import os
import time
from pathlib import Path
from typing import Any, Literal

import lance
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from omnivector import MaintenanceConfig, StorageOptions, VectorStore
from omnivector.bench.common import BenchContext, format_table
from omnivector.bench.data import glove, glove_root, id_vector_table, vector_array
from omnivector.demo import stdlib_docstrings
from omnivector.embeddings import HashingEmbedding

DIMENSION = 384
READ_REPEATS = 5
DEFAULT_LAYOUT = "default (2.2, zstd on text and metadata, JSON)"
OPTIONS: dict[str, StorageOptions] = {
    DEFAULT_LAYOUT: StorageOptions(),
    "msgpack+zstd": StorageOptions(metadata_encoding="msgpack"),
    "float16 vectors": StorageOptions(vector_dtype="float16"),
    "no metadata compression": StorageOptions(metadata_compression="default"),
    "Lance default for text": StorageOptions(text_compression="default"),
    "zstd on ids too": StorageOptions(id_compression="zstd"),
    "2.0 layout": StorageOptions(storage_version="2.0"),
}


def _documents(count: int) -> list[dict[str, Any]]:
    docs = list(stdlib_docstrings(count))
    vectors = HashingEmbedding(DIMENSION).embed_documents([d.text for d in docs])
    return [
        {
            "id": d.id,
            "vector": vectors[i],
            "text": d.text,
            "metadata": {
                "module": d.module,
                "kind": d.kind,
                "name": d.name,
                "lines": d.lines,
                "top_level": d.module.split(".")[0],
                "public": not d.name.startswith("_"),
            },
        }
        for i, d in enumerate(docs)
    ]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(ctx: BenchContext) -> dict[str, Any]:
    count = int(os.environ.get("OMNIVECTOR_BENCH_ROWS", 3000 if ctx.quick else 6000))
    docs = _documents(count)
    count = len(docs)
    rng = ctx.rng()
    sample = [docs[i]["id"] for i in rng.integers(0, count, min(1000, count))]
    rows: dict[str, dict[str, Any]] = {}
    with ctx.scratch("storage") as root:
        _ours(root / "warm-up", docs[:500], StorageOptions(), sample[:50])  # untimed
        for label, options in OPTIONS.items():
            rows[label] = _ours(root / label.replace(" ", "_"), docs, options, sample)
        arrow = _arrow_table(docs)
        rows.update(_baselines(root, docs, arrow))
        vectors = np.stack([d["vector"] for d in docs]).astype(np.float32)
        queries = vectors[rng.integers(0, count, 100)] + 0.01
        recall = {"docstrings": _float16_recall(root, vectors, queries, "docstrings")}
        if glove_root() is not None:
            words, held, _ = glove(5_000 if ctx.quick else 50_000, 100, ctx.seed)
            recall["GloVe"] = _float16_recall(root, words, held, "glove")
    default = rows[DEFAULT_LAYOUT]
    results: dict[str, Any] = {
        "documents": count,
        "bytes_per_doc": rows,
        "float16_recall_loss": recall,
    }
    lancedb_row = rows.get("lancedb default")
    if lancedb_row is not None:
        results["targets"] = {
            "total_vs_lancedb": default["total"] / lancedb_row["total"],
            "non_vector_vs_lancedb": default["non_vector"] / lancedb_row["non_vector"],
            "non_vector_vs_xz": default["non_vector"] / rows["xz floor (non-vector)"]["non_vector"],
        }
    headers = [
        "layout",
        "total B/doc",
        "vector",
        "non-vector",
        "id",
        "text",
        "metadata",
        "write docs/s",
        "read 1k ms",
    ]
    table = [
        [
            name,
            r["total"],
            r.get("vector", ""),
            r["non_vector"],
            r.get("id", ""),
            r.get("text", ""),
            r.get("metadata", ""),
            r.get("write_docs_per_s", ""),
            r.get("read_1k_ms", ""),
        ]
        for name, r in rows.items()
    ]
    ctx.echo(f"{count:,} stdlib docstrings, {DIMENSION}-d vectors, 6 metadata keys")
    ctx.echo(format_table(headers, table))
    for data, loss in recall.items():
        ctx.echo(f"float16 recall@10 loss vs float32 ({data}): {loss:.4f}")
    targets: dict[str, float] = results.get("targets", {})
    if targets:
        ctx.echo("targets: " + json.dumps({k: round(v, 3) for k, v in targets.items()}))
    return results


def _ours(
    path: Path, docs: list[dict[str, Any]], options: StorageOptions, sample: list[str]
) -> dict[str, Any]:
    with VectorStore(
        path, dimension=DIMENSION, storage=options, maintenance=MaintenanceConfig(enabled=False)
    ) as store:
        table = store.create_table("docs")
        started = time.perf_counter()
        table.add(docs)
        write = len(docs) / (time.perf_counter() - started)
        reads = []
        for _ in range(READ_REPEATS):
            started = time.perf_counter()
            table.get(sample)
            reads.append((time.perf_counter() - started) * 1000)
        columns = table.stats().column_bytes
    per_doc = {name: size / len(docs) for name, size in columns.items()}
    total = _size(path / "docs.lance" / "data") / len(docs)
    return {
        **per_doc,
        "total": total,
        "non_vector": total - per_doc["vector"],
        "write_docs_per_s": write,
        "read_1k_ms": float(np.median(reads)),
    }


def _arrow_table(docs: list[dict[str, Any]]) -> pa.Table:
    vectors = np.stack([d["vector"] for d in docs]).astype(np.float32)
    return pa.table(
        {
            "id": [d["id"] for d in docs],
            "vector": vector_array(vectors),
            "text": [d["text"] for d in docs],
            "metadata": [json.dumps(d["metadata"]) for d in docs],
        }
    )


def _baselines(root: Path, docs: list[dict[str, Any]], arrow: pa.Table) -> dict[str, Any]:
    count = len(docs)
    vector_bytes = DIMENSION * 4
    out: dict[str, Any] = {}

    def row(total_bytes: int) -> dict[str, Any]:
        total = total_bytes / count
        return {"total": total, "vector": vector_bytes, "non_vector": total - vector_bytes}

    feather.write_feather(arrow, root / "docs.arrow", compression="uncompressed")
    out["Arrow IPC"] = row(_size(root / "docs.arrow"))
    pq.write_table(arrow, root / "docs.parquet", compression="zstd")
    parquet = pq.ParquetFile(root / "docs.parquet").metadata
    columns: dict[str, int] = {}
    for group in range(parquet.num_row_groups):
        for index in range(parquet.num_columns):
            chunk = parquet.row_group(group).column(index)
            name = chunk.path_in_schema.split(".")[0]
            columns[name] = columns.get(name, 0) + chunk.total_compressed_size
    total = _size(root / "docs.parquet") / count
    # Parquet compresses the hashing embedding's sparse vectors; report its own column split.
    out["Parquet + zstd"] = {
        "total": total,
        "vector": columns["vector"] / count,
        "non_vector": total - columns["vector"] / count,
    }
    lance.write_dataset(arrow, root / "lance20.lance", data_storage_version="2.0")
    out["Lance 2.0 defaults"] = row(_size(root / "lance20.lance" / "data"))
    try:
        import lancedb

        db = lancedb.connect(root / "lancedb")
        db.create_table("docs", arrow)
        out["lancedb default"] = row(_size(root / "lancedb" / "docs.lance" / "data"))
    except ImportError:
        pass
    try:
        import chromadb

        client = chromadb.PersistentClient(path=str(root / "chroma"))
        collection = client.create_collection("docs")
        for start in range(0, count, 2000):
            part = docs[start : start + 2000]
            collection.add(
                ids=[d["id"] for d in part],
                embeddings=[d["vector"].tolist() for d in part],
                documents=[d["text"] for d in part],
                metadatas=[d["metadata"] for d in part],
            )
        del collection, client
        out["chromadb"] = row(_size(root / "chroma"))
    except ImportError:
        pass
    non_vector = arrow.drop_columns(["vector"])
    sink = pa.BufferOutputStream()
    feather.write_feather(non_vector, sink, compression="uncompressed")
    xz_bytes = len(lzma.compress(sink.getvalue().to_pybytes(), preset=9))
    out["xz floor (non-vector)"] = {
        "total": xz_bytes / count + vector_bytes,
        "vector": vector_bytes,
        "non_vector": xz_bytes / count,
    }
    return out


def _float16_recall(root: Path, vectors: np.ndarray, queries: np.ndarray, name: str) -> float:
    """1 - overlap of exact top-10 results between float32 and float16 storage."""
    found: dict[str, list[list[str]]] = {}
    dtypes: tuple[Literal["float32"], Literal["float16"]] = ("float32", "float16")
    for dtype in dtypes:
        with VectorStore(
            root / f"recall-{name}-{dtype}",
            dimension=vectors.shape[1],
            storage=StorageOptions(vector_dtype=dtype),
            maintenance=MaintenanceConfig(enabled=False),
        ) as store:
            table = store.create_table("docs")
            table.add(id_vector_table(vectors))
            found[dtype] = [table.search(q, k=10, columns=[]).ids for q in queries]
    overlap = [
        len(set(a) & set(b)) / 10 for a, b in zip(found["float32"], found["float16"], strict=True)
    ]
    return 1.0 - float(np.mean(overlap))

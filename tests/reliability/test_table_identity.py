"""Table identity across processes: a table another process dropped and created again under the
same name, up to the same version number, is served as the new table (count, dimension,
schema, indexes, resident graph), locally and on object storage (moto on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivector as ov
from omnivector.storage.locations import IDENTITY_PREFIX
from tests.conftest import S3Server

# Process B: drop table t, create it again with dimension 4 and other documents, reach
# version 4 (as A's table) and index it differently.
RECREATE = r"""
import json, sys
import numpy as np
import omnivector as ov

root, options = sys.argv[1], json.loads(sys.argv[2])
store = ov.VectorStore(root, storage_options=options,
                       maintenance=ov.MaintenanceConfig(enabled=False))
store.drop_table("t")
table = store.create_table("t", dimension=4, fields={"kind": "string"})
table.add([{"id": f"new-{i}", "vector": np.eye(4)[i % 4] + 0.01 * i, "text": f"world {i}",
            "kind": "b"} for i in range(12)])
table.create_scalar_index("kind", kind="bitmap")
assert table.version == 4, table.version
store.close()
"""


def _old_table(store: ov.VectorStore) -> ov.Table:
    table = store.create_table("t", dimension=8)
    rng = np.random.default_rng(0)
    table.add(
        [{"id": f"old-{i}", "vector": rng.random(8), "text": f"hello {i}"} for i in range(40)]
    )
    table.create_scalar_index("id")
    assert table.version == 4
    assert table.count() == 40 and table.search(text="hello", k=3).ids
    return table


def _recreate_elsewhere(root: str, options: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", RECREATE, root, json.dumps(options)], check=True, timeout=120
    )


def _check_new_table(store: ov.VectorStore, held: ov.Table) -> None:
    for table in (held, store.table("t")):
        assert table.count() == 12
        assert table.dimension == 4 and table.fields == {"kind": "string"}
        assert table.schema.field("vector").type.list_size == 4
        indexes = {(i.name, i.kind) for i in table.indexes()}
        assert ("kind_idx", "BITMAP") in indexes and ("id_idx", "BTREE") not in indexes
        assert len(table.to_arrow()) == 12
        assert table.search(np.eye(4)[1], k=1, columns=["id"]).ids == ["new-1"]
        assert table.search(text="world", k=20).ids[0].startswith("new-")
        with pytest.raises(ov.DimensionMismatchError):
            table.add([{"id": "x", "vector": np.ones(8)}])
    held.add([{"id": "four", "vector": np.ones(4), "kind": "c"}])
    assert store.table("t").count() == 13 and held.get(["four"])[0]["kind"] == "c"


def _store(root: str | Path, **options: Any) -> ov.VectorStore:
    return ov.VectorStore(root, maintenance=ov.MaintenanceConfig(enabled=False), **options)


def test_a_table_created_again_by_another_process_is_served_as_the_new_one(
    tmp_path: Path,
) -> None:
    resident = ov.ResidentConfig(engine="hnsw", min_rows=1)
    with _store(tmp_path / "s", resident=resident) as store:
        held = _old_table(store)
        assert held.load_resident(timeout=60)
        assert held.search(np.ones(8), k=1, columns=["id"]).ids[0].startswith("old-")
        _recreate_elsewhere(store.path, {})
        _check_new_table(store, held)
        assert held.load_resident(timeout=60)
        assert held.search(np.eye(4)[2], k=1, columns=["id"]).ids == ["new-2"]


def test_a_table_created_again_on_object_storage(s3_server: S3Server) -> None:
    root = s3_server.fresh_prefix()
    with _store(root, storage_options=s3_server.options) as store:
        held = _old_table(store)
        _recreate_elsewhere(root, s3_server.options)
        _check_new_table(store, held)


def test_a_table_without_a_recorded_identity_keeps_working(tmp_path: Path) -> None:
    with _store(tmp_path / "s") as store:
        store.create_table("t", dimension=8).add([{"id": "a", "vector": np.ones(8)}])
        for marker in (Path(store.path) / "t.lance").glob(f"{IDENTITY_PREFIX}*"):
            marker.unlink()
    with _store(tmp_path / "s") as store:
        table = store.table("t")
        assert table.count() == 1
        table.add([{"id": "b", "vector": np.ones(8)}])
        assert store.table("t").count() == 2 and table.cleanup().versions_removed >= 1
        assert sorted(table.search(np.ones(8), k=2).ids) == ["a", "b"]

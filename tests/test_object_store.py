"""The same store on an S3-compatible server (moto, on 127.0.0.1) as on a local directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivector as ov
from tests.conftest import S3Server


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    if request.param == "local":
        return str(tmp_path / "store"), {}
    server: S3Server = request.getfixturevalue("s3_server")
    return server.fresh_prefix(), server.options


def _open(location: tuple[str, dict[str, str]], **kwargs: Any) -> ov.VectorStore:
    path, options = location
    return ov.VectorStore(
        path,
        dimension=4,
        storage_options=options,
        maintenance=ov.MaintenanceConfig(enabled=False),
        **kwargs,
    )


def test_end_to_end(location: tuple[str, dict[str, str]]) -> None:
    rng = np.random.default_rng(0)
    docs = [
        {
            "id": str(i),
            "vector": rng.random(4),
            "text": f"hello world {i}",
            "c": "x" if i % 2 else "y",
            "metadata": {"n": i},
        }
        for i in range(300)
    ]
    with _open(location, resident=ov.ResidentConfig(min_rows=0)) as store:
        table = store.create_table("docs", fields={"c": "string"})
        table.add(docs)
        assert store.table_names() == ["docs"] and "docs" in store
        assert table.count() == 300 and table.count({"c": "x"}) == 150
        assert table.count({"n": {"$lt": 10}}) == 10
        assert table.search(docs[42]["vector"], k=1).ids == ["42"]
        assert table.search(text="hello", k=3).ids
        table.upsert([{**docs[0], "text": "changed"}])
        table.delete(["1"])
        build = table.create_index(kind="IVF_FLAT", num_partitions=2, background=True)
        assert isinstance(build, ov.IndexBuild) and build.result(timeout=120) is not None
        assert table.search(docs[42]["vector"], k=1).ids == ["42"]
        assert table.load_resident(timeout=120)
        assert table.search(docs[43]["vector"], k=1).ids == ["43"]
        resident = store.resident_info()
        assert resident is not None and resident.answered == 1 and resident.tables == {"docs": 299}
        table.compact()
        table.cleanup()
        assert table.stats().rows == 299 and table.health().total_bytes > 0
        table.tag("t1")
        assert table.checkout("t1").count() == 299
        store.evict("docs")
        assert store.table("docs").get(["0"])[0]["text"] == "changed"
        store.drop_table("docs")
        assert store.table_names() == []


_WRITER = """
import json, sys, omnivector as ov
store = ov.VectorStore(sys.argv[1], storage_options=json.loads(sys.argv[2]),
                       maintenance=ov.MaintenanceConfig(enabled=False))
table = store.table("shared")
for i in range(15):
    table.add([{"id": f"{sys.argv[3]}-{i}", "vector": [float(i + 1)] * 4}])
store.close()
"""


def test_writers_in_two_processes_on_s3(s3_server: S3Server) -> None:
    s3_options = s3_server.options
    path = s3_server.fresh_prefix()
    with ov.VectorStore(path, dimension=4, storage_options=s3_options) as store:
        store.create_table("shared")
        children = [
            subprocess.Popen([sys.executable, "-c", _WRITER, path, json.dumps(s3_options), f"w{n}"])
            for n in range(2)
        ]
        for i in range(15):
            store.table("shared").add([{"id": f"main-{i}", "vector": [float(i + 1)] * 4}])
        assert [c.wait(timeout=300) for c in children] == [0, 0]
        ids = {d["id"] for d in store.table("shared").iter_documents(include_vector=False)}
        assert ids == {f"{w}-{i}" for w in ("main", "w0", "w1") for i in range(15)}

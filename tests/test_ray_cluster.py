"""A two-node Ray cluster reached by address, writing to and indexing a table on S3.

Ray's test cluster starts two raylets (nodes) on this machine, one CPU each; omnivector
connects to it through ``RayEngine(address=...)`` as it would to a remote cluster, and the
store lives on moto's S3 server (127.0.0.1), where every node can reach it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

import omnivector as ov
from omnivector.bench.data import clustered_vectors
from tests.conftest import S3Server, arrow_docs

pytestmark = [
    pytest.mark.filterwarnings("ignore:lance is not fork-safe:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
]

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
DIM = 32


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    pytest.importorskip("lance_ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_cluster_by_address_serves_an_s3_table(two_nodes: Any, s3_server: S3Server) -> None:
    import ray

    engine = ov.RayEngine(address=two_nodes.address, num_workers=2)
    vectors = clustered_vectors(2000, DIM, clusters=10, seed=11)
    path = s3_server.fresh_prefix()
    with ov.VectorStore(
        path,
        storage_options=s3_server.options,
        maintenance=ov.MaintenanceConfig(enabled=False),
    ) as store:
        table = store.create_table("docs", dimension=DIM, fields={"category": "string"})
        assert not ray.is_initialized()
        blocks = [arrow_docs(vectors[i : i + 500], i) for i in range(0, 2000, 500)]
        assert table.add(blocks[0].to_pylist(), engine=engine).inserted == 500
        # omnivector connected to the running cluster: two nodes, one CPU each
        assert ray.is_initialized()
        assert sum(node["Alive"] for node in ray.nodes()) == 2
        assert ray.cluster_resources()["CPU"] == 2
        assert table.add(ray.data.from_arrow(blocks[1:]), engine=engine).inserted == 1500
        with pytest.raises(ov.DuplicateIdError):  # ids are checked against the S3 table
            table.add(ray.data.from_arrow([arrow_docs(vectors[:2], 1999)]), engine=engine)
        assert table.count() == 2000
        texts = pa.array([f"changed {i}" for i in range(500)])
        renamed = arrow_docs(vectors[:500]).set_column(2, "text", texts)
        assert table.upsert(ray.data.from_arrow([renamed]), engine=engine).updated == 500
        built = table.create_index(kind="IVF_FLAT", engine=engine, num_partitions=4)
        assert isinstance(built, ov.IndexInfo) and built.indexed_rows == 2000
    assert ray.is_initialized()  # a cluster omnivector connected to is left running

    with ov.VectorStore(path, storage_options=s3_server.options) as store:
        table = store.table("docs")
        assert table.count() == 2000 and table.count({"category": "blog"}) == 667
        assert table.get(["d7"])[0]["text"] == "changed 7"
        assert table.search(vectors[1500], k=1).ids == ["d1500"]
        assert sorted(i.kind for i in table.indexes()) == ["INVERTED", "IVF_FLAT"]

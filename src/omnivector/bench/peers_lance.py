"""The Lance-based systems of ``omnivector bench peers``: omnivector, raw pylance, lancedb.

All three build the same IVF_HNSW index with the same partitions and sweep the same knobs,
so raw pylance measures the floor under omnivector's own per-query overhead.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from omnivector.bench.peers_base import TABLE, Batch, Params, System, ids_of
from omnivector.resident import partitions_for, refine_growth, scann_installed

__all__ = [
    "LanceDB",
    "Omnivector",
    "OmnivectorFlat",
    "OmnivectorLance",
    "OmnivectorResident",
    "Pylance",
]


# the resident ScaNN index's sweep: shares of its partitions, candidates refined per k (as
# many times more as the table's default refines: see refine_growth)
RESIDENT_PARTITION_SHARES = (0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.14, 0.2)
RESIDENT_REFINE_FACTORS = (5, 10, 15, 20)


def _lance_sweep(config: dict[str, Any]) -> list[Params]:
    # Lance needs ef >= k * refine_factor
    nprobes, k = int(config["nprobes"]), int(config["k"])
    points = [
        {"nprobes": nprobes, "ef": ef, "refine_factor": 2}
        for ef in config["ef_sweep"]
        if ef >= 2 * k
    ]
    return [{"nprobes": nprobes, "ef": max(k, 16), "refine_factor": 1}, *points]


def _resident_sweep(config: dict[str, Any]) -> list[Params]:
    """The resident index's knobs: ScaNN's partitions and refined candidates, or HNSW's ef."""
    k = int(config["k"])
    if not scann_installed():
        return [{"ef": ef} for ef in config["ef_sweep"] if ef >= k]
    count = int(config["count"])
    partitions = max(1, partitions_for(count))  # 0: no tree, nprobes does not apply
    growth = refine_growth(count)
    points: list[Params] = []
    for share in RESIDENT_PARTITION_SHARES:
        for factor in RESIDENT_REFINE_FACTORS:
            refine_factor = math.ceil(factor * growth)
            point = {"nprobes": math.ceil(share * partitions), "refine_factor": refine_factor}
            if point not in points:
                points.append(point)
    return points


class Omnivector(System):
    """omnivector as it comes: the Lance index on disk, and the resident index it loads in
    the background after a table's first queries (``warm`` waits for that load)."""

    name = "omnivector"
    imports = ("omnivector",)
    index = "IVF_HNSW_SQ"  # the Lance index built; the resident one is loaded by itself
    knob = "resident knobs once loaded (Lance ef until then)"
    hybrid = True
    exact = True
    resident = True  # False: Lance alone

    def create(self) -> None:
        import omnivector as ov

        self.store = ov.VectorStore(
            self.path, dimension=self.dimension, metric="cosine", resident=False
        )
        self.table = self.store.create_table(
            TABLE, dimension=self.dimension, metric="cosine", fields={"category": "string"}
        )

    def prepare(self, batch: Batch) -> Any:
        return batch.arrow()

    def add(self, prepared: Any) -> None:
        self.table.add(prepared)

    def build(self, sample: np.ndarray) -> bool:
        self.table.create_index(kind=self.index)
        return True

    def build_extras(self) -> None:
        self.table.create_scalar_index("category")
        self.table.create_fts_index()

    def close(self) -> None:
        self.store.close()

    def open(self) -> None:
        import omnivector as ov

        self.store = ov.VectorStore(self.path, resident=self.resident)
        self.table = self.store.table(TABLE)
        self.loaded = False

    def warm(self) -> None:
        """The queries that start the background load, then wait for it (as a service
        would, running queries meanwhile)."""
        if not self.resident:
            return
        query = np.ones(self.dimension, np.float32)
        for _ in range(3):
            self.table.search(query, k=int(self.config["k"]), columns=["id"])
        # the load the queries started: waited for, not started here
        self.loaded = self.table.load_resident(timeout=3600)

    def sweep(self) -> list[Params]:
        return _resident_sweep(self.config) if self.loaded else _lance_sweep(self.config)

    def memory_parts(self) -> dict[str, int]:
        resident = self.store.resident_info()
        return {
            "lance session": self.store.cache_info().session_bytes,
            "resident index": resident.bytes if resident is not None else 0,
        }

    def _search(
        self,
        query: np.ndarray,
        k: int,
        params: Params | None,
        *,
        text: str | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[int]:
        knobs = params or {}
        hits = self.table.search(
            query,
            text,
            k=k,
            columns=["id"],
            where=where,
            nprobes=knobs.get("nprobes"),
            ef=knobs.get("ef"),
            refine_factor=knobs.get("refine_factor"),
        )
        return [int(i) for i in hits.ids]

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        return self._search(query, k, params)

    def search_exact(self, query: np.ndarray, k: int) -> list[int]:
        hits = self.table.search(query, k=k, columns=["id"], exact=True)
        return [int(i) for i in hits.ids]

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        return self._search(query, k, params, where={"category": category})

    def search_hybrid(
        self, query: np.ndarray, text: str, k: int, params: Params | None
    ) -> list[int]:
        return self._search(query, k, params, text=text)


class OmnivectorLance(Omnivector):
    """omnivector with resident indexes off: every query a Lance query."""

    name = "omnivector-lance"
    knob = "ef (nprobes, refine_factor=2)"
    resident = False
    builds_like: ClassVar[str | None] = "omnivector"  # resident indexes: queries, not the store


class OmnivectorFlat(OmnivectorLance):
    """omnivector with IVF_HNSW_FLAT: full vectors in the graph, so no refine step."""

    name = "omnivector-hnswflat"
    index = "IVF_HNSW_FLAT"
    knob = "ef (nprobes, no refine)"
    builds_like = None  # an index of its own

    def sweep(self) -> list[Params]:
        nprobes, k = int(self.config["nprobes"]), int(self.config["k"])
        return [{"nprobes": nprobes, "ef": ef} for ef in self.config["ef_sweep"] if ef >= k]


class OmnivectorResident(Omnivector):
    """omnivector with a resident index asked for and loaded before the first query."""

    name = "omnivector-resident"
    knob = (
        "nprobes, refine_factor (resident partitions)"
        if scann_installed()
        else "ef (resident graph)"
    )

    def open(self) -> None:
        import omnivector as ov

        self.store = ov.VectorStore(self.path, resident=ov.ResidentConfig())
        self.table = self.store.table(TABLE)

    def warm(self) -> None:
        if not self.table.load_resident():
            raise RuntimeError("the resident graph did not load")
        self.loaded = True


class Pylance(System):
    """Raw pylance with the same layout and index: the floor under omnivector's overhead."""

    name = "pylance"
    imports = ("lance",)
    index = "IVF_HNSW_SQ"
    knob = "ef (nprobes, refine_factor=2)"

    def create(self) -> None:
        self.dataset: Any = None

    def prepare(self, batch: Batch) -> Any:
        return batch.arrow()

    def add(self, prepared: Any) -> None:
        import lance

        self.dataset = lance.write_dataset(
            prepared,
            str(self.path),
            mode="append" if self.dataset is not None else "create",
            data_storage_version="2.2",
        )

    def build(self, sample: np.ndarray) -> bool:
        self.dataset.create_index(
            "vector",
            index_type=self.index,
            metric="cosine",
            num_partitions=int(self.config["num_partitions"]),
        )
        return True

    def build_extras(self) -> None:
        self.dataset.create_scalar_index("category", "BITMAP")

    def open(self) -> None:
        import lance

        self.dataset = lance.dataset(str(self.path))

    def sweep(self) -> list[Params]:
        return _lance_sweep(self.config)

    def _nearest(self, query: np.ndarray, k: int, params: Params | None) -> dict[str, Any]:
        return {"column": "vector", "q": query, "k": k, "metric": "cosine", **(params or {})}

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        nearest = self._nearest(query, k, params)
        table = self.dataset.to_table(columns=["id", "_distance"], nearest=nearest)
        return ids_of(table.column("id").to_pylist())

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        table = self.dataset.to_table(
            columns=["id", "_distance"],
            nearest=self._nearest(query, k, params),
            filter=f"category = '{category}'",
            prefilter=True,
        )
        return ids_of(table.column("id").to_pylist())


class LanceDB(System):
    name = "lancedb"
    requires = ("lancedb",)
    imports = ("lancedb",)
    index = "IVF_HNSW_SQ"
    knob = "ef (nprobes, refine_factor=2)"
    hybrid = True

    def create(self) -> None:
        import lancedb

        self.db = lancedb.connect(str(self.path))
        self.table: Any = None

    def prepare(self, batch: Batch) -> Any:
        return batch.arrow()

    def add(self, prepared: Any) -> None:
        if self.table is None:
            self.table = self.db.create_table(TABLE, data=prepared)
        else:
            self.table.add(prepared)

    def build(self, sample: np.ndarray) -> bool:
        self.table.create_index(
            metric="cosine",
            index_type=self.index,
            num_partitions=int(self.config["num_partitions"]),
        )
        return True

    def build_extras(self) -> None:
        self.table.create_scalar_index("category", index_type="BITMAP")
        self.table.create_fts_index("text")

    def open(self) -> None:
        import lancedb

        self.db = lancedb.connect(str(self.path))
        self.table = self.db.open_table(TABLE)

    def sweep(self) -> list[Params]:
        return _lance_sweep(self.config)

    def _query(self, builder: Any, k: int, params: Params | None) -> Any:
        builder = builder.distance_type("cosine").select(["id"]).limit(k)
        params = params or {}
        if "nprobes" in params:
            builder = builder.nprobes(params["nprobes"])
        if "ef" in params:
            builder = builder.ef(params["ef"])
        if "refine_factor" in params:
            builder = builder.refine_factor(params["refine_factor"])
        return builder

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        table = self._query(self.table.search(query), k, params).to_arrow()
        return ids_of(table.column("id").to_pylist())

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        builder = self.table.search(query).where(f"category = '{category}'", prefilter=True)
        table = self._query(builder, k, params).to_arrow()
        return ids_of(table.column("id").to_pylist())

    def search_hybrid(
        self, query: np.ndarray, text: str, k: int, params: Params | None
    ) -> list[int]:
        builder = self.table.search(query_type="hybrid").vector(query).text(text)
        table = self._query(builder, k, params).to_arrow()
        return ids_of(table.column("id").to_pylist())

"""The other systems of ``omnivector bench peers``: chromadb, qdrant-client in local mode,
hnswlib, FAISS and numpy exact search.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from omnivector.bench.peers_base import TABLE, Batch, Params, System, ids_of, unit

__all__ = ["Chroma", "Faiss", "Hnswlib", "Numpy", "Qdrant"]


def _faiss() -> Any:
    # FAISS's bundled stubs do not know its SWIG keyword arguments; treat it as untyped
    return importlib.import_module("faiss")


class Chroma(System):
    name = "chromadb"
    requires = ("chromadb",)
    imports = ("chromadb", "chromadb.config")
    index = "HNSW (built on add)"
    knob = "ef_search (set, then the client reopened)"

    def _client(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        return chromadb.PersistentClient(
            path=str(self.path), settings=Settings(anonymized_telemetry=False)
        )

    def create(self) -> None:
        self.client = self._client()
        self.collection = self.client.create_collection(
            TABLE, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        self.ef: int | None = None

    def prepare(self, batch: Batch) -> Any:
        return batch

    def add(self, prepared: Any) -> None:
        batch: Batch = prepared
        step = min(len(batch.vectors), int(self.client.get_max_batch_size()))
        for start in range(0, len(batch.vectors), step):
            end = start + step
            self.collection.add(
                ids=batch.ids[start:end],
                embeddings=batch.vectors[start:end],
                documents=batch.texts[start:end],
                metadatas=[{"category": c} for c in batch.categories[start:end]],
            )

    def open(self) -> None:
        self.client = self._client()
        self.collection = self.client.get_collection(TABLE, embedding_function=None)
        self.ef = None

    def sweep(self) -> list[Params]:
        return [{"ef": ef} for ef in self.config["ef_sweep"]]

    def _set_ef(self, params: Params | None) -> None:
        ef = (params or {}).get("ef")
        if ef is not None and ef != self.ef:
            client_module: Any = importlib.import_module("chromadb.api.client")

            # a loaded index keeps its ef_search until the client is reopened
            self.collection.modify(configuration={"hnsw": {"ef_search": ef}})
            client_module.SharedSystemClient.clear_system_cache()
            self.client = self._client()
            self.collection = self.client.get_collection(TABLE, embedding_function=None)
            self.ef = ef

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        self._set_ef(params)
        result = self.collection.query(query_embeddings=[query], n_results=k, include=["distances"])
        return ids_of(result["ids"][0])

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        self._set_ef(params)
        result = self.collection.query(
            query_embeddings=[query],
            n_results=k,
            where={"category": category},
            include=["distances"],
        )
        return ids_of(result["ids"][0])


class Qdrant(System):
    name = "qdrant-local"
    requires = ("qdrant_client",)
    imports = ("qdrant_client", "qdrant_client.models")
    index = "exact (local mode)"
    knob = "none: local mode scans"

    def create(self) -> None:
        from qdrant_client import QdrantClient, models

        self.client = QdrantClient(path=str(self.path))
        vectors = models.VectorParams(size=self.dimension, distance=models.Distance.COSINE)
        self.client.create_collection(TABLE, vectors_config=vectors)

    def prepare(self, batch: Batch) -> Any:
        from qdrant_client import models

        return models.Batch(
            ids=list(range(batch.start, batch.start + len(batch.vectors))),
            vectors=batch.vectors.tolist(),
            payloads=[
                {"text": t, "category": c}
                for t, c in zip(batch.texts, batch.categories, strict=True)
            ],
        )

    def add(self, prepared: Any) -> None:
        self.client.upsert(TABLE, points=prepared, wait=True)

    def build_extras(self) -> None:
        from qdrant_client import models

        self.client.create_payload_index(
            TABLE, "category", field_schema=models.PayloadSchemaType.KEYWORD
        )

    def close(self) -> None:
        self.client.close()

    def open(self) -> None:
        from qdrant_client import QdrantClient

        self.client = QdrantClient(path=str(self.path))

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        result = self.client.query_points(TABLE, query=query, limit=k, with_payload=False)
        return ids_of(p.id for p in result.points)

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        from qdrant_client import models

        condition = models.FieldCondition(key="category", match=models.MatchValue(value=category))
        result = self.client.query_points(
            TABLE,
            query=query,
            limit=k,
            with_payload=False,
            query_filter=models.Filter(must=[condition]),
        )
        return ids_of(p.id for p in result.points)


class _CategoryArray(System):
    """Systems without a payload store: a category code per row, saved beside the index."""

    def _save_categories(self, codes: list[int]) -> None:
        np.save(self.path / "categories.npy", np.asarray(codes, np.int16))

    def _load_categories(self) -> None:
        self.categories = np.load(self.path / "categories.npy")
        names: list[str] = self.config["categories"]
        self.members = {
            name: np.flatnonzero(self.categories == code) for code, name in enumerate(names)
        }

    def _codes(self, batch: Batch) -> list[int]:
        names: list[str] = self.config["categories"]
        lookup = {name: code for code, name in enumerate(names)}
        return [lookup[c] for c in batch.categories]


class Hnswlib(_CategoryArray):
    name = "hnswlib"
    requires = ("hnswlib",)
    imports = ("hnswlib",)
    index = "HNSW M=16 efC=200"
    knob = "ef"

    def create(self) -> None:
        import hnswlib

        self.path.mkdir(parents=True, exist_ok=True)
        self.index_ = hnswlib.Index(space="cosine", dim=self.dimension)
        self.index_.init_index(max_elements=self.count, M=16, ef_construction=200)
        self.codes: list[int] = []

    def prepare(self, batch: Batch) -> Any:
        ids = np.arange(batch.start, batch.start + len(batch.vectors))
        return batch.vectors, ids, self._codes(batch)

    def add(self, prepared: Any) -> None:
        vectors, ids, codes = prepared
        self.index_.add_items(vectors, ids)
        self.codes += codes

    def finish(self) -> None:
        self.index_.save_index(str(self.path / "index.bin"))
        self._save_categories(self.codes)

    def open(self) -> None:
        import hnswlib

        self.index_ = hnswlib.Index(space="cosine", dim=self.dimension)
        self.index_.load_index(str(self.path / "index.bin"), max_elements=self.count)
        self._load_categories()
        self.ef = 0

    def sweep(self) -> list[Params]:
        return [{"ef": ef} for ef in self.config["ef_sweep"]]

    def _set_ef(self, params: Params | None, k: int) -> None:
        ef = max(k, (params or {}).get("ef", 10))
        if ef != self.ef:
            self.index_.set_ef(ef)
            self.ef = ef

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        self._set_ef(params, k)
        labels, _ = self.index_.knn_query(query, k=k)
        return ids_of(labels[0])

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        self._set_ef(params, k)
        code = self.config["categories"].index(category)
        categories = self.categories
        labels, _ = self.index_.knn_query(
            query, k=k, filter=lambda label: bool(categories[label] == code)
        )
        return ids_of(labels[0])


class Faiss(_CategoryArray):
    name = "faiss"
    requires = ("faiss",)
    imports = ("faiss",)
    index = "IVF-Flat (inner product on unit vectors)"
    knob = "nprobe"
    train_first = True

    def create(self) -> None:
        faiss = _faiss()

        self.path.mkdir(parents=True, exist_ok=True)
        lists = max(1, int(np.sqrt(self.count)))
        self.quantizer = faiss.IndexFlatIP(self.dimension)
        self.index_ = faiss.IndexIVFFlat(
            self.quantizer, self.dimension, lists, faiss.METRIC_INNER_PRODUCT
        )
        self.codes: list[int] = []

    def build(self, sample: np.ndarray) -> bool:
        self.index_.train(unit(sample))
        return True

    def prepare(self, batch: Batch) -> Any:
        ids = np.arange(batch.start, batch.start + len(batch.vectors), dtype=np.int64)
        return unit(batch.vectors), ids, self._codes(batch)

    def add(self, prepared: Any) -> None:
        vectors, ids, codes = prepared
        self.index_.add_with_ids(vectors, ids)
        self.codes += codes

    def finish(self) -> None:
        faiss = _faiss()

        faiss.write_index(self.index_, str(self.path / "index.faiss"))
        self._save_categories(self.codes)

    def open(self) -> None:
        faiss = _faiss()

        self.index_ = faiss.read_index(str(self.path / "index.faiss"))
        self._load_categories()
        self.selectors = {
            name: faiss.IDSelectorBatch(ids.astype(np.int64)) for name, ids in self.members.items()
        }

    def sweep(self) -> list[Params]:
        lists = int(self.index_.nlist) if hasattr(self, "index_") else 1 << 30
        return [{"nprobe": p} for p in (1, 2, 4, 8, 16, 32, 64, 128) if p <= lists]

    def _search(self, query: np.ndarray, k: int, params: Params | None, selector: Any) -> Any:
        faiss = _faiss()

        nprobe = (params or {}).get("nprobe", 1)
        if selector is None:
            search_params = faiss.SearchParametersIVF(nprobe=nprobe)
        else:
            search_params = faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
        _, labels = self.index_.search(unit(query[None, :]), k, params=search_params)
        return [int(v) for v in labels[0] if v >= 0]

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        return self._search(query, k, params, None)

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        return self._search(query, k, params, self.selectors[category])


class Numpy(_CategoryArray):
    """Exact search by matrix product: the brute-force floor."""

    name = "numpy"
    index = "exact (matrix product)"
    knob = "none: exact"

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.parts: list[np.ndarray] = []
        self.codes: list[int] = []

    def prepare(self, batch: Batch) -> Any:
        return batch.vectors, self._codes(batch)

    def add(self, prepared: Any) -> None:
        vectors, codes = prepared
        self.parts.append(np.asarray(vectors, np.float32))
        self.codes += codes

    def finish(self) -> None:
        np.save(self.path / "vectors.npy", np.concatenate(self.parts))
        self._save_categories(self.codes)
        self.parts = []

    def open(self) -> None:
        self.matrix = unit(np.load(self.path / "vectors.npy"))
        self._load_categories()

    def _top(self, matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
        scores = matrix @ unit(query)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top], kind="stable")]

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        return ids_of(self._top(self.matrix, query, k))

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        rows = self.members[category]
        return ids_of(rows[self._top(self.matrix[rows], query, k)])

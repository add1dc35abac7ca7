"""Resident indexes: a table's vectors in an in-memory index (FAISS HNSW or ScaNN) that
answers unfiltered vector queries while it is at the table's current version."""

from omnivector.resident.engine import scann_installed
from omnivector.resident.scann_engine import partitions_for, refine_growth

__all__ = ["partitions_for", "refine_growth", "scann_installed"]

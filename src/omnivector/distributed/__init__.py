"""Heavy work on a Ray cluster through lance-ray: writes, index builds and compaction."""

from omnivector.distributed.engine import Engine, RayEngine

__all__ = ["Engine", "RayEngine"]

"""Operations on one table, each taking a :class:`~omnivector.storage.context.TableContext`:
writes, reads, search (and its retrievers), versions, schema evolution, file import/export."""

from omnivector.operations.files import FORMATS, detect_format
from omnivector.operations.retrieval import HYBRID_TEXT_DEPTH

__all__ = ["FORMATS", "HYBRID_TEXT_DEPTH", "detect_format"]

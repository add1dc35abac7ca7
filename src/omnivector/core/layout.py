"""How a table lays its columns out on disk: storage version, compression, encodings.

Lance reads per-column encoding hints from Arrow field metadata; this module is the only
place that writes them, so every write path (create, append, upsert, compaction rewrites,
which keep the schema's hints) applies the same layout.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from omnivector.core.errors import InvalidInputError
from omnivector.core.validation import is_integer

__all__ = ["DEFAULT_STORAGE", "StorageOptions", "StorageVersion"]

StorageVersion = Literal["2.0", "2.1", "2.2"]
VectorDtype = Literal["float32", "float16"]
MetadataEncoding = Literal["json", "msgpack"]
Compression = Literal["default", "zstd", "lz4", "none"]

_STORAGE_VERSIONS = ("2.0", "2.1", "2.2")
_VECTOR_DTYPES = ("float32", "float16")
_METADATA_ENCODINGS = ("json", "msgpack")
_COMPRESSIONS = ("default", "zstd", "lz4", "none")
_MINICHUNK_BYTES = 8192


@dataclass(frozen=True, slots=True)
class StorageOptions:
    """The on-disk layout of a table, fixed when the table is created.

    - ``storage_version``: Lance file format. "2.1"/"2.2" store ~19% less than "2.0"
      (FSST string compression); "2.0" exists to stay readable by older tools.
    - ``vector_dtype``: "float16" halves the vector column (768 B instead of 1536 B per row
      at 384-d) for a small recall cost; queries stay float32.
    - ``metadata_encoding``: "json" (UTF-8 text) or "msgpack" (binary). Both are decoded on
      read and filterable by key.
    - ``text_compression``: "zstd" (default) compresses the free text in 8 KiB mini-blocks;
      on Python docstrings that stored 104 B/doc against 159 B/doc for Lance's default
      (FSST per value), and fetching hits' text stays within ~10-25% of the default's speed
      (64 KiB blocks saved ~20 B/doc more but made it 2.5x slower). "default" keeps
      Lance's choice.
    - ``metadata_compression``: the same for the metadata column (~2.2x smaller than the
      default for JSON).
    - ``id_compression``: "default" (Lance's choice); "zstd" halves the ids but makes every
      hit's id fetch and the uniqueness check slower, for under 1% of a document's bytes.
    - ``compression_level``: zstd level for the columns above.
    """

    storage_version: StorageVersion = "2.2"
    vector_dtype: VectorDtype = "float32"
    metadata_encoding: MetadataEncoding = "json"
    text_compression: Compression = "zstd"
    metadata_compression: Compression = "zstd"
    id_compression: Compression = "default"
    compression_level: int | None = 3

    def __post_init__(self) -> None:
        _check_choice("storage_version", self.storage_version, _STORAGE_VERSIONS)
        _check_choice("vector_dtype", self.vector_dtype, _VECTOR_DTYPES)
        _check_choice("metadata_encoding", self.metadata_encoding, _METADATA_ENCODINGS)
        _check_choice("text_compression", self.text_compression, _COMPRESSIONS)
        _check_choice("metadata_compression", self.metadata_compression, _COMPRESSIONS)
        _check_choice("id_compression", self.id_compression, _COMPRESSIONS)
        level = self.compression_level
        if level is not None and (not is_integer(level) or not 1 <= level <= 22):
            raise InvalidInputError(
                f"compression_level must be None or an integer from 1 to 22, got {level!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (recorded in the table's schema metadata)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StorageOptions:
        """Rebuild options recorded by :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown storage option(s) {unknown}; valid options are {sorted(known)}"
            )
        return cls(**values)

    def id_field_metadata(self) -> dict[str, str]:
        """Lance encoding hints for the id column."""
        return _compression_hints(self.id_compression, self.compression_level)

    def text_field_metadata(self) -> dict[str, str]:
        """Lance encoding hints for the free-text column."""
        return _compression_hints(self.text_compression, self.compression_level)

    def metadata_field_metadata(self) -> dict[str, str]:
        """Lance encoding hints for the metadata column."""
        return _compression_hints(self.metadata_compression, self.compression_level)


def _compression_hints(scheme: str, level: int | None) -> dict[str, str]:
    if scheme == "default":
        return {}
    hints = {"lance-encoding:compression": scheme}
    if scheme == "zstd" and level is not None:
        hints["lance-encoding:compression-level"] = str(level)
    if scheme != "none":
        # Large values would otherwise be stored one by one ("full zip"), each compressed
        # alone; mini-blocks let zstd see several neighbouring values at once, and small
        # blocks keep fetching one row cheap.
        hints["lance-encoding:minichunk-size"] = str(_MINICHUNK_BYTES)
        hints["lance-encoding:structural-encoding"] = "miniblock"
    return hints


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInputError(f"{name} must be one of {list(choices)}, got {value!r}")


DEFAULT_STORAGE = StorageOptions()

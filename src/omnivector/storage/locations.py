"""Where a store lives: a local directory or an object-store prefix.

Maps table names to dataset URIs, lists and removes tables, and places lock files. Table
names are validated before they reach this module, and local paths are resolved and checked
to stay inside the root, so no name or symlink can address a path outside the store.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from omnivector.core.errors import InvalidInputError, storage_error
from omnivector.core.schema import check_table_name

__all__ = ["StoreLocation", "data_files", "deletion_read_version", "fragment_files"]

log = logging.getLogger(__name__)

TABLE_SUFFIX = ".lance"
CONTROL_DIR = ".omnivector"
# Inside a table's directory, a file named after the identity recorded when the table was
# created, so that a table dropped and created again under the same name is told from the
# old one by one ``stat`` (a HEAD request on object storage).
IDENTITY_PREFIX = "_omnivector_identity."


class StoreLocation:
    """The root of a store and the layout of tables under it."""

    def __init__(
        self, root: str | os.PathLike[str], storage_options: dict[str, str] | None = None
    ) -> None:
        text = os.fspath(root)
        if not isinstance(text, str) or not text:
            raise InvalidInputError("the store path must be a non-empty path or URI")
        scheme = urlparse(text).scheme
        self.is_local = scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")
        self.storage_options = dict(storage_options or {})
        if self.is_local:
            path = Path(text.removeprefix("file://")).expanduser()
            if path.exists() and not path.is_dir():
                raise InvalidInputError(f"{path} exists and is not a directory; pick a directory")
            # created by the first write (Lance makes a table's directories), never by reads
            self.root = str(path.resolve())
            self._fs: pafs.FileSystem = pafs.LocalFileSystem()
            self._fs_root = self.root
            self.lock_dir = Path(self.root) / CONTROL_DIR / "locks"
        else:
            self.root = text.rstrip("/")
            self._fs, self._fs_root = _remote_filesystem(self.root, self.storage_options)
            digest = hashlib.sha256(self.root.encode()).hexdigest()[:16]
            self.lock_dir = Path.home() / ".cache" / "omnivector" / "locks" / digest
        self._lock_dir_made = False

    def table_uri(self, name: str) -> str:
        check_table_name(name)
        uri = f"{self.root}/{name}{TABLE_SUFFIX}"
        if self.is_local:
            self._check_inside(uri)
        return uri

    def lock_path(self, name: str, purpose: str) -> str:
        """The lock file of table ``name`` for ``purpose``; its directory is made on first
        use (locks are taken by writes, so a store only read stays untouched)."""
        check_table_name(name)
        if not self._lock_dir_made:
            try:
                self.lock_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(f"creating the lock directory {self.lock_dir}", exc) from exc
            self._lock_dir_made = True
        return str(self.lock_dir / f"{name}.{purpose}.lock")

    def bytes_on_disk(self, name: str) -> int:
        """Bytes of every file of table ``name``: all versions, indexes and deletions."""
        uri = self.table_uri(name)
        if self.is_local:
            filesystem, path = pafs.LocalFileSystem(), uri
        else:
            filesystem, path = self._fs, self._fs_path(uri)
        selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
        return sum(
            info.size or 0
            for info in filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
        )

    def exists(self, name: str) -> bool:
        uri = self.table_uri(name)
        info = self._fs.get_file_info(self._fs_path(uri) + "/_versions")
        return bool(info.type == pafs.FileType.Directory)

    def record_identity(self, name: str) -> str:
        """Record a new identity for table ``name`` (just created) and return it."""
        identity = uuid.uuid4().hex
        try:
            with self._fs.open_output_stream(self._identity_path(name, identity)):
                pass
        except OSError as exc:
            raise storage_error(f"recording the identity of table {name!r}", exc) from exc
        return identity

    def identity(self, name: str) -> str | None:
        """The identity table ``name`` recorded when it was created; None when it has none
        (created before identities were recorded, or not there)."""
        directory = self._fs_path(self.table_uri(name))
        try:
            if self.is_local:
                names = os.listdir(directory)
            else:
                selector = pafs.FileSelector(directory, allow_not_found=True)
                names = [info.base_name for info in self._fs.get_file_info(selector)]
        except OSError:
            return None
        found = sorted(n for n in names if n.startswith(IDENTITY_PREFIX))
        return found[0][len(IDENTITY_PREFIX) :] if found else None

    def has_identity(self, name: str, identity: str | None) -> bool:
        """Whether table ``name`` is still the one created with ``identity`` (one ``stat``
        or HEAD request; a table without an identity is not checked)."""
        if identity is None:
            return True
        path = self._identity_path(name, identity)
        if self.is_local:
            return os.path.exists(path)
        try:
            return bool(self._fs.get_file_info(path).type == pafs.FileType.File)
        except OSError:
            return False

    def _identity_path(self, name: str, identity: str) -> str:
        # the name was checked when the table was opened; this runs on every read
        return self._fs_path(f"{self.root}/{name}{TABLE_SUFFIX}/{IDENTITY_PREFIX}{identity}")

    def table_names(self) -> list[str]:
        selector = pafs.FileSelector(self._fs_root, allow_not_found=True)
        names = []
        for info in self._fs.get_file_info(selector):
            base = info.base_name
            if not base.endswith(TABLE_SUFFIX) or info.type != pafs.FileType.Directory:
                continue
            name = base[: -len(TABLE_SUFFIX)]
            try:
                if self.exists(name):
                    names.append(name)
            except InvalidInputError:
                continue  # not a valid name, or a link leading out of the store
        return sorted(names)

    def remove(self, name: str) -> None:
        uri = self.table_uri(name)
        try:
            if self.is_local:
                shutil.rmtree(uri)
            else:
                self._fs.delete_dir(self._fs_path(uri))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise storage_error(f"removing table {name!r}", exc) from exc

    def list_files(self, name: str, folder: str) -> list[str]:
        """The files in ``folder`` of table ``name``, relative to the table's directory."""
        uri = self.table_uri(name)
        selector = pafs.FileSelector(self._fs_path(f"{uri}/{folder}"), allow_not_found=True)
        return [
            f"{folder}/{info.base_name}"
            for info in self._fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]

    def remove_files(self, name: str, paths: list[str]) -> None:
        """Delete files inside table ``name`` given relative to its directory (best effort:
        it drops the data files of a write that was never committed)."""
        uri = self.table_uri(name)
        for relative in paths:
            if not relative or relative.startswith("/") or ".." in relative.split("/"):
                continue
            try:
                self._fs.delete_file(self._fs_path(f"{uri}/{relative}"))
            except OSError as exc:
                log.debug("could not remove %s from %s: %s", relative, name, exc)

    def _fs_path(self, uri: str) -> str:
        if self.is_local:
            return uri
        return self._fs_root + uri[len(self.root) :]

    def _check_inside(self, uri: str) -> None:
        resolved = os.path.realpath(uri)
        if os.path.commonpath([resolved, self.root]) != self.root:
            raise InvalidInputError(
                f"{uri} resolves to {resolved}, outside the store root {self.root}; remove the link"
            )


def data_files(fragments: Iterable[Any]) -> list[str]:
    """The data files of Lance fragments, relative to their table's directory."""
    return [f"data/{file.path}" for fragment in fragments for file in fragment.files]


def fragment_files(fragments: Iterable[Any]) -> set[str]:
    """The data and deletion files of Lance fragments (``FragmentMetadata``), relative to
    their table's directory."""
    files: set[str] = set()
    for fragment in fragments:
        files.update(f"data/{file.path}" for file in fragment.files)
        if fragment.deletion_file is not None:
            files.add(fragment.deletion_file.path(fragment.id))
    return files


def deletion_read_version(path: str) -> int | None:
    """The version a deletion file's write read from: Lance names them
    ``_deletions/<fragment>-<read version>-<random>.<ext>``."""
    parts = path.rsplit("/", 1)[-1].split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _remote_filesystem(root: str, options: dict[str, str]) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for listing an object-store prefix with Lance's options."""
    parsed = urlparse(root)
    bucket_path = parsed.netloc + parsed.path
    if parsed.scheme in ("s3", "s3a"):
        kwargs: dict[str, Any] = {}
        lowered = {k.lower(): v for k, v in options.items()}
        if "aws_access_key_id" in lowered or "access_key_id" in lowered:
            kwargs["access_key"] = lowered.get("aws_access_key_id", lowered.get("access_key_id"))
            kwargs["secret_key"] = lowered.get(
                "aws_secret_access_key", lowered.get("secret_access_key")
            )
        endpoint = lowered.get("aws_endpoint", lowered.get("endpoint"))
        if endpoint:
            endpoint_url = urlparse(endpoint)
            kwargs["endpoint_override"] = endpoint_url.netloc or endpoint
            kwargs["scheme"] = endpoint_url.scheme or "https"
        region = lowered.get("aws_region", lowered.get("region"))
        if region:
            kwargs["region"] = region
        return pafs.S3FileSystem(**kwargs), bucket_path
    try:
        filesystem, path = pafs.FileSystem.from_uri(root)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"unsupported store location {root!r}: {exc}") from exc
    return filesystem, path

"""Where a large batch reads photos and writes results: a local (or shared) folder, or object storage.

A `Location` is a folder given as a path (`shoot/2026`, `/mnt/share/in`) or a URI that `pyarrow.fs` understands
(`s3://bucket/prefix`; credentials, region and endpoint come from the usual AWS settings: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL for S3-compatible servers such as MinIO, or the URI's own
`?endpoint_override=host:port&scheme=http`). It lists its files once, reads one file, and writes one file all
or nothing: on a filesystem a temporary file beside the target renamed over it (`core.output.write_atomic`), on
object storage a PUT to a hidden temporary key copied into place by the server (a cut-short PUT stores what it
sent, a server-side copy is whole or absent). Locations pickle (with their filesystem), so
workers of a distributed engine get the same one.
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
from dataclasses import dataclass
from pathlib import Path

from pyarrow import fs as pafs

from core.errors import PortraitStudioError
from core.output import PART_SUFFIX, write_atomic

__all__ = ["FileEntry", "Location", "StorageError", "open_location"]


class StorageError(PortraitStudioError):
    """A location that cannot be opened, listed, read or written (the message says what to do)."""


@dataclass(frozen=True)
class FileEntry:
    """One file under a Location: its path relative to the location (POSIX separators) and its size in bytes."""

    relative: str
    size: int


@dataclass(frozen=True)
class Location:
    """A folder on a filesystem or a prefix in object storage; `root` is its path inside `filesystem`."""

    uri: str
    filesystem: pafs.FileSystem
    root: str

    @property
    def is_local(self) -> bool:
        """True for a path on this machine's filesystem (or a shared mount), False for object storage."""
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def path(self, relative: str) -> str:
        """The filesystem path of `relative` (POSIX) under this location."""
        return posixpath.join(self.root, relative) if relative else self.root

    def show(self, relative: str) -> str:
        """How messages and the manifest name `relative` under this location (a path or a URI)."""
        if not relative:
            return self.uri
        return str(Path(self.root) / relative) if self.is_local else f"{self.uri.rstrip('/')}/{relative}"

    def kind(self) -> str:
        """'folder', 'file' or 'missing'."""
        info = self._info(self.root)
        if info.type == pafs.FileType.Directory:
            return "folder"
        if info.type == pafs.FileType.NotFound:
            # Object storage has no folders: a prefix with no objects under it reads as missing.
            return "missing"
        return "file"

    def files(self) -> list[FileEntry]:
        """Every file under this location, recursively, sorted by relative path (empty if it does not exist)."""
        try:
            infos = self.filesystem.get_file_info(pafs.FileSelector(self.root, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise StorageError(f"Cannot list {self.uri}: {_reason(exc)}") from None
        prefix = self.root.rstrip("/") + "/"
        entries = [
            FileEntry(info.path[len(prefix):] if info.path.startswith(prefix) else info.base_name, info.size or 0)
            for info in infos
            if info.type == pafs.FileType.File
        ]
        return sorted(entries, key=lambda entry: entry.relative)

    def read(self, relative: str) -> bytes:
        """The bytes of the file `relative` under this location."""
        try:
            with self.filesystem.open_input_stream(self.path(relative)) as stream:
                return stream.read()
        except OSError as exc:
            raise StorageError(f"Cannot read {self.show(relative)}: {_reason(exc)}") from None

    def write(self, relative: str, data: bytes) -> None:
        """Write `data` to `relative` under this location all or nothing (see the module docstring)."""
        if self.is_local:
            write_atomic(Path(self.path(relative)), data)
            return
        # A PUT cut short still stores what it sent (pyarrow commits on close), so the bytes go to a hidden
        # temporary key first and are then copied into place by the server, which is all or nothing.
        folder, name = posixpath.split(relative)
        temp = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}{PART_SUFFIX}")
        try:
            with self.filesystem.open_output_stream(self.path(temp)) as stream:
                stream.write(data)
            self.filesystem.move(self.path(temp), self.path(relative))
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.filesystem.delete_file(self.path(temp))
            raise StorageError(f"Cannot write {self.show(relative)}: {_reason(exc)}") from None

    def delete(self, relative: str) -> None:
        """Remove the file `relative` (used for leftovers of killed runs); a missing file is not an error."""
        try:
            self.filesystem.delete_file(self.path(relative))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"Cannot remove {self.show(relative)}: {_reason(exc)}") from None

    def _info(self, path: str) -> pafs.FileInfo:
        try:
            return self.filesystem.get_file_info(path)
        except OSError as exc:
            raise StorageError(f"Cannot open {self.uri}: {_reason(exc)}") from None


def open_location(text: str) -> Location:
    """A folder path or a URI (s3://bucket/prefix, file:///path) → its Location; raises StorageError with advice."""
    if "://" not in text:
        root = Path(text).expanduser().absolute()
        return Location(str(root), pafs.LocalFileSystem(), root.as_posix())
    try:
        filesystem, root = pafs.FileSystem.from_uri(text)
    except (OSError, ValueError) as exc:
        raise StorageError(
            f"Cannot open {text}: {_reason(exc)}. Use a folder path or an s3://bucket/prefix URI "
            f"(credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a custom server with AWS_ENDPOINT_URL)."
        ) from None
    return Location(text, filesystem, root.rstrip("/"))


def _reason(exc: BaseException) -> str:
    """An OSError's message, without pyarrow's C++ source locations."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__

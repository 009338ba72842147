"""Writing results without ever losing a file: no write over an input, no half-written file, unique names.

- **Never over an input**: `check_not_input` refuses an output that is (or reaches through links) an
  input file; `check_output_folder` refuses an output folder equal to or inside the input folder unless
  the caller has the user's consent (`in_place`), and even then inputs are never overwritten because
  `output_names` never hands out an input's own name.
- **Atomic**: `write_atomic` writes to a hidden temporary file in the destination folder, flushes it to
  disk and renames it into place, so a kill, a full disk or Ctrl-C leaves either the old file or the new
  one under the final name, never part of one. It refuses to write through a symbolic link.
- **Unique names**: `output_names` gives every input its own output name (scheme in its docstring).
- **One run per folder**: `FolderLock` holds `.portrait-studio.lock` (the holder's PID) while a run
  writes into a folder; a second run is refused with a message, and a lock left by a dead process is
  taken over (and its temporary files removed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.errors import PortraitStudioError

LOCK_NAME = ".portrait-studio.lock"
PART_SUFFIX = ".portrait-studio-part"  # temporary files: '.<final name>.<random><PART_SUFFIX>'


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would have given a new file


class OutputError(PortraitStudioError):
    """An output cannot be written safely; the message names the file and says what was left untouched."""


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if exc.errno == errno.EFBIG:
        return "the file is larger than this system allows"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    return exc.strerror or str(exc)


def same_file(a: Path, b: Path) -> bool:
    """True when paths `a` and `b` name the same file (through links, '..', hard links); False if either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_readable_file(path: Path) -> None:
    """Refuse an input that is not a regular file (a FIFO or a device would block or never end)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise OutputError(f"Cannot read {path}: {_reason(exc)}.") from None
    if not stat.S_ISREG(mode):
        raise OutputError(
            f"{path} is not a regular file (it is a FIFO, a device or a socket): give a photo file or a folder of photos."
        )


def check_not_input(output: Path, inputs: Iterable[Path]) -> None:
    """Refuse `output` when it is one of `inputs` (compared as files on disk, so links count)."""
    for source in inputs:
        if same_file(output, source) or output.resolve() == source.resolve():
            raise OutputError(
                f"{output} is the input photo {source}: Portrait Studio never writes over an input. "
                f"Choose another output name, e.g. {output.with_name(output.stem + '_cutout.png')}."
            )


def check_output_folder(source_dir: Path, output_dir: Path, in_place: bool) -> None:
    """Refuse an output folder equal to or inside the input folder unless `in_place` (the user's consent)."""
    source = source_dir.resolve()
    target = output_dir.resolve()  # also resolves a folder that does not exist yet
    if in_place or not (target == source or source in target.parents):
        return
    where = "is the input folder" if target == source else f"is inside the input folder {source_dir}"
    raise OutputError(
        f"{output_dir} {where}: results there would mix with the photos (and a second run would process them "
        f"as photos). Choose a folder outside {source_dir}, or add --in-place to write there anyway "
        f"(inputs are still never overwritten)."
    )


def output_names(sources: Sequence[Path], suffix: str = ".png", taken: Iterable[str] = ()) -> list[str]:
    """A distinct output file name per source: `x.jpg` -> `x.png`; stems shared by several inputs keep their
    suffix (`x.jpg` -> `x.jpg.png`, `x.png` -> `x.png.png`); a name still in use (by another output, or by a
    name in `taken`, e.g. the inputs when writing into their own folder) gets ` (2)`, ` (3)`… before the
    suffix. Names are compared case-insensitively, for file systems that do."""
    stems = [s.stem.casefold() for s in sources]
    used = {name.casefold() for name in taken}
    names = []
    for source, stem in zip(sources, stems):
        base = source.stem if stems.count(stem) == 1 else source.name
        name, n = base + suffix, 1
        while name.casefold() in used:
            n += 1
            name = f"{base} ({n}){suffix}"
        used.add(name.casefold())
        names.append(name)
    return names


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` all or nothing: temporary file beside it, flush, fsync, rename over `path`.

    Raises OutputError (naming the file; the old file, if any, unchanged) on any failure, and refuses a
    symbolic link or anything but a regular file at `path`. Interrupts (Ctrl-C) also remove the temporary file.
    """
    path = Path(path)
    if path.is_symlink():
        raise OutputError(
            f"{path} is a symbolic link: Portrait Studio does not write through links (the file it points to "
            f"could be an original). Remove the link or choose another output name."
        )
    if path.exists() and not path.is_file():
        raise OutputError(f"{path} exists and is not a regular file: choose another output name.")
    existed = path.exists()
    kept = "the existing file is unchanged" if existed else "no file was created"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write {path}: {_reason(exc)}; {kept}.") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), _FILE_MODE)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise OutputError(f"Cannot write {path}: {_reason(exc)}; {kept}.") from None
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class FolderLock:
    """`with FolderLock(folder):` — hold `folder/.portrait-studio.lock` (our PID) while writing into `folder`.

    A lock held by a live process is refused with OutputError; one left by a dead process (killed run) is
    taken over, and that run's leftover temporary files are removed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False

    def __enter__(self) -> FolderLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and holder != os.getpid() and _alive(holder):
                    raise OutputError(
                        f"Another Portrait Studio run (PID {holder}) is writing into {self.folder}. Wait for it to "
                        f"finish or choose another output folder (if no run is active, delete {self.path})."
                    ) from None
                with contextlib.suppress(OSError):
                    os.unlink(self.path)  # stale: its process is gone
                continue
            except OSError as exc:
                raise OutputError(f"Cannot write into {self.folder}: {_reason(exc)}.") from None
            with os.fdopen(fd, "w") as stream:
                stream.write(f"{os.getpid()}\n")
            self.held = True
            self._remove_leftovers()
            return self
        raise OutputError(f"Could not lock {self.folder}: another run keeps taking it; try again.")

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _remove_leftovers(self) -> None:
        """Temporary files of runs that were killed mid-write (no live run can own them while we hold the lock)."""
        for part in self.folder.glob(f".*{PART_SUFFIX}"):
            with contextlib.suppress(OSError):
                part.unlink()

    def __exit__(self, *exc: object) -> None:
        if self.held and self._holder() == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.held = False

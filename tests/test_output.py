"""core.output: no write over an input, atomic writes, distinct names, one run per folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.output import (
    LOCK_NAME,
    PART_SUFFIX,
    FolderLock,
    OutputError,
    check_not_input,
    check_output_folder,
    check_readable_file,
    output_names,
    write_atomic,
)


def test_output_names_keep_every_input_distinct():
    sources = [Path(n) for n in ("x.jpg", "x.jpg.png", "x.png", "y.jpg", "Z.jpg", "z.png")]
    names = output_names(sources)
    # x.jpg and x.png share the stem 'x': both keep their suffix; 'x.jpg.png' (stem 'x.jpg') then collides
    # with x.jpg's 'x.jpg.png' and is numbered. Z/z differ only in case: a case-insensitive disk would merge them.
    assert names == ["x.jpg.png", "x.jpg (2).png", "x.png.png", "y.png", "Z.jpg.png", "z.png.png"]
    assert len({n.casefold() for n in names}) == len(sources)


def test_output_names_avoid_taken_names():
    assert output_names([Path("a.png"), Path("b.jpg")], taken=["a.png", "b.png"]) == ["a (2).png", "b (2).png"]


def test_write_atomic_writes_and_replaces(tmp_path):
    target = tmp_path / "sub" / "out.png"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.png"]  # no temporary file left
    assert (target.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_atomic_refuses_a_symlink_and_leaves_its_target(tmp_path):
    original = tmp_path / "original.jpg"
    original.write_bytes(b"precious")
    link = tmp_path / "out.png"
    link.symlink_to(original)
    with pytest.raises(OutputError, match="symbolic link"):
        write_atomic(link, b"result")
    assert original.read_bytes() == b"precious" and link.is_symlink()


def test_write_atomic_failure_keeps_the_old_file_and_names_it(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OutputError, match=r"out\.png: the disk is full; the existing file is unchanged"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_check_not_input_sees_through_links(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x")
    (tmp_path / "alias.jpg").symlink_to(photo)
    for output in (photo, tmp_path / "alias.jpg", tmp_path / "sub" / ".." / "photo.jpg"):
        with pytest.raises(OutputError, match="never writes over an input"):
            check_not_input(output, [photo])
    check_not_input(tmp_path / "photo.png", [photo])


def test_check_output_folder_refuses_same_and_inside_without_consent(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for output in (photos, photos / "masks", photos / "." / "x" / ".."):
        with pytest.raises(OutputError, match="--in-place"):
            check_output_folder(photos, output, in_place=False)
        check_output_folder(photos, output, in_place=True)
    check_output_folder(photos, tmp_path / "masks", in_place=False)


def test_check_readable_file_refuses_fifos_and_devices(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(OutputError, match="not a regular file"):
            check_readable_file(path)


def test_folder_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    with FolderLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_NAME).write_text(f"{sleeper.pid}\n")
        with pytest.raises(OutputError, match=f"PID {sleeper.pid}"):
            FolderLock(tmp_path).__enter__()
    finally:
        sleeper.kill()
        sleeper.wait()
    leftover = tmp_path / f".out.png.abc{PART_SUFFIX}"
    leftover.write_bytes(b"half")
    with FolderLock(tmp_path):  # the holder is dead: the lock is stale, its temporary file goes
        assert not leftover.exists()

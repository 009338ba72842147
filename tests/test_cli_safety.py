"""The command line never loses a photo: no write over an input, no half-written file, no output lost while
reporting success, and every failure a one-line message (issue 11)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import run
from core.output import LOCK_NAME, PART_SUFFIX
from tests.conftest import ROOT

FAST = ("--model", "u2netp", "--no-refine")  # what is written does not matter here, only where and how


def _cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run([str(a) for a in args], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def _default_sigint() -> None:
    """In the child: Ctrl-C acts as in a terminal, even when this test runs in the background (where a shell
    starts commands with SIGINT ignored, and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=_default_sigint, **kwargs,
    )


@pytest.fixture
def photo(tmp_path, astronaut):
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(path, quality=95)
    return path


@pytest.fixture
def folder(tmp_path, astronaut):
    path = tmp_path / "photos"
    path.mkdir()
    for index in range(3):
        Image.fromarray(np.roll(astronaut, 40 * index, axis=1)).save(path / f"p{index}.jpg", quality=90)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _complete_png(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _tmpfs(path: Path, options: str):
    """A tiny tmpfs at `path` (needs root and mount rights: skipped otherwise)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not allowed'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ------------------------------------------------------------------------------------ inputs are safe


def test_output_equal_to_the_input_is_refused_and_the_input_kept(photo, tmp_path):
    original = photo.read_bytes()
    alias = tmp_path / "alias.jpg"
    alias.symlink_to(photo)
    for output in (photo, alias):
        status, _, err = _cli("replace", photo, "-o", output, "--background", "#ff0000", *FAST)
        assert status == 2 and "never writes over an input" in err and "Traceback" not in err
    assert photo.read_bytes() == original


def test_output_folder_equal_to_or_inside_the_input_folder_needs_consent(folder):
    before = _snapshot(folder)
    for output in (folder, folder / "masks"):
        status, _, err = _cli("mask", folder, "-o", output, *FAST)
        assert status == 2 and "--in-place" in err
    assert _snapshot(folder) == before and not (folder / "masks").exists()
    # With consent: every input is kept byte for byte, and the masks get names of their own.
    Image.open(folder / "p0.jpg").save(folder / "p0.png")
    before = _snapshot(folder)
    status, out, err = _cli("mask", folder, "-o", folder, "--in-place", *FAST)
    assert status == 0, err
    after = _snapshot(folder)
    assert all(after[name] == data for name, data in before.items())
    assert sorted(set(after) - set(before)) == ["p0.jpg.png", "p0.png.png", "p1.png", "p2.png"]
    assert "4 of 4 images written" in out


def test_symlink_in_the_output_folder_is_not_followed(folder, tmp_path):
    precious = tmp_path / "precious.jpg"
    precious.write_bytes(b"an original elsewhere")
    out = tmp_path / "out"
    out.mkdir()
    (out / "p1.png").symlink_to(precious)
    status, stdout, err = _cli("mask", folder, "-o", out, *FAST)
    assert status == 1 and "p1.jpg" in err and "symbolic link" in err
    assert precious.read_bytes() == b"an original elsewhere"
    assert "2 of 3 images written" in stdout


def test_inputs_whose_names_collide_get_distinct_outputs(photo, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x.jpg", "x.png", "x.jpg.png"):
        Image.open(photo).save(folder / name)
    status, out, err = _cli("mask", folder, "-o", tmp_path / "out", *FAST)
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.jpg (2).png", "x.jpg.png", "x.png.png"]
    assert "3 of 3 images written" in out


def test_fifo_and_device_inputs_are_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for source in (fifo, Path("/dev/zero")):
        started = time.monotonic()
        status, _, err = _cli("mask", source, "-o", tmp_path / "m.png", *FAST)
        assert status == 2 and "not a regular file" in err and "Traceback" not in err
        assert time.monotonic() - started < 30  # before: blocked on the FIFO, or read /dev/zero forever


def test_a_strip_background_is_refused_before_any_resampling(photo, tmp_path):
    Image.new("RGB", (20000, 1), (0, 90, 200)).save(tmp_path / "strip.png")
    status, _, err = _cli("replace", photo, "-o", tmp_path / "out.png", "--background", tmp_path / "strip.png", *FAST)
    assert status == 2 and "20000x1" in err and "50:1" in err
    assert not (tmp_path / "out.png").exists()


# ------------------------------------------------------------------------------ outputs are whole


def test_a_full_disk_leaves_no_file_under_a_final_name(photo, folder, tmp_path):
    with _tmpfs(tmp_path / "small", "size=96k") as disk:
        (disk / "kept.png").write_bytes(b"an earlier result")
        status, _, err = _cli("cutout", photo, "-o", disk / "kept.png", *FAST)  # ~400 kB does not fit
        assert status == 1 and "kept.png: the disk is full; the existing file is unchanged" in err
        assert (disk / "kept.png").read_bytes() == b"an earlier result"
        status, out, err = _cli("cutout", folder, "-o", disk / "out", *FAST)
        assert status == 1 and "the disk is full" in err and "Traceback" not in err
        assert "0 of 3 images written" in out
        assert [p.name for p in (disk / "out").iterdir()] == []  # no partial, no empty file, no lock left


def test_a_read_only_output_is_one_line(folder, tmp_path):
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as disk:
        status, _, err = _cli("mask", folder, "-o", disk / "out", *FAST)
        assert status == 1 and "read-only" in err.lower() and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_sigkill_during_a_write_leaves_no_partial_file(tmp_path):
    """Kill the CLI the moment its output starts to appear on disk: the final name is whole or absent."""
    rng = np.random.default_rng(0)
    big = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (2400, 3200, 3), np.uint8)).save(big, compress_level=0)  # noise: ~30 MB out
    out = tmp_path / "out"
    out.mkdir()
    target = out / "big.png"
    process = _spawn("cutout", big, "-o", target, *FAST)
    caught = None
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        names = os.listdir(out)
        if names:
            process.send_signal(signal.SIGKILL)
            caught = names
            break
        time.sleep(0.0005)
    process.wait(timeout=60)
    assert caught, "the output never appeared while the CLI ran"
    if target.exists():  # the rename won the race: then the file must be whole
        assert _complete_png(target)
    leftovers = [name for name in os.listdir(out) if name != "big.png"]
    assert all(name.endswith(PART_SUFFIX) and name.startswith(".") for name in leftovers)


# --------------------------------------------------------------------------- runs and interrupts


def test_a_second_run_into_a_folder_in_use_is_refused(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_NAME).write_text(f"{holder.pid}\n")
        status, _, err = _cli("mask", folder, "-o", out, *FAST)
        assert status == 1 and f"Another Portrait Studio run (PID {holder.pid})" in err
        assert sorted(os.listdir(out)) == [LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()
    status, out_text, err = _cli("mask", folder, "-o", out, *FAST)  # its holder is gone: the stale lock is taken over
    assert status == 0, err
    assert sorted(os.listdir(out)) == ["p0.png", "p1.png", "p2.png"]


def test_two_runs_at_once_never_both_report_a_lost_result(folder, tmp_path):
    out = tmp_path / "out"
    runs = [_spawn("mask", folder, "-o", out, *FAST) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in runs]
    for status, stdout, stderr in results:
        assert (status == 0 and "3 of 3 images written" in stdout) or (status == 1 and "Another Portrait Studio run" in stderr)
    assert sorted(os.listdir(out)) == ["p0.png", "p1.png", "p2.png"]
    assert all(_complete_png(out / name) for name in os.listdir(out))


def test_ctrl_c_ends_a_folder_run_with_a_summary_and_130(folder, tmp_path):
    for index in range(3, 12):
        shutil.copy(folder / "p0.jpg", folder / f"p{index}.jpg")
    out = tmp_path / "out"
    process = _spawn("mask", folder, "-o", out, *FAST)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline and not any(
        name.endswith(".png") for name in (os.listdir(out) if out.exists() else [])
    ):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
    assert len(summary) == 1 and "of 12 images written" in summary[0] and "not written: " in summary[0]
    written = int(summary[0].split("interrupted: ")[1].split(" of")[0])
    assert 1 <= written < 12 and len([n for n in os.listdir(out) if n.endswith(".png")]) == written
    assert not (out / LOCK_NAME).exists()


def test_sigkill_mid_folder_then_skip_existing_completes_the_run(folder, tmp_path):
    for index in range(3, 8):
        shutil.copy(folder / "p0.jpg", folder / f"p{index}.jpg")
    out = tmp_path / "out"
    process = _spawn("mask", folder, "-o", out, *FAST)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline and not any(
        name.endswith(".png") and not name.startswith(".") for name in (os.listdir(out) if out.exists() else [])
    ):
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    finals = sorted(n for n in os.listdir(out) if not n.startswith("."))
    assert 1 <= len(finals) < 8 and all(_complete_png(out / n) for n in finals)  # no half-written final name
    before = {n: (out / n).stat().st_mtime_ns for n in finals}
    status, stdout, err = _cli("mask", folder, "-o", out, *FAST, "--skip-existing", "--report", tmp_path / "r.csv")
    assert status == 0, err
    assert f"{8 - len(finals)} of 8 images written" in stdout and f"{len(finals)} already there" in stdout
    assert sorted(n for n in os.listdir(out) if not n.startswith(".")) == [f"p{i}.png" for i in range(8)]
    assert all((out / n).stat().st_mtime_ns == t for n, t in before.items())  # left as they were
    assert not [n for n in os.listdir(out) if n.endswith(PART_SUFFIX)]  # the killed run's temporary file is gone


def _batch_with_an_output(folder: Path, tmp_path: Path, photos: int) -> tuple[subprocess.Popen, Path]:
    """`batch` over `folder` filled up to `photos` photos, started and waited on until its first output is written
    (or it ended, or 4 minutes passed) → (the process, its DST)."""
    for index in range(3, photos):
        shutil.copy(folder / "p0.jpg", folder / f"p{index}.jpg")
    out = tmp_path / "out"
    process = _spawn("batch", folder, out, *FAST)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline and not any(
        name.endswith(".png") and not name.startswith(".") for name in (os.listdir(out) if out.exists() else [])
    ):
        time.sleep(0.005)
    return process, out


def test_ctrl_c_mid_batch_writes_the_manifest_and_no_half_files(folder, tmp_path):
    process, out = _batch_with_an_output(folder, tmp_path, 10)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted: " in stderr
    written = sorted(name for name in os.listdir(out) if name.endswith(".png") and not name.startswith("."))
    assert 1 <= len(written) < 10
    assert not [name for name in os.listdir(out) if name.endswith(PART_SUFFIX)] and not (out / LOCK_NAME).exists()
    (manifest,) = (out / "_runs").glob("*.jsonl")
    import json

    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(rows) == 10
    assert sorted(Path(row["output"]).name for row in rows if row["status"] == "written") == written
    assert all(row["status"] == "not started" for row in rows if row["status"] != "written")


def test_sigkill_mid_batch_then_a_rerun_does_the_rest(folder, tmp_path):
    process, out = _batch_with_an_output(folder, tmp_path, 8)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    first = {name for name in os.listdir(out) if name.endswith(".png") and not name.startswith(".")}
    assert 1 <= len(first) < 8
    status, out_text, err = _cli("batch", folder, out, *FAST)
    assert status == 0, err
    assert f"{8 - len(first)} photos to process, {len(first)} already in" in out_text
    assert sorted(name for name in os.listdir(out) if name.endswith(".png")) == [f"p{i}.png" for i in range(8)]
    assert not [name for name in os.listdir(out) if name.endswith(PART_SUFFIX)] and not (out / LOCK_NAME).exists()


def test_batch_says_how_to_install_ray_when_it_is_missing(folder, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    status, _, err = _cli("batch", folder, tmp_path / "out", "--engine", "ray")
    assert status == 2 and "pip install -r requirements-ray.txt" in err and "Traceback" not in err

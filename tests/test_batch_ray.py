"""`python -m core batch --engine ray` on a local Ray cluster: the same outputs as the CLI, re-runs, a killed worker.

Slow (a local Ray cluster takes 10-25 s to start here); skipped with the reason when Ray is not installed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.output import PART_SUFFIX
from tests.cli_support import cli
from tests.test_batch_jobs import manifest_rows, shoot  # noqa: F401 - the fixture

pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
pytestmark = pytest.mark.slow

#: One thread and two give slightly different alphas (thread-count-dependent float sums in the networks):
#: at most this many alpha levels apart, on at most this share of the pixels.
ALPHA_LEVELS, ALPHA_SHARE = 3, 0.001


def assert_same_cutout(a: Path, b: Path) -> None:
    """Two RGBA cut-outs agree within the thread-count tolerance."""
    x, y = (np.asarray(Image.open(p)).astype(int) for p in (a, b))
    assert x.shape == y.shape and x.shape[2] == 4
    diff = np.abs(x[..., 3] - y[..., 3])
    assert diff.max() <= ALPHA_LEVELS and np.mean(diff > 0) <= ALPHA_SHARE, (diff.max(), np.mean(diff > 0))


def test_ray_writes_what_the_cli_writes_records_the_failure_and_reruns_only_it(shoot, tmp_path):  # noqa: F811
    dst = tmp_path / "out"
    status, out, err = cli("batch", shoot, dst, "--engine", "ray", "--workers", "2")
    assert status == 1, err
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.png")) == ["a.png", "b.png", "day2/c.png", "day2/d.png"]
    rows = manifest_rows(dst)
    assert sorted(item["status"] for item in rows) == ["failed"] + ["written"] * 4
    (failure,) = [item for item in rows if item["status"] == "failed"]
    assert failure["input"].endswith("broken.jpg") and "broken.jpg" in failure["error"]
    assert "engine: ray" in out and "Traceback" not in err

    assert cli("cutout", shoot / "day2" / "c.jpg", "-o", tmp_path / "c.png")[0] == 0
    assert_same_cutout(dst / "day2" / "c.png", tmp_path / "c.png")

    status, out, _ = cli("batch", shoot, dst, "--engine", "ray")
    assert status == 1 and "1 photos to process, 4 already in" in out
    assert sorted(item["status"] for item in manifest_rows(dst)) == ["failed"] + ["skipped (exists)"] * 4


def ray_workers() -> list[int]:
    """PIDs of this machine's Ray Data map workers (their process title starts with 'ray::MapWorker')."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::MapWorker"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def ray_listening_addresses() -> set[str]:
    """The addresses Ray's processes (gcs_server, raylet, ray::…) listen on, from /proc (hex IP:port pairs decoded)."""
    inodes: dict[str, str] = {}
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes[fields[9]] = fields[1].split(":")[0]
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            command = (entry / "cmdline").read_bytes()
            if not (b"ray" in command.split(b"\0")[0] or command.startswith(b"ray::")):
                continue
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    found.add(inodes[link[8:-1]])
        except OSError:
            continue
    return found


#: 127.0.0.1 as /proc/net/tcp writes it (little-endian hex), and as an IPv4-mapped IPv6 address in tcp6.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}


def test_a_worker_killed_mid_run_is_replaced_and_every_output_is_written_once(tmp_path, astronaut):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(8):
        Image.fromarray(np.ascontiguousarray(np.roll(astronaut, 37 * i, axis=1))).save(src / f"p{i}.jpg", quality=92)
    killed: list[int] = []
    listening: set[str] = set()

    def kill_one_worker_after_the_first_output() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list(dst.glob("*.png")):
            time.sleep(0.05)
        workers = ray_workers()
        listening.update(ray_listening_addresses())
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    killer = threading.Thread(target=kill_one_worker_after_the_first_output, daemon=True)
    killer.start()
    status, out, err = cli("batch", src, dst, "--engine", "ray", "--workers", "2", "--model", "u2netp")
    killer.join(timeout=5)
    assert killed, "no Ray worker was found to kill"
    assert listening and listening <= LOOPBACK, f"the private cluster listens beyond 127.0.0.1: {listening}"
    assert status == 0, err
    assert sorted(p.name for p in dst.iterdir() if p.is_file()) == [f"p{i}.png" for i in range(8)]
    assert not list(dst.rglob(f"*{PART_SUFFIX}"))
    rows = manifest_rows(dst)
    assert sorted(item["input"] for item in rows) == sorted(str(src / f"p{i}.jpg") for i in range(8))
    assert all(item["status"] == "written" for item in rows)

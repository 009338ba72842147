"""core.batch_jobs and `python -m core batch --engine local`: planning, skipping, status rows, the manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch_jobs import BatchRecipe, Job, complete_rows, plan, process_job, write_manifest
from core.errors import PortraitStudioError
from core.output import PART_SUFFIX
from core.storage import open_location
from tests.cli_support import cli


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_plan_lists_photos_recursively_and_names_one_output_each(tmp_path):
    src = tmp_path / "in"
    for name in ["a.jpg", "a.png", "b.JPG", "sub/c.webp", "sub/deeper/d.heic", ".hidden.jpg", ".cache/e.jpg",
                 "notes.txt", "sub/readme.md"]:
        touch(src / name)
    work = plan(open_location(str(src)), open_location(str(tmp_path / "out")), ".png")
    assert [(job.source, job.target) for job in work.todo] == [
        ("a.jpg", "a.jpg.png"), ("a.png", "a.png.png"), ("b.JPG", "b.png"),
        ("sub/c.webp", "sub/c.png"), ("sub/deeper/d.heic", "sub/deeper/d.png"),
    ]
    assert work.done == [] and work.leftovers == []


def test_plan_leaves_out_what_dst_holds_unless_overwriting(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    for name in ["a.jpg", "sub/b.jpg", "c.jpg"]:
        touch(src / name)
    touch(dst / "sub" / "b.png")
    touch(dst / "A.PNG")  # file systems that ignore case hold the same file
    touch(dst / "sub" / f".c.png.x1{PART_SUFFIX}")
    work = plan(open_location(str(src)), open_location(str(dst)), ".png")
    assert [job.source for job in work.todo] == ["c.jpg"]
    assert [job.source for job in work.done] == ["a.jpg", "sub/b.jpg"]
    assert work.leftovers == [f"sub/.c.png.x1{PART_SUFFIX}"]
    again = plan(open_location(str(src)), open_location(str(dst)), ".png", overwrite=True)
    assert [job.source for job in again.todo] == ["a.jpg", "c.jpg", "sub/b.jpg"]


def test_dst_inside_src_is_left_out_and_src_inside_dst_is_refused(tmp_path):
    src = tmp_path / "shoot"
    touch(src / "a.jpg")
    touch(src / "out" / "a.png")  # an earlier run's output inside SRC: not a photo to process
    work = plan(open_location(str(src)), open_location(str(src / "out")), ".png")
    assert [job.source for job in work.done] == ["a.jpg"] and work.todo == []
    for dst in (src, tmp_path):
        with pytest.raises(PortraitStudioError, match="outputs would land among the photos"):
            plan(open_location(str(src)), open_location(str(dst)), ".png")
    with pytest.raises(PortraitStudioError, match="No photos"):
        plan(open_location(str(tmp_path / "empty")), open_location(str(tmp_path / "x")), ".png")


def test_a_bad_photo_is_a_failed_row_not_an_exception(tmp_path):
    src, dst = open_location(str(tmp_path / "in")), open_location(str(tmp_path / "out"))
    touch(tmp_path / "in" / "broken.jpg", b"not a photo")
    recipe = BatchRecipe("cutout", ".png", "u2netp")
    status = process_job(Job("broken.jpg", "broken.png", 11), recipe, src, dst, segmenter=None)
    assert status["status"] == "failed" and "broken.jpg" in status["error"] and "traceback" not in status["error"].lower()
    assert status["input"] == str(tmp_path / "in" / "broken.jpg") and not (tmp_path / "out").exists()


def test_every_input_gets_exactly_one_row_and_the_manifest_holds_them(tmp_path):
    src, dst = open_location(str(tmp_path / "in")), open_location(str(tmp_path / "out"))
    jobs = [Job("a.jpg", "a.png"), Job("b.jpg", "b.png")]
    rows = complete_rows(jobs, [{"input": src.show("a.jpg"), "status": "written"}], src, dst)
    assert [item["status"] for item in rows] == ["written", "failed"]
    assert "no status came back" in rows[1]["error"]
    relative = write_manifest(dst, "run-1", rows)
    lines = (tmp_path / "out" / relative).read_text().splitlines()
    assert relative == "_runs/run-1.jsonl" and [json.loads(line)["status"] for line in lines] == ["written", "failed"]


@pytest.fixture
def shoot(tmp_path, astronaut):
    """Four distinct small photos in a folder tree, and one broken one."""
    src = tmp_path / "shoot"
    crops = {"a.jpg": astronaut[:320, :320], "b.png": astronaut[::-1][:300, 40:340],
             "day2/c.jpg": astronaut[100:420, 60:380], "day2/d.jpg": astronaut[:, ::-1][:320, :320]}
    for name, pixels in crops.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(src / name, quality=95)
    (src / "day2" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    return src


def manifest_rows(dst: Path) -> list[dict]:
    """The rows of the newest manifest in DST/_runs."""
    newest = max((dst / "_runs").glob("*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    return [json.loads(line) for line in newest.read_text().splitlines()]


def test_batch_writes_outputs_one_failure_row_and_a_rerun_does_only_what_is_missing(shoot, tmp_path, monkeypatch, segmenter):
    monkeypatch.setattr("core.segmentation.get_segmenter", lambda *a, **k: segmenter)
    dst = tmp_path / "out"
    status, out, err = cli("batch", shoot, dst, "--model", "u2netp")
    assert status == 1, err
    outputs = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.png"))
    assert outputs == ["a.png", "b.png", "day2/c.png", "day2/d.png"]
    rows = manifest_rows(dst)
    assert len(rows) == 5 and sum(item["status"] == "written" for item in rows) == 4
    (failure,) = [item for item in rows if item["status"] == "failed"]
    assert failure["input"] == str(shoot / "day2" / "broken.jpg") and "broken.jpg" in failure["error"]
    assert "error: " in err and "Traceback" not in err
    assert "4 written, 1 failed, 0 already there" in out
    assert all(0 <= item["needs_a_look"] <= 1 for item in rows if item["status"] == "written")
    assert not list(dst.rglob(f"*{PART_SUFFIX}")) and not (dst / ".portrait-studio.lock").exists()

    before = {p: p.stat().st_mtime_ns for p in dst.rglob("*.png")}
    status, out, err = cli("batch", shoot, dst, "--model", "u2netp")
    assert status == 1 and "1 photos to process, 4 already in" in out
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*.png")} == before
    rows = manifest_rows(dst)
    assert sorted(item["status"] for item in rows) == ["failed"] + ["skipped (exists)"] * 4
    assert len(list((dst / "_runs").glob("*.jsonl"))) == 2

    (shoot / "day2" / "broken.jpg").unlink()
    status, out, _ = cli("batch", shoot, dst, "--model", "u2netp")
    assert status == 0 and "0 written, 0 failed, 4 already there" in out


def test_batch_outputs_equal_the_cli_for_the_same_recipe(shoot, tmp_path, monkeypatch, segmenter):
    monkeypatch.setattr("core.segmentation.get_segmenter", lambda *a, **k: segmenter)
    recipe = ["--model", "u2netp", "--background", "navy", "--feather-sigma-pct", "0.4", "--aspect", "1:1"]
    assert cli("batch", shoot, tmp_path / "out", "--format", "jpeg", *recipe)[0] == 1
    assert cli("replace", shoot / "day2" / "c.jpg", "-o", tmp_path / "c.jpg", *recipe)[0] == 0
    assert (tmp_path / "out" / "day2" / "c.jpg").read_bytes() == (tmp_path / "c.jpg").read_bytes()


@pytest.mark.parametrize("argv, message", [
    (["--kind", "mask", "--background", "navy"], "--background goes with --kind replace"),
    (["--format", "jpeg"], "JPEG cannot store transparency"),
    (["--workers", "2"], "--workers: Ray options; add --engine ray"),
    (["--engine", "ray", "--workers", "0"], "--workers must be at least 1"),
    (["--feather-sigma-pct", "99"], "feather"),
])
def test_batch_usage_errors_say_what_to_do_before_any_work(shoot, tmp_path, argv, message):
    status, _, err = cli("batch", shoot, tmp_path / "out", *argv)
    assert status == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "_runs").exists()


def test_batch_refuses_a_file_as_src_and_overlapping_folders(shoot, tmp_path):
    assert "batch takes a folder" in cli("batch", shoot / "a.jpg", tmp_path / "out")[2]
    assert "does not exist" in cli("batch", tmp_path / "nowhere", tmp_path / "out")[2]
    status, _, err = cli("batch", shoot, tmp_path)
    assert status == 2 and "outputs would land among the photos" in err


def test_a_ray_worker_uses_exactly_its_threads(tmp_path, monkeypatch):
    """core.batch_ray.PhotoWorker (no Ray needed to build one): the network and OpenCV get --threads-per-worker."""
    import cv2

    from core.batch_ray import PhotoWorker

    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the worker must override it (and the test restores it)
    monkeypatch.setattr("core.segmentation._segmenters", {})  # a worker process builds its own network
    before = cv2.getNumThreads()
    try:
        worker = PhotoWorker(BatchRecipe("cutout", ".png", "u2netp", "cpu"), open_location(str(tmp_path)),
                             open_location(str(tmp_path / "out")), threads=1)
        assert cv2.getNumThreads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
        assert worker.segmenter._session.get_session_options().intra_op_num_threads == 1
    finally:
        cv2.setNumThreads(before)

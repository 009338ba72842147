"""The command line: file and folder modes, outputs, errors, and agreement with the library."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.cli import run
from core.composite import mask_image
from core.pipeline import alpha_from_prediction, predict
from core.refine import RefineSettings
from tests.cli_support import cli as _cli
from tests.conftest import ROOT




@pytest.fixture
def photo(tmp_path, astronaut):
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(path, quality=95)
    return path


def _library_mask(path, segmenter, settings):
    image = np.asarray(Image.open(path).convert("RGB"))
    _, alpha = alpha_from_prediction(predict(image, segmenter), image.shape[:2], settings, image=image)
    return mask_image(alpha)


def test_mask_of_a_file_equals_the_library_mask(photo, tmp_path, default_segmenter):
    segmenter = default_segmenter
    status, out, err = _cli("mask", photo, "-o", tmp_path / "mask.png", "--device", "cpu")
    assert status == 0, err
    written = np.asarray(Image.open(tmp_path / "mask.png"))
    assert written.shape == (512, 512) and written.dtype == np.uint8
    np.testing.assert_array_equal(written, _library_mask(photo, segmenter, RefineSettings()))
    assert "astronaut.jpg ->" in out


def test_refinement_options_reach_the_pipeline(photo, tmp_path, default_segmenter):
    segmenter = default_segmenter
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--no-bilateral", "--feather-sigma-pct", "0.5")
    assert status == 0, err
    expected = _library_mask(photo, segmenter, RefineSettings(bilateral=False, feather_sigma_pct=0.5))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "m.png")), expected)
    assert _cli("mask", photo, "-o", tmp_path / "r.png", "--no-refine")[0] == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "r.png")), _library_mask(photo, segmenter, None))


def test_cutout_is_rgba_and_replace_writes_every_background(photo, tmp_path):
    assert _cli("cutout", photo, "-o", tmp_path / "c.png")[0] == 0
    cutout = Image.open(tmp_path / "c.png")
    assert cutout.mode == "RGBA" and np.asarray(cutout)[:20, :20, 3].max() < 10
    assert _cli("replace", photo, "-o", tmp_path / "red.jpg", "--background", "#ff0000")[0] == 0
    red = np.asarray(Image.open(tmp_path / "red.jpg").convert("RGB")).astype(int)
    assert red[5, 5, 0] > 240 and red[5, 5, 1] < 15  # top-left corner is background: now red
    Image.new("RGB", (300, 100), (0, 0, 255)).save(tmp_path / "blue.png")
    assert _cli("replace", photo, "-o", tmp_path / "b.webp", "--background", tmp_path / "blue.png")[0] == 0
    assert Image.open(tmp_path / "b.webp").size == (512, 512)
    assert _cli("replace", photo, "-o", tmp_path / "blur.png", "--background", "blur")[0] == 0
    assert _cli("replace", photo, "-o", tmp_path / "t.png", "--background", "transparent")[0] == 0
    assert Image.open(tmp_path / "t.png").mode == "RGBA"


def test_folder_mode_skips_unreadable_files_and_fails_overall(photo, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photo, folder / "one.jpg")
    Image.open(photo).resize((200, 200)).save(folder / "two.png")
    (folder / "broken.jpg").write_bytes(b"this is text, not a JPEG")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    status, out, err = _cli("cutout", folder, "-o", tmp_path / "out")
    assert status == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.png", "two.png"]
    assert "broken.jpg" in err and "not an image" in err and "Traceback" not in err
    assert "2 of 3 images written" in out
    assert "3/3" in err  # the progress bar reached the end


def test_usage_errors_are_reported_without_traceback(photo, tmp_path):
    status, _, err = _cli("mask", photo, "-o", tmp_path / "mask.gif")
    assert status == 2 and "gif" in err.lower() and "Traceback" not in err
    status, _, err = _cli("replace", photo, "-o", tmp_path / "x.png", "--background", tmp_path / "missing.png")
    assert status == 2 and "missing.png" in err
    status, _, err = _cli("mask", tmp_path / "nope.jpg", "-o", tmp_path / "m.png")
    assert status == 2 and "does not exist" in err
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--black-point", "0.95")
    assert status == 2 and "black_point" in err


def test_outputs_that_cannot_be_written_are_refused_before_any_work(photo, tmp_path, monkeypatch):
    import core.segmentation

    # The command line imports the network when it has photos to process (so that --help is quick): patch it there.
    monkeypatch.setattr(core.segmentation, "get_segmenter", lambda *a, **k: pytest.fail("loaded the model for a doomed output"))
    for args in (("cutout", photo, "-o", tmp_path / "c.jpg"),
                 ("replace", photo, "-o", tmp_path / "t.jpg", "--background", "transparent")):
        status, _, err = _cli(*args)
        assert status == 2 and "JPEG cannot store transparency" in err and "skipped" not in err
    status, _, err = _cli("mask", photo, "-o", tmp_path)
    assert status == 2 and "is a folder" in err


def test_python_dash_m_core_runs_as_a_program(photo, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "core", "mask", str(photo), "-o", str(tmp_path / "m.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "m.png").size == (512, 512)


def test_cli_mask_equals_library_mask_on_dev_portraits(dev_set, tmp_path, default_segmenter):
    segmenter = default_segmenter
    folder = tmp_path / "dev"
    folder.mkdir()
    images = sorted((dev_set / "images").glob("*.jpg"))[:6]
    for image in images:
        shutil.copy(image, folder / image.name)
    status, _, err = _cli("mask", folder, "-o", tmp_path / "masks", "--no-refine")
    assert status == 0, err
    for image in images:
        written = np.asarray(Image.open(tmp_path / "masks" / f"{image.stem}.png"))
        np.testing.assert_array_equal(written, _library_mask(image, segmenter, None))


@pytest.mark.parametrize("command", ["mask", "cutout", "replace"])
def test_help_lists_every_setting_with_its_default(command, capsys):
    with pytest.raises(SystemExit) as info:
        run([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--feather-sigma-pct", "--no-bilateral", "--edge-aware", "--decontaminate", "--light-wrap-strength",
                   "--max-megapixels"):
        assert option in text
    assert "% of the long side" in text
    assert "sizes in % of the image's long side" in text and "%%" not in text


def test_network_input_options_need_one_network(photo, tmp_path):
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--no-flip")
    assert status == 2 and "--no-flip: network-input options apply to one network" in err and "--model u2netp" in err
    assert not (tmp_path / "m.png").exists()
    assert _cli("mask", photo, "-o", tmp_path / "m.png", "--model", "u2netp", "--no-flip")[0] == 0
    assert _cli("mask", photo, "-o", tmp_path / "n.png", "--model", "modnet", "--input-size", "384")[0] == 0
    assert Image.open(tmp_path / "n.png").size == (512, 512)


def test_edits_from_the_touch_up_page_reach_every_output(photo, tmp_path, default_segmenter):
    from core.touchup import Edit, apply_edits, edits_to_json

    edits = (Edit("erase", ((0.3, 0.3), (0.6, 0.35)), 0.04), Edit("restore", ((0.1, 0.9),), 0.03, snap=False))
    (tmp_path / "edits.json").write_text(edits_to_json(edits))
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--edits", tmp_path / "edits.json")
    assert status == 0, err
    image = np.asarray(Image.open(photo).convert("RGB"))
    raw, alpha = alpha_from_prediction(predict(image, default_segmenter), image.shape[:2], RefineSettings(), image=image)
    expected = mask_image(apply_edits(alpha, edits, image, raw))
    written = np.asarray(Image.open(tmp_path / "m.png"))
    np.testing.assert_array_equal(written, expected)
    assert (written[int(0.3 * 512), int(0.3 * 512)] == 0) and (written[int(0.9 * 512), int(0.1 * 512)] == 255)
    status, _, err = _cli("cutout", photo, "-o", tmp_path / "c.png", "--edits", tmp_path / "edits.json")
    assert status == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "c.png"))[..., 3], expected)


def test_bad_edits_are_usage_errors_before_any_work(photo, tmp_path, monkeypatch):
    import core.segmentation

    monkeypatch.setattr(core.segmentation, "get_segmenter", lambda *a, **k: pytest.fail("loaded the model for bad edits"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "edits": [{"mode": "paint", "radius": 0.1, "points": [[0.5, 0.5]]}]}')
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--edits", bad)
    assert status == 2 and "bad.json" in err and "'mode' must be 'erase' or 'restore'" in err and "Traceback" not in err
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--edits", tmp_path / "missing.json")
    assert status == 2 and "missing.json does not exist" in err
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(photo, folder)
    status, _, err = _cli("mask", folder, "-o", tmp_path / "out", "--edits", bad)
    assert status == 2 and "--edits belongs to one photo" in err
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ recipes


def _preset(tmp_path, **groups):
    from core.presets import preset_to_json

    path = tmp_path / "preset.json"
    path.write_text(preset_to_json(*groups.values()))
    return path


def test_a_preset_sets_the_recipe_and_options_override_it(photo, tmp_path, default_segmenter):
    from core.finishing import FinishSettings

    tuned = RefineSettings(feather_sigma_pct=0.6, matting=False, black_point=0.3)
    preset = _preset(tmp_path, refine=tuned, finish=FinishSettings(decontaminate=False))
    status, _, err = _cli("mask", photo, "-o", tmp_path / "p.png", "--preset", preset)
    assert status == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "p.png")), _library_mask(photo, default_segmenter, tuned))
    status, _, err = _cli("mask", photo, "-o", tmp_path / "o.png", "--preset", preset, "--feather-sigma-pct", "0.2")
    assert status == 0, err
    overridden = RefineSettings(feather_sigma_pct=0.2, matting=False, black_point=0.3)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.png")), _library_mask(photo, default_segmenter, overridden))


def test_bad_presets_are_usage_errors_that_name_the_setting(photo, tmp_path):
    from core.segmentation import InferenceSettings

    bad = tmp_path / "bad.json"
    bad.write_text('{"refine": {"feather_sigma_pct": 9}}')
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--preset", bad)
    assert status == 2 and "bad.json" in err and "feather_sigma_pct" in err and "Traceback" not in err
    single = _preset(tmp_path, inference=InferenceSettings(flip=False))
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--preset", single)
    assert status == 2 and "network-input settings" in err and "--model u2netp" in err
    status, _, err = _cli("mask", photo, "-o", tmp_path / "m.png", "--preset", tmp_path / "none.json")
    assert status == 2 and "none.json" in err


def test_skip_existing_and_the_report(photo, tmp_path, monkeypatch):
    import csv

    import core.pipeline

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photo, folder / "a.jpg")
    shutil.copy(photo, folder / "b.jpg")
    (folder / "broken.jpg").write_bytes(b"not a photo")
    out, report = tmp_path / "out", tmp_path / "report.csv"
    status, _, err = _cli("mask", folder, "-o", out, "--report", report)
    assert status == 1 and "skipped broken.jpg" in err
    rows = list(csv.DictReader(report.open()))
    assert [r["input"].rsplit("/", 1)[1] for r in rows] == ["a.jpg", "b.jpg", "broken.jpg"]
    assert [r["status"] for r in rows] == ["written", "written", "failed"]
    assert rows[0]["output"].endswith("a.png") and float(rows[0]["seconds"]) > 0 and 0 <= float(rows[0]["needs_a_look"]) <= 1
    assert rows[2]["error"] and rows[2]["needs_a_look"] == ""
    (folder / "broken.jpg").unlink()
    monkeypatch.setattr(core.pipeline, "process", lambda *a, **k: pytest.fail("processed a photo whose output exists"))
    status, stdout, err = _cli("mask", folder, "-o", out, "--skip-existing", "--report", report)
    assert status == 0, err
    assert "0 of 2 images written" in stdout and "2 already there" in stdout
    assert [r["status"] for r in csv.DictReader(report.open())] == ["skipped (exists)"] * 2
    status, _, err = _cli("mask", folder, "-o", out, "--report", folder / "a.jpg")
    assert status == 2 and "report is a CSV file" in err


def _modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has imported after running `code` (which may exit)."""
    probe = f"import sys, atexit\natexit.register(lambda: print('MODULES', ' '.join(sorted(sys.modules))))\n{code}"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES "))
    return {name.split(".")[0] for name in line.split()[1:]}


@pytest.mark.parametrize("argv", [["--help"], ["mask", "--help"], ["presets"], ["mask", "x.jpg"], ["cutout", "--dpi", "5"]])
def test_help_listings_and_usage_errors_import_no_network_runtime(argv):
    modules = _modules_after(f"from core.cli import run\nrun({argv!r})")
    assert not modules & {"torch", "onnxruntime", "onnx"}, modules & {"torch", "onnxruntime", "onnx"}


def test_a_cutout_on_the_cpu_runs_in_onnxruntime_without_pytorch(photo, tmp_path):
    modules = _modules_after(
        f"from core.cli import run\nassert run(['cutout', {str(photo)!r}, '-o', {str(tmp_path / 'c.png')!r}, '--device', 'cpu']) == 0"
    )
    assert "onnxruntime" in modules and "torch" not in modules
    assert Image.open(tmp_path / "c.png").mode == "RGBA"

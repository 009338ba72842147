"""Odd and bad inputs through the library, the command line and the dashboard alike.

The corpus (tests/corpus.py) is generated here: an empty file, a text file named .jpg, truncated JPEG
and PNG, a 1x1 image, a 1000x20 strip (50:1, the widest accepted; a 10000x10 one is refused), a 16-bit PNG, a CMYK JPEG, a palette PNG with transparency,
grey with alpha, an animated GIF and WebP, the eight EXIF orientations, a non-sRGB ICC profile and a
PNG whose header claims 50000x50000 pixels. Each file must give a correct result (right size, upright
as a photo viewer shows it, notes saying what was changed) or a PortraitStudioError whose message says
what was wrong and what to do; never another exception, never a traceback, and the CLI's folder mode
and the dashboard keep going after a bad file.

Speed: every in-process test runs the real network, but `Segmenter.forward` remembers its output per
input batch (see `remembered_forward`), so a photo that reaches the network through the library, the
CLI and the dashboard is inferred once. The subprocess CLI run infers everything afresh.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from core.cli import run as cli_run
from core.composite import Background
from core.errors import ImageTooLargeError, PortraitStudioError
from core.imageio import MAX_IMAGE_PIXELS
from core.pipeline import process
from core.finishing import FinishSettings
from core.segmentation import Segmenter
from tests.conftest import ROOT
from tests.corpus import (
    HUGE_SIDE,
    Sample,
    bad_samples,
    build_corpus,
    good_samples,
    marker_corner,
)
from tests.app_support import (
    INSPECT,
    REPLACE,
    TUNING,
    assert_clean,
    assert_no_exception,
    encode,
    go,
    new_app,
    synthetic_portrait,
    texts,
    upload,
)

CORPUS = build_corpus()
GOOD = good_samples()
BAD = bad_samples()
KINDS = ("mask", "cutout", "composite")
PLAIN = FinishSettings(decontaminate=False)
MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
STREAMLIT_MAX_IMAGE_WIDTH = 2 * 730  # st.image scales wider pictures down to this (MAXIMUM_CONTENT_WIDTH)


def ids(sample: Sample) -> str:
    return sample.name


# ----------------------------------------------------------------------------------------- helpers

_FORWARD_MEMO: dict[tuple, np.ndarray] = {}
_FORWARD_RUNS: list[int] = [0, 0]  # [calls, real network passes]


@pytest.fixture(autouse=True)
def remembered_forward(monkeypatch):
    """Segmenter.forward with its result remembered per (model, device, input batch); counts calls.

    The network is deterministic, so a repeat of the same batch gets the same d0: this only saves time.
    """
    original = Segmenter.forward

    def forward(self, batch):
        _FORWARD_RUNS[0] += 1
        key = (self.spec.name, str(self.device), batch.shape, hashlib.sha256(np.ascontiguousarray(batch)).hexdigest())
        if key not in _FORWARD_MEMO:
            _FORWARD_RUNS[1] += 1
            _FORWARD_MEMO[key] = original(self, batch)
        return _FORWARD_MEMO[key].copy()

    monkeypatch.setattr(Segmenter, "forward", forward)
    return _FORWARD_RUNS


def assert_says(message: str, sample: Sample) -> None:
    """`message` says what was wrong (sample.what) and what to do (sample.todo)."""
    lowered = message.lower()
    missing = [w for w in sample.what + sample.todo if w.lower() not in lowered]
    assert not missing, f"{sample.name}: message lacks {missing}: {message!r}"


def assert_pixels(sample: Sample, rgb: np.ndarray, where: str) -> None:
    """The decoded colours of a good sample: shape, source colours, marker corner, ICC conversion."""
    assert rgb.shape[:2] == sample.shape, where
    checks = sample.checks
    if "rgb" in checks:
        diff = np.abs(rgb[..., :3].astype(int) - checks["rgb"].astype(int)).mean()
        assert diff <= checks["rgb_tol"], f"{where}: mean colour difference {diff:.2f} from the source picture"
    if "corner" in checks:
        assert marker_corner(rgb) == checks["corner"], f"{where}: the marked corner is not where a viewer shows it"
    if "top" in checks:  # stored red in a space whose red is sRGB's green; blue stays blue
        np.testing.assert_allclose(rgb[:6, 4:-4, :3].reshape(-1, 3).mean(0), checks["top"], atol=4, err_msg=where)
        np.testing.assert_allclose(rgb[-6:, 4:-4, :3].reshape(-1, 3).mean(0), checks["bottom"], atol=4, err_msg=where)


def assert_notes(sample: Sample, notes) -> None:
    joined = "\n".join(notes)
    for expected in sample.notes:
        assert expected in joined, f"{sample.name}: note {expected!r} missing from {list(notes)}"
    if not sample.notes:
        assert not notes, f"{sample.name}: unexpected notes {list(notes)}"


def test_corpus_covers_the_issue():
    """The list from the robustness issue, so that a sample dropped from the corpus is noticed."""
    names = {s.name for s in CORPUS}
    assert {"empty.jpg", "text.jpg", "truncated_jpeg.jpg", "truncated_png.png", "one_pixel.png", "strip.png",
            "deep16.png", "cmyk.jpg", "palette.png", "grey_alpha.png", "anim_gif.gif", "anim_webp.webp",
            "icc.png", "huge_header.png", "sliver.png"} | {f"exif_{o}.jpg" for o in range(1, 9)} == names
    assert len({s.stem for s in CORPUS}) == len(CORPUS)  # one <stem>.png per file in folder mode
    formats = {s.name: Image.open(io.BytesIO(s.data)).format for s in GOOD}
    assert formats["anim_gif.gif"] == "GIF" and formats["anim_webp.webp"] == "WEBP" and formats["cmyk.jpg"] == "JPEG"
    data = {s.name: s.data for s in CORPUS}
    assert Image.open(io.BytesIO(data["cmyk.jpg"])).mode == "CMYK"
    assert Image.open(io.BytesIO(data["palette.png"])).mode == "P"
    assert Image.open(io.BytesIO(data["deep16.png"])).mode.startswith("I;16")
    assert Image.open(io.BytesIO(data["grey_alpha.png"])).mode == "LA"
    assert data["huge_header.png"][12:24] == b"IHDR" + struct.pack(">II", HUGE_SIDE, HUGE_SIDE)
    assert len(data["huge_header.png"]) < 200


# ------------------------------------------------------------------------------ library end to end


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sample", GOOD, ids=ids)
def test_library_good_file_gives_correct_output(sample, kind, segmenter):
    # finishing off: these tests check decoding, and decontamination rightly changes soft-edge colours
    result = process(sample.data, segmenter, kind=kind, finishing=PLAIN)
    h, w = sample.shape
    channels = {"mask": (), "cutout": (4,), "composite": (3,)}[kind]
    assert result.output.shape == (h, w) + channels and result.output.dtype == np.uint8
    assert result.alpha.shape == (h, w) and np.isfinite(result.alpha).all()
    assert 0.0 <= result.alpha.min() and result.alpha.max() <= 1.0
    with Image.open(io.BytesIO(result.encoded)) as img:
        assert img.format == "PNG" and img.size == (w, h)
        assert img.mode == {"mask": "L", "cutout": "RGBA", "composite": "RGB"}[kind]
    assert_notes(sample, result.decoded.notes)
    assert_pixels(sample, result.decoded.rgb, f"{sample.name}: decoded")
    if kind == "cutout":  # the cut-out keeps the upright colours: the marker corner, ICC colours, source
        assert_pixels(sample, result.output[..., :3], f"{sample.name}: cut-out")
        np.testing.assert_array_equal(result.output[..., 3], np.rint(result.alpha * 255).astype(np.uint8))
    if kind == "composite":  # on white, pixel by pixel aligned with the upright photo and its alpha
        a = result.alpha[..., None]
        expected = result.decoded.rgb * a + 255.0 * (1.0 - a)
        assert np.abs(result.output.astype(float) - expected).max() <= 1.0
    if "cut_columns" in sample.checks:  # the file's own transparency caps the mask
        cut = sample.checks["cut_columns"]
        assert result.decoded.alpha is not None and result.decoded.alpha[:, :cut].max() == 0
        assert result.alpha[:, :cut].max() == 0
        if kind != "composite":
            alpha_channel = result.output if kind == "mask" else result.output[..., 3]
            assert alpha_channel[:, :cut].max() == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sample", BAD, ids=ids)
def test_library_bad_file_raises_a_clear_error(sample, kind, segmenter, remembered_forward):
    calls = remembered_forward[0]
    with pytest.raises(PortraitStudioError) as info:  # any other exception type fails the test
        process(sample.data, segmenter, kind=kind)
    assert type(info.value) is sample.error
    assert_says(str(info.value), sample)
    assert remembered_forward[0] == calls, "the file was refused only after running the network"


@pytest.mark.parametrize("kind", ["composite", "mask"])
def test_library_one_pixel_and_strip_with_every_background(kind, segmenter):
    """Refinement and every background on the degenerate sizes (blur and cover-fit are the risky ones)."""
    blue = np.zeros((30, 50, 3), np.uint8)
    blue[..., 2] = 255
    backgrounds = [Background(kind="blur"), Background(kind="image", image=blue), Background(kind="transparent")]
    for sample in (s for s in GOOD if s.name in ("one_pixel.png", "strip.png")):
        for background in backgrounds:
            result = process(sample.data, segmenter, kind=kind, background=background)
            assert result.output.shape[:2] == sample.shape, (sample.name, background.kind)
            assert np.isfinite(result.alpha).all()
        result = process(sample.data, segmenter, kind=kind, settings=None)  # raw mask, no refinement
        assert result.output.shape[:2] == sample.shape


# ------------------------------------------------------------------------------------ the huge header


def test_huge_header_is_refused_without_allocating(tmp_path):
    """Decode in a fresh process: its peak RSS stays far below the 7.5 GB the pixels would need.

    The same process then decodes a real 4000x3000 picture, to show that the measurement does see an
    allocation of the size of a decoded image (36 MB as RGB).
    """
    huge = next(s for s in BAD if s.name == "huge_header.png")
    (tmp_path / "huge.png").write_bytes(huge.data)
    Image.new("RGB", (4000, 3000), (10, 20, 30)).save(tmp_path / "real.png")
    script = textwrap.dedent("""
        import json, resource, sys, time
        from core.errors import ImageTooLargeError
        from core.imageio import decode_image

        def peak_mb():
            # VmHWM: this process's own peak. ru_maxrss would do elsewhere, but Linux carries it over
            # from the parent across fork and exec, and the parent (pytest with torch) is bigger.
            try:
                with open("/proc/self/status") as fh:
                    return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
            except OSError:
                return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux

        huge, real = (open(p, "rb").read() for p in sys.argv[1:3])
        before = peak_mb()
        start = time.perf_counter()
        try:
            decode_image(huge)
            message = None
        except ImageTooLargeError as exc:
            message = str(exc)
        seconds = time.perf_counter() - start
        after_huge = peak_mb()
        decode_image(real)
        print(json.dumps({"before": before, "after_huge": after_huge, "after_real": peak_mb(),
                          "seconds": seconds, "message": message}))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "huge.png"), str(tmp_path / "real.png")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["message"] is not None, "the 50000x50000 header was not refused"
    assert_says(report["message"], huge)
    assert report["after_huge"] < 500, f"peak RSS {report['after_huge']:.0f} MB while refusing the huge header"
    assert report["after_huge"] - report["before"] < 20, report  # nothing of the image was allocated
    assert report["seconds"] < 2.0, report  # refused at once
    assert report["after_real"] - report["after_huge"] > 30, report  # a real decode does show up


def test_huge_header_message_names_size_and_limit():
    huge = next(s for s in BAD if s.name == "huge_header.png")
    with pytest.raises(ImageTooLargeError) as info:
        process(huge.data, segmenter=None, kind="mask")  # refused before the segmenter is touched
    message = str(info.value)
    assert f"{HUGE_SIDE}x{HUGE_SIDE} pixels" in message and f"{MAX_IMAGE_PIXELS // 1_000_000} MP" in message
    assert re.search(r"for example to \d+x\d+", message)  # a size that fits


# ------------------------------------------------------------------------------ command line, folder


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for sample in CORPUS:
        (folder / sample.name).write_bytes(sample.data)
    return folder


def check_folder_run(status: int, out: str, err: str, output_dir, mode: str) -> None:
    """Exit 1, one `<stem>.png` per good file, each bad file named with its reason, notes, no traceback."""
    assert "Traceback" not in out and "Traceback" not in err, err
    assert status == 1, err
    assert sorted(p.name for p in output_dir.iterdir()) == sorted(f"{s.stem}.png" for s in GOOD)
    for sample in GOOD:
        with Image.open(output_dir / f"{sample.stem}.png") as img:
            assert img.size == sample.shape[::-1] and img.mode == mode, sample.name
            if mode == "RGBA" and "corner" in sample.checks:
                assert marker_corner(np.asarray(img)) == sample.checks["corner"], sample.name
            if mode in ("L", "RGBA") and "cut_columns" in sample.checks:  # the file's own transparency kept
                alpha = np.asarray(img) if mode == "L" else np.asarray(img)[..., 3]
                assert alpha[:, :sample.checks["cut_columns"]].max() == 0, sample.name
        assert f"skipped {sample.name}" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == len(BAD), error_lines
    for sample in BAD:
        lines = [line for line in error_lines if line.startswith(f"error: skipped {sample.name}: ")]
        assert len(lines) == 1, (sample.name, error_lines)
        assert_says(lines[0], sample)
    for sample in GOOD:  # files read with a change say so, on their own line
        if sample.notes:
            lines = [line for line in out.splitlines() if line.startswith(f"{sample.name} -> ")]
            assert len(lines) == 1, (sample.name, out)
            assert all(note in lines[0] for note in sample.notes), lines[0]
    assert "used the first of 3 frames" in out
    assert f"{len(GOOD)} of {len(CORPUS)} images written" in out


@pytest.mark.parametrize("command, mode", [("mask", "L"), ("cutout", "RGBA"), ("replace", "RGB")])
def test_cli_folder_over_the_whole_corpus(corpus_dir, tmp_path, command, mode):
    # The cut-out keeps the colours under its transparent pixels here: the orientation marker is in the background.
    extra = {"replace": ["--background", "#00ff00"], "cutout": ["--keep-hidden-colours"]}.get(command, [])
    out, err = io.StringIO(), io.StringIO()
    status = cli_run([command, str(corpus_dir), "-o", str(tmp_path / "out"), *extra], stdout=out, stderr=err)
    check_folder_run(status, out.getvalue(), err.getvalue(), tmp_path / "out", mode)


def test_cli_folder_keeps_going_after_an_unexpected_error(corpus_dir, tmp_path, monkeypatch):
    """A failure that is not a PortraitStudioError (a bug, an OpenCV error...) skips that file, without a traceback."""
    import core.pipeline

    original = core.pipeline.process

    def failing_on_the_strip(source, *args, **kwargs):
        if str(source).endswith("strip.png"):
            raise TypeError("simulated bug")
        return original(source, *args, **kwargs)

    monkeypatch.setattr(core.pipeline, "process", failing_on_the_strip)
    out, err = io.StringIO(), io.StringIO()
    status = cli_run(["mask", str(corpus_dir), "-o", str(tmp_path / "out")], stdout=out, stderr=err)
    assert status == 1 and "Traceback" not in err.getvalue()
    assert "error: skipped strip.png: unexpected TypeError: simulated bug" in err.getvalue()
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(f"{s.stem}.png" for s in GOOD if s.name != "strip.png")
    assert f"{len(GOOD) - 1} of {len(CORPUS)} images written" in out.getvalue()


@pytest.mark.parametrize("sample", BAD, ids=ids)
def test_cli_single_bad_file(sample, corpus_dir, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    status = cli_run(["cutout", str(corpus_dir / sample.name), "-o", str(tmp_path / "c.png")], stdout=out, stderr=err)
    assert status == 1 and not (tmp_path / "c.png").exists()
    assert "Traceback" not in out.getvalue() + err.getvalue()
    assert err.getvalue().startswith("error: ") and "skipped" not in err.getvalue()  # one file: it failed
    assert sample.name in err.getvalue()
    assert_says(err.getvalue(), sample)


def test_cli_single_animated_file_prints_its_note(corpus_dir, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["mask", str(corpus_dir / "anim_gif.gif"), "-o", str(tmp_path / "m.png")], stdout=out, stderr=err) == 0
    assert "note: animated GIF: used the first of 3 frames" in out.getvalue()


def test_cli_subprocess_over_the_whole_corpus(corpus_dir, tmp_path):
    """`python -m core cutout DIR -o OUT` as a real process: no traceback escapes at the process level."""
    done = subprocess.run([sys.executable, "-m", "core", "cutout", str(corpus_dir), "-o", str(tmp_path / "out"),
                           "--keep-hidden-colours"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    check_folder_run(done.returncode, done.stdout, done.stderr, tmp_path / "out", "RGBA")


# ------------------------------------------------------------------------------------------ dashboard


@pytest.fixture(scope="module")
def good_photo() -> tuple[str, bytes]:
    return "good.png", encode(synthetic_portrait(120, 90, seed=5), "PNG")


def upload_name(sample: Sample) -> str:
    return sample.upload_name or sample.name


def dashboard_samples() -> list[Sample]:
    # The uploader accepts jpg/jpeg/png/webp; AppTest enforces that filter. The GIF goes in renamed .png
    # (its upload_name), as a user with a misnamed file would; the app reads files by their content.
    return [s for s in CORPUS if upload_name(s).rsplit(".", 1)[-1] in MIME]


def shown_size(sample: Sample) -> tuple[int, int]:
    h, w = sample.shape
    if w <= STREAMLIT_MAX_IMAGE_WIDTH:
        return h, w
    return max(1, int(h * STREAMLIT_MAX_IMAGE_WIDTH / w)), STREAMLIT_MAX_IMAGE_WIDTH


def unescape(text: str) -> str:
    """Page text as the reader sees it: the app backslash-escapes markdown characters (ui.text.md_escape)."""
    return re.sub(r"\\(.)", r"\1", text)


def captions(at) -> list[str]:
    return [img.proto.imgs[0].caption for img in at.image]


def assert_result_shown(at, media, sample: Sample | None = None) -> None:
    assert_clean(at)
    assert captions(at) == ["Original", "Mask", "Result"]
    if sample is None:
        return
    h, w = shown_size(sample)
    for img in at.image:
        shape = media.image(img).shape[:2]
        assert abs(shape[0] - h) <= 1 and shape[1] == w, (sample.name, captions(at), shape, (h, w))
    original = media.image(at.image[0])
    if "corner" in sample.checks:
        assert marker_corner(original) == sample.checks["corner"], sample.name
    if "cut_columns" in sample.checks:  # the file's own transparency caps the mask shown
        mask = media.image(at.image[1])
        mask = mask if mask.ndim == 2 else mask[..., 0]
        assert mask[:, :sample.checks["cut_columns"] - 1].max() < 10, sample.name
    notes = [unescape(c.value).removeprefix("Note: ") for c in at.caption if c.value.startswith("Note: ")]
    assert_notes(sample, notes)


@pytest.mark.parametrize("sample", dashboard_samples(), ids=ids)
def test_dashboard_upload(sample, media, good_photo):
    at = new_app()
    assert_clean(go(at, REPLACE))
    name = upload_name(sample)
    upload(at, name, sample.data, MIME[name.rsplit(".", 1)[-1]])
    assert_no_exception(at)
    if sample.good:
        assert_result_shown(at, media, sample)
        return
    assert len(at.error) == 1, texts(at.error)
    message = unescape(at.error[0].value)
    assert_says(message, sample)
    assert f"'{name}'" in message  # names the file
    assert not at.image and "photo" not in at.session_state
    # the session keeps working: a good photo goes through next
    assert_result_shown(upload(at, *good_photo), media)
    assert at.session_state["photo"].name == good_photo[0]


def test_dashboard_bad_file_after_a_good_one_keeps_the_good_one(media, good_photo):
    """In one session: good, then every bad file in turn (each refused), then good again, shown each time."""
    at = new_app()
    assert_clean(go(at, REPLACE))
    assert_result_shown(upload(at, *good_photo), media)
    for sample in (s for s in dashboard_samples() if not s.good):
        name = upload_name(sample)
        assert_no_exception(upload(at, name, sample.data, MIME[name.rsplit(".", 1)[-1]]))
        assert len(at.error) == 1 and sample.what[0] in unescape(at.error[0].value).lower(), sample.name
        assert at.session_state["photo"].name == good_photo[0]  # a bad file never replaces the photo
        assert_no_exception(at.file_uploader(key="photo_upload").set_value(None).run())
        assert_result_shown(at, media)  # the previous photo is shown again


@pytest.mark.parametrize("sample", [s for s in GOOD if s.name in ("one_pixel.png", "strip.png")], ids=ids)
def test_dashboard_degenerate_sizes_on_every_page(sample, media):
    """The 1x1 image and the 1000x20 strip through the Inspector (every view, zoom at the corners at the
    largest crop) and the Tuning page (every slider at its maximum): no error, no exception."""
    at = new_app()
    assert_clean(go(at, REPLACE))
    assert_result_shown(upload(at, sample.name, sample.data), media, sample)
    assert_clean(go(at, INSPECT))
    for mode in ("result", "overlay", "masks"):
        assert_clean(at.radio(key="inspect_mode").set_value(mode).run())
        assert len(at.image) >= 4, mode
    for position in (0.0, 1.0):
        at.slider(key="zoom_x").set_value(position)
        at.slider(key="zoom_y").set_value(position)
        assert_clean(at.select_slider(key="zoom_size").set_value(512).run())
    assert_clean(go(at, TUNING))
    keys = [slider.key for slider in at.slider]
    assert keys, "the Tuning page shows no sliders"
    for key in keys:
        slider = at.slider(key=key)
        top = slider.proto.max
        assert_clean(slider.set_value(int(top) if isinstance(slider.value, int) else top).run())
        assert at.slider(key=key).value == top, key
    assert len(at.image) >= 2

"""The command line's composition flags: framing, shadow, blur strength and kernel, quality, HEIC input, presets."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from core.framing import subject_box
from core.id_presets import ID_PRESETS
from tests.cli_support import cli


@pytest.fixture
def photo(tmp_path, astronaut):
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return path


def written(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def test_presets_lists_every_id_preset_by_name():
    status, out, _ = cli("presets")
    assert status == 0
    names = [line.split()[0] for line in out.splitlines()[:-1]]
    assert names == list(ID_PRESETS)
    assert "35x45mm" in out and "2x2in" in out and "--id-photo NAME" in out


def test_aspect_alone_keeps_the_subject_at_its_own_resolution(photo, tmp_path):
    status, _, err = cli("mask", photo, "-o", tmp_path / "m.png", "--aspect", "1:1", "--margin-pct", "0")
    assert status == 0, err
    assert cli("mask", photo, "-o", tmp_path / "own.png")[0] == 0
    own = written(tmp_path / "own.png")
    box = subject_box(own.astype(np.float32) / 255)
    mask = written(tmp_path / "m.png")
    # The astronaut touches the bottom and right edges: a square as large as the subject's box, the photo's
    # bottom-right corner on its own, nothing resampled.
    side = mask.shape[0]
    assert mask.shape == (side, side) and abs(side - max(box.height, box.width)) <= 1
    np.testing.assert_array_equal(mask, own[512 - side:, 512 - side:])


@pytest.mark.parametrize("size, pixels", [("1080x1350", (1350, 1080)), ("2000x2000", (2000, 2000)), ("2x2in", (600, 600))])
def test_size_gives_the_exact_pixel_size(photo, tmp_path, size, pixels):
    status, _, err = cli("replace", photo, "-o", tmp_path / "r.png", "--background", "white", "--size", size)
    assert status == 0, err
    assert written(tmp_path / "r.png").shape[:2] == pixels


def test_size_in_millimetres_writes_its_dpi(photo, tmp_path):
    status, _, err = cli("cutout", photo, "-o", tmp_path / "c.png", "--size", "35x45mm", "--dpi", "600")
    assert status == 0, err
    with Image.open(tmp_path / "c.png") as img:
        assert img.size == (827, 1063) and img.mode == "RGBA"
        assert img.info["dpi"] == pytest.approx((600, 600), abs=0.01)


def test_a_size_and_an_aspect_that_disagree_are_refused_before_any_work(photo, tmp_path):
    status, _, err = cli("mask", photo, "-o", tmp_path / "m.png", "--aspect", "1:1", "--size", "2000x1000")
    assert status == 2 and "not of the aspect 1:1" in err and not (tmp_path / "m.png").exists()
    status, _, err = cli("mask", photo, "-o", tmp_path / "m.png", "--size", "big")
    assert status == 2 and "WxH" in err


def test_margin_and_anchor(photo, tmp_path):
    # A wide canvas: the height limits the scale; the astronaut's cut sides (bottom, right) stay on the edges and
    # the left keeps its 10 % margin.
    status, _, err = cli("mask", photo, "-o", tmp_path / "m.png", "--size", "1600x500", "--margin-pct", "10")
    assert status == 0, err
    box = subject_box(written(tmp_path / "m.png").astype(np.float32) / 255)
    assert box.bottom == 500 and box.right == 1600 and {"bottom", "right"} <= box.cut
    assert abs(box.top - 50) <= 2  # 10 % of 500
    status, _, err = cli("mask", photo, "-o", tmp_path / "b.png", "--size", "400x1600", "--anchor", "bottom")
    assert status == 0, err
    assert subject_box(written(tmp_path / "b.png").astype(np.float32) / 255).bottom == 1600


def test_shadow_only_darkens_the_background(photo, tmp_path):
    base = ("replace", photo, "--background", "#dddddd", "--size", "600x600", "--margin-pct", "10")
    assert cli(*base, "-o", tmp_path / "plain.png")[0] == 0
    status, _, err = cli(*base, "-o", tmp_path / "shadow.png", "--shadow", "--shadow-distance-pct", "3")
    assert status == 0, err
    plain, shadow = written(tmp_path / "plain.png").astype(int), written(tmp_path / "shadow.png").astype(int)
    assert (shadow <= plain).all() and (shadow < plain - 20).any()
    # A shadow option alone turns the shadow on; --no-shadow keeps it off.
    assert cli(*base, "-o", tmp_path / "opacity.png", "--shadow-opacity-pct", "80")[0] == 0
    assert (written(tmp_path / "opacity.png").astype(int) < plain - 20).any()
    assert cli(*base, "-o", tmp_path / "off.png", "--shadow-opacity-pct", "80", "--no-shadow")[0] == 0
    np.testing.assert_array_equal(written(tmp_path / "off.png"), plain)


def test_shadow_in_the_cutout_only_when_asked(photo, tmp_path):
    base = ("cutout", photo, "--size", "600x600", "--margin-pct", "10", "--shadow", "--shadow-angle-deg", "180",
            "--shadow-distance-pct", "5")
    assert cli(*base, "-o", tmp_path / "c.png")[0] == 0
    assert cli(*base, "--shadow-in-cutout", "-o", tmp_path / "s.png")[0] == 0
    plain, kept = written(tmp_path / "c.png"), written(tmp_path / "s.png")
    more = kept[..., 3].astype(int) > plain[..., 3].astype(int)
    assert more.sum() > 1000 and (kept[..., :3][more & (plain[..., 3] == 0)] == 0).all()


def test_blur_strength_and_kernel(photo, tmp_path):
    results = {}
    for name, options in {"soft": ["--blur-strength-pct", "1"], "strong": ["--blur-strength-pct", "8"],
                          "disc": ["--blur-strength-pct", "8", "--blur-kernel", "disc"], "named": []}.items():
        status, _, err = cli("replace", photo, "-o", tmp_path / f"{name}.png", "--background", "blur", *options)
        assert status == 0, err
        results[name] = written(tmp_path / f"{name}.png").astype(int)
    corner = (slice(0, 60), slice(0, 60))  # background only
    assert np.abs(np.diff(results["strong"][corner], axis=1)).mean() < np.abs(np.diff(results["soft"][corner], axis=1)).mean()
    assert np.abs(results["disc"] - results["strong"]).max() > 10
    with pytest.raises(SystemExit) as refused:
        cli("replace", photo, "-o", tmp_path / "x.png", "--background", "blur", "--blur-kernel", "box")
    assert refused.value.code == 2


def test_blur_kernel_of_the_background_text_still_works(photo, tmp_path):
    assert cli("replace", photo, "-o", tmp_path / "a.png", "--background", "blur:disc")[0] == 0
    assert cli("replace", photo, "-o", tmp_path / "b.png", "--background", "blur", "--blur-kernel", "disc")[0] == 0
    np.testing.assert_array_equal(written(tmp_path / "a.png"), written(tmp_path / "b.png"))


def test_quality_sets_the_jpeg_and_webp_quality(photo, tmp_path):
    sizes = {}
    for fmt in ("jpg", "webp"):
        for quality in (30, 95):
            path = tmp_path / f"q{quality}.{fmt}"
            status, _, err = cli("replace", photo, "-o", path, "--background", "navy", "--quality", quality)
            assert status == 0, err
            sizes[fmt, quality] = path.stat().st_size
        assert sizes[fmt, 30] < 0.7 * sizes[fmt, 95]
    assert cli("replace", photo, "-o", tmp_path / "x.jpg", "--background", "navy", "--quality", "101")[0] == 2


def test_lossless_webp_keeps_every_pixel(photo, tmp_path):
    assert cli("cutout", photo, "-o", tmp_path / "c.png")[0] == 0
    status, _, err = cli("cutout", photo, "-o", tmp_path / "c.webp", "--lossless")
    assert status == 0, err
    np.testing.assert_array_equal(written(tmp_path / "c.webp"), written(tmp_path / "c.png"))


def test_a_heic_photo_opens_upright(tmp_path, astronaut, photo):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    stored = np.ascontiguousarray(np.rot90(astronaut, 1))  # stored turned left; EXIF 6 says "turn right to view"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.heic", quality=95, exif=exif.tobytes())
    status, out, err = cli("mask", tmp_path / "phone.heic", "-o", tmp_path / "m.png")
    assert status == 0, err
    mask = written(tmp_path / "m.png").astype(int)
    assert cli("mask", photo, "-o", tmp_path / "upright.png")[0] == 0
    upright = written(tmp_path / "upright.png").astype(int)
    # As the upright photo's mask (up to HEIC's loss), and unlike any other turn of it.
    assert np.abs(mask - upright).mean() < 3
    for turns in (1, 2, 3):
        assert np.abs(mask - np.rot90(upright, turns)).mean() > 30


def test_the_photo_dpi_is_kept_unless_a_print_size_sets_one(tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "scan.jpg", quality=95, dpi=(240, 240))
    assert cli("replace", tmp_path / "scan.jpg", "-o", tmp_path / "kept.png", "--background", "white")[0] == 0
    assert cli("cutout", tmp_path / "scan.jpg", "-o", tmp_path / "framed.png", "--aspect", "1:1")[0] == 0
    assert cli("cutout", tmp_path / "scan.jpg", "-o", tmp_path / "print.png", "--size", "4x6in", "--dpi", "150")[0] == 0
    for name, dpi in (("kept.png", 240), ("framed.png", 240), ("print.png", 150)):
        with Image.open(tmp_path / name) as img:
            assert img.info["dpi"] == pytest.approx((dpi, dpi), abs=0.02), name
    assert cli("mask", tmp_path / "scan.jpg", "-o", tmp_path / "none.png")[0] == 0
    Image.fromarray(astronaut).save(tmp_path / "plain.png")
    assert cli("mask", tmp_path / "plain.png", "-o", tmp_path / "none.png")[0] == 0
    with Image.open(tmp_path / "none.png") as img:
        assert "dpi" not in img.info


def test_a_preset_file_carries_framing_shadow_and_output(photo, tmp_path):
    from core.compose import OutputSettings
    from core.framing import FrameSettings
    from core.presets import preset_to_json
    from core.shadow import ShadowSettings

    preset = tmp_path / "recipe.json"
    preset.write_text(preset_to_json(FrameSettings(frame=True, size="600x400"), ShadowSettings(shadow=True),
                                     OutputSettings(quality=40)))
    assert cli("replace", photo, "-o", tmp_path / "a.jpg", "--background", "white", "--preset", preset)[0] == 0
    assert cli("replace", photo, "-o", tmp_path / "b.jpg", "--background", "white", "--size", "600x400", "--shadow",
               "--quality", "40")[0] == 0
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()
    assert cli("replace", photo, "-o", tmp_path / "c.jpg", "--background", "white", "--preset", preset, "--size", "300x300")[0] == 0
    assert written(tmp_path / "c.jpg").shape[:2] == (300, 300)  # an option overrides the preset

"""Unit tests for core.composite: straight-alpha blending, fitting, backgrounds and previews."""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import pytest

from core.composite import (
    Background,
    blend,
    blend_float,
    blurred_background,
    checkerboard,
    cover_fit,
    cutout_rgba,
    mask_image,
    over_checkerboard,
    parse_color,
    solid_background,
    to_uint8,
)
from core.errors import SettingsError
from tests.image_support import red_subject_blue_background


def grey(value: int, h: int = 1, w: int = 1) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


# ---------------------------------------------------------------------------------------- blend


def test_200_grey_at_half_alpha_over_white_is_227_not_177():
    fg, bg = grey(200), grey(255)
    a = np.array([[0.5]], np.float32)
    assert blend_float(fg, a, bg).tolist() == [[[227.5, 227.5, 227.5]]]
    assert blend(fg, a, bg).tolist() == [[[227, 227, 227]]]
    # The premultiplied bug multiplies by alpha twice: 200*0.5*0.5 + 255*0.5 = 177.5 -> 177.
    premultiplied = int(np.ceil(200 * 0.5 * 0.5 + 255 * (1 - 0.5) - 0.5))
    assert premultiplied == 177
    assert blend(fg, a, bg)[0, 0, 0] != premultiplied


def test_200_grey_at_8bit_half_alpha_is_227():
    a = np.array([[128 / 255]], np.float32)
    out_f = blend_float(grey(200), a, grey(255))
    assert out_f[0, 0, 0] == pytest.approx(227.392, abs=1e-3)
    assert blend(grey(200), a, grey(255)).tolist() == [[[227, 227, 227]]]


def test_alpha_zero_gives_background_and_one_gives_foreground_exactly():
    rng = np.random.default_rng(0)
    fg = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(blend(fg, np.zeros((4, 5), np.float32), bg), bg)
    np.testing.assert_array_equal(blend(fg, np.ones((4, 5), np.float32), bg), fg)


def test_round_half_down():
    x = np.array([[0.5, 1.5, 2.5, 227.5, 169.99998, 170.4, 170.5, 170.50002, -3.0, 300.0]], np.float32)
    assert to_uint8(x).tolist() == [[0, 1, 2, 227, 170, 170, 170, 171, 0, 255]]


def test_blend_tie_rounds_down():
    # 10*0.5 + 11*0.5 = 10.5 -> 10 ; 1*0.5 + 0*0.5 = 0.5 -> 0
    fg = np.array([[[10, 1, 255]]], np.uint8)
    bg = np.array([[[11, 0, 0]]], np.uint8)
    a = np.array([[0.5]], np.float32)
    assert blend_float(fg, a, bg).tolist() == [[[10.5, 0.5, 127.5]]]
    assert blend(fg, a, bg).tolist() == [[[10, 0, 127]]]


def test_blend_accepts_float64_alpha_and_does_not_modify_inputs():
    fg, bg = grey(100, 2, 2), grey(0, 2, 2)
    a = np.full((2, 2), 0.25, np.float64)
    copies = fg.copy(), a.copy(), bg.copy()
    assert blend(fg, a, bg).tolist() == [[[25] * 3] * 2] * 2
    for orig, copy in zip((fg, a, bg), copies):
        np.testing.assert_array_equal(orig, copy)


def test_blend_validation():
    fg, bg, a = grey(1, 2, 2), grey(2, 2, 2), np.zeros((2, 2), np.float32)
    with pytest.raises(SettingsError, match="cover_fit"):
        blend(fg, a, grey(2, 3, 2))
    with pytest.raises(SettingsError, match="uint8"):
        blend(fg.astype(np.float32), a, bg)
    with pytest.raises(SettingsError, match="resize"):
        blend(fg, np.zeros((3, 2), np.float32), bg)
    with pytest.raises(SettingsError):
        blend(fg, np.full((2, 2), 2.0, np.float32), bg)


# ------------------------------------------------------------------------------------ cover_fit


def test_cover_fit_wide_background_keeps_centre_columns():
    bg = np.zeros((2, 8, 3), np.uint8)
    for c in range(8):
        bg[:, c] = (c * 10, c * 20, 255 - c)
    out = cover_fit(bg, (2, 2))
    expected = np.array(
        [
            [[30, 60, 252], [40, 80, 251]],
            [[30, 60, 252], [40, 80, 251]],
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(out, expected)


def test_cover_fit_tall_background_keeps_centre_rows():
    bg = np.zeros((4, 2, 3), np.uint8)
    for r in range(4):
        bg[r] = (r, 100 + r, 200 + r)
    out = cover_fit(bg, (2, 2))
    expected = np.array(
        [
            [[1, 101, 201], [1, 101, 201]],
            [[2, 102, 202], [2, 102, 202]],
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(out, expected)


def test_cover_fit_enlarging_keeps_circle_round():
    bg = np.zeros((50, 100, 3), np.uint8)
    cv2.circle(bg, (50, 25), 15, (255, 255, 255), thickness=-1)
    out = cover_fit(bg, (200, 200))
    assert out.shape == (200, 200, 3) and out.dtype == np.uint8
    ys, xs = np.nonzero(out[..., 0] > 127)
    height = ys.max() - ys.min() + 1
    width = xs.max() - xs.min() + 1
    assert abs(int(width) - int(height)) <= 2
    assert 115 <= height <= 127  # diameter 31 px scaled by 4


def test_cover_fit_shrinking_and_rgba():
    bg = np.full((300, 400, 4), 7, np.uint8)
    out = cover_fit(bg, (30, 30))
    assert out.shape == (30, 30, 4)
    assert (out == 7).all()


def test_cover_fit_same_size_is_copy():
    bg = grey(9, 3, 4)
    out = cover_fit(bg, (3, 4))
    np.testing.assert_array_equal(out, bg)
    assert not np.shares_memory(out, bg)


def test_cover_fit_validation():
    with pytest.raises(SettingsError):
        cover_fit(np.zeros((4, 4), np.uint8), (2, 2))
    with pytest.raises(SettingsError):
        cover_fit(grey(1, 4, 4), (0, 2))


# ---------------------------------------------------------------------------------- parse_color


@pytest.mark.parametrize(
    ("text", "rgb"),
    [
        ("#1e90ff", (30, 144, 255)),
        ("1E90FF", (30, 144, 255)),
        ("#FFFFFF", (255, 255, 255)),
        ("#000", (0, 0, 0)),
        ("#f0A", (255, 0, 170)),
        ("  #00ff00 ", (0, 255, 0)),
    ],
)
def test_parse_color(text, rgb):
    assert parse_color(text) == rgb


@pytest.mark.parametrize("text", ["", "#12345", "red", "#gggggg", "12345678", "fff", "#1e90ff00"])
def test_parse_color_errors_give_example(text):
    with pytest.raises(SettingsError, match="#1e90ff"):
        parse_color(text)


def test_solid_background():
    out = solid_background((1, 2, 3), (2, 3))
    assert out.dtype == np.uint8
    assert out.tolist() == [[[1, 2, 3]] * 3] * 2
    assert solid_background("#fff", (1, 1)).tolist() == [[[255, 255, 255]]]
    with pytest.raises(SettingsError):
        solid_background((0, 0, 256), (1, 1))


# --------------------------------------------------------------------------- blurred_background


@pytest.mark.parametrize(("size", "sigma_pct"), [(40, 5.0), (400, 10.0)])  # 2 px; 40 px (downscaled path)
def test_blurred_background_subject_does_not_bleed(size, sigma_pct):
    img, alpha = red_subject_blue_background(size, size)
    plate = blurred_background(img, alpha, sigma_pct)
    assert plate.shape == img.shape and plate.dtype == np.uint8
    bg_half = plate[:, size // 2 :]
    assert bg_half[..., 0].max() == 0  # no red anywhere in the background
    assert (bg_half[..., 2] == 255).all()
    # ...whereas a plain Gaussian blur smears the red subject into the background next to the edge.
    sigma_px = sigma_pct / 100 * size
    plain = cv2.GaussianBlur(img, (0, 0), sigma_px, borderType=cv2.BORDER_REPLICATE)
    assert plain[:, size // 2, 0].min() > 50


def test_blurred_background_deep_inside_subject_is_mean_background_colour():
    img, alpha = red_subject_blue_background(20, 200)
    plate = blurred_background(img, alpha, 1.0)  # 2 px sigma; column 0 is 50 sigma from the edge
    assert plate[:, 0].tolist() == [[0, 0, 255]] * 20


def test_blurred_background_blurs():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, ::2] = 255  # stripes
    plate = blurred_background(img, np.zeros((40, 40), np.float32), 5.0)
    interior = plate[:, 8:32]  # 4 sigma from the replicated borders (255 on the left, 0 on the right)
    assert interior.min() >= 127 and interior.max() <= 128


def test_blurred_background_all_subject_falls_back_to_plain_blur():
    img = np.full((10, 10, 3), 80, np.uint8)
    out = blurred_background(img, np.ones((10, 10), np.float32), 10.0)
    np.testing.assert_array_equal(out, img)


def test_blurred_background_rejects_bad_sigma():
    img, alpha = red_subject_blue_background(4, 4)
    with pytest.raises(SettingsError):
        blurred_background(img, alpha, 0.0)


@pytest.mark.parametrize(("size", "sigma_pct"), [(40, 5.0), (400, 10.0)])  # disc radius 4 px; 80 px (downscaled)
def test_disc_blurred_background_subject_does_not_bleed(size, sigma_pct):
    img, alpha = red_subject_blue_background(size, size)
    plate = blurred_background(img, alpha, sigma_pct, kernel="disc")
    assert plate.shape == img.shape and plate.dtype == np.uint8
    bg_half = plate[:, size // 2 :]
    assert bg_half[..., 0].max() == 0  # no red anywhere in the background
    assert (bg_half[..., 2] == 255).all()
    assert plate[:, 0].tolist() == [[0, 0, 255]] * size  # deep inside: the mean background colour


def _dot_plates() -> dict[str, np.ndarray]:
    img = np.zeros((100, 100, 3), np.uint8)
    img[50, 50] = 255  # one bright background pixel
    alpha = np.zeros((100, 100), np.float32)
    return {k: blurred_background(img, alpha, 2.0, kernel=k)[..., 0].astype(int) for k in ("gaussian", "disc")}


def test_disc_kernel_turns_a_bright_dot_into_a_flat_disc():
    plates = _dot_plates()  # sigma 2 px -> disc radius 4 px, 255 / (pi * 4^2) ~ 5 per pixel
    yy, xx = np.mgrid[0:100, 0:100]
    r = np.hypot(yy - 50, xx - 50)
    disc, gauss = plates["disc"], plates["gaussian"]
    assert disc[r <= 3].min() == disc[r <= 3].max() == 5  # flat inside
    assert (disc[r >= 4.5] == 0).all()  # nothing beyond the rim: a sharp fall
    assert disc.sum() == pytest.approx(255, rel=0.1)  # the dot's light is kept
    # The Gaussian instead peaks in the middle and fades step by step.
    profile = gauss[50, 50:55].tolist()
    assert all(outer < inner for inner, outer in pairwise(profile))
    assert gauss[50, 50] >= 3 * gauss[50, 53]


def test_disc_kernel_blurs_as_much_as_the_gaussian():
    # A flat disc of radius 2*sigma has per-axis variance sigma^2, like the Gaussian it replaces.
    from core.composite import _disc_kernel

    for sigma in (1.5, 3.0, 6.0):
        k = _disc_kernel(2 * sigma).astype(np.float64)
        assert k.sum() == pytest.approx(1.0, abs=1e-6)
        half = k.shape[0] // 2
        x = np.arange(-half, half + 1)
        assert (k * x[None, :] ** 2).sum() == pytest.approx(sigma**2, rel=0.05)
        assert (k * x[:, None] ** 2).sum() == pytest.approx(sigma**2, rel=0.05)


def test_disc_blurs_stripes_and_keeps_a_flat_image():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, ::2] = 255
    plate = blurred_background(img, np.zeros((40, 40), np.float32), 5.0, "disc")
    interior = plate[:, 8:32]
    assert interior.min() >= 120 and interior.max() <= 135
    flat = np.full((10, 10, 3), 80, np.uint8)
    np.testing.assert_array_equal(blurred_background(flat, np.ones((10, 10), np.float32), 10.0, "disc"), flat)


@pytest.mark.parametrize("kernel", ["box", "Gaussian", "", None, 1])
def test_blurred_background_rejects_unknown_kernel(kernel):
    img, alpha = red_subject_blue_background(4, 4)
    with pytest.raises(SettingsError, match="disc"):
        blurred_background(img, alpha, 2.0, kernel)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ Background


def test_background_parse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "beach.jpg").write_bytes(b"only its existence matters here")
    loaded = []

    def load(path: str) -> np.ndarray:
        loaded.append(path)
        return grey(5, 2, 2)

    assert Background.parse("#102030", load) == Background("color", color=(16, 32, 48))
    assert Background.parse("102030", load).color == (16, 32, 48)
    assert Background.parse("#fff", load).color == (255, 255, 255)
    assert Background.parse("blur", load).kind == "blur"
    assert Background.parse("blur", load).blur_kernel == "gaussian"
    assert Background.parse("blur:disc", load) == Background("blur", blur_kernel="disc")
    assert Background.parse(" Blur:Gaussian ", load) == Background("blur")
    assert Background.parse("Transparent", load).kind == "transparent"
    bg = Background.parse("beach.jpg", load)
    assert bg.kind == "image" and loaded == ["beach.jpg"]
    np.testing.assert_array_equal(bg.image, grey(5, 2, 2))
    with pytest.raises(SettingsError, match="blur"):
        Background.parse("   ", load)
    assert Background.parse("red", load).color == (255, 0, 0)  # CSS colour names
    assert Background.parse("Navy", load).color == (0, 0, 128)
    with pytest.raises(SettingsError, match=r"'reddish' is not a colour or an image file\. Use #RRGGBB"):
        Background.parse("reddish", load)
    assert loaded == ["beach.jpg"]


def test_background_validation():
    with pytest.raises(SettingsError, match="color"):
        Background("gradient")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="image"):
        Background("image")
    with pytest.raises(SettingsError):
        Background("image", image=np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(SettingsError):
        Background("color", color=(0, 0, 300))
    with pytest.raises(SettingsError):
        Background("blur", blur_sigma_pct=0.0)
    with pytest.raises(SettingsError):
        Background.parse("x.png", lambda p: np.zeros((2, 2), np.uint8))
    with pytest.raises(SettingsError, match="disc"):
        Background("blur", blur_kernel="box")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="disc"):
        Background.parse("blur:box", lambda p: np.zeros((2, 2, 3), np.uint8))
    assert Background("blur", blur_kernel="disc") != Background("blur")


def test_background_image_is_a_frozen_copy():
    src = grey(1, 2, 2)
    bg = Background("image", image=src)
    src[:] = 99
    assert (bg.image == 1).all()
    assert not bg.image.flags.writeable
    assert bg == Background("image", image=grey(1, 2, 2))
    assert hash(bg) == hash(Background("image", image=grey(1, 2, 2)))


# ----------------------------------------------------------------------- cutout, composite, mask


def test_cutout_rgba_keeps_colour_channels():
    img = np.array([[[1, 2, 3], [250, 251, 252]]], np.uint8)
    a = np.array([[0.0, 0.5]], np.float32)
    out = cutout_rgba(img, a)
    assert out.tolist() == [[[1, 2, 3, 0], [250, 251, 252, 128]]]


def test_mask_image():
    a = np.array([[0.0, 0.25, 0.5, 1.0, 1 / 255]], np.float32)
    out = mask_image(a)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 64, 128, 255, 1]]


def test_mask_image_rounds_exactly_like_numpy_half_steps_included():
    """OpenCV does the rounding: it must equal np.rint(a * 255) on every value, the .5 steps (half to even) too."""
    rng = np.random.default_rng(3)
    halves = ((np.arange(510, dtype=np.float32) + 0.5) / np.float32(255)).clip(0, 1)
    a = np.concatenate([rng.random(200_000, dtype=np.float32), halves, np.nextafter(halves, np.float32(0))])
    a = np.pad(a, (0, (-a.size) % 500)).reshape(-1, 500)
    assert np.array_equal(mask_image(a), np.rint(a * np.float32(255.0)).astype(np.uint8))


# --------------------------------------------------------------------------------- checkerboard


def test_checkerboard_4x4_square_2():
    out = checkerboard((4, 4), square=2)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    L, D = 255, 204
    expected = np.array(
        [
            [L, L, D, D],
            [L, L, D, D],
            [D, D, L, L],
            [D, D, L, L],
        ],
        np.uint8,
    )
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], expected)


def test_over_checkerboard():
    rgba = np.array([[[10, 20, 30, 255], [10, 20, 30, 0]], [[0, 0, 0, 0], [0, 0, 0, 255]]], np.uint8)
    out = over_checkerboard(rgba, square=1)
    assert out.tolist() == [[[10, 20, 30], [204, 204, 204]], [[204, 204, 204], [0, 0, 0]]]


def test_blend_in_row_bands_equals_the_whole_image_blend(monkeypatch):
    import core.composite as composite_module

    rng = np.random.default_rng(3)
    fg = rng.integers(0, 256, (13, 5, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (13, 5, 3), dtype=np.uint8)
    alpha = rng.random((13, 5), dtype=np.float32)
    whole = composite_module.to_uint8(composite_module.blend_float(fg, alpha, bg))
    monkeypatch.setattr(composite_module, "_BLEND_BAND_PIXELS", 7)  # bands of one row
    np.testing.assert_array_equal(composite_module.blend(fg, alpha, bg), whole)

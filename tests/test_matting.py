"""Matting in the uncertain band: the Laplacian is Levin's, the solve recovers known soft edges, only the band is touched."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from core.errors import SettingsError
from core.matting import band_tiles, matte_band, matting_laplacian, trimap_from_alpha
from core.refine import RefineSettings, matte_edges, refine

# ------------------------------------------------------------------------------------ scenes


def _ramp_scene(h: int = 160, w: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, true alpha, rough mask): an 8-pixel alpha ramp along a wavy edge between two flat colours
    (plus noise), and a straight hard mask 3 px off it on average."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = w / 2 + 6 * np.sin(yy / 9)
    truth = np.clip((xx - edge) / 8 + 0.5, 0, 1).astype(np.float32)
    fg, bg = np.array([230, 190, 60], np.float32), np.array([30, 70, 150], np.float32)
    rng = np.random.default_rng(seed)
    mix = truth[..., None] * fg + (1 - truth[..., None]) * bg + rng.normal(0, 2, (h, w, 3))
    rough = (xx >= w / 2 + 3).astype(np.float32)
    return np.clip(mix, 0, 255).astype(np.uint8), truth, rough


def _strands_scene(h: int = 300, w: int = 400, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(photo, true alpha, rough mask, strands): a body with one-pixel strands standing off its edge over a
    smoothly varying background; the rough mask is the body's blurred edge, without the strands."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = (yy >= h / 2).astype(np.float32)
    strands = np.zeros((h, w), np.float32)
    for x in range(10, w - 10, 9):
        tip = (x + rng.uniform(-15, 15), h / 2 - rng.uniform(10, 25))
        cv2.line(strands, (x * 16, int(h / 2 + 4) * 16), (int(tip[0] * 16), int(tip[1] * 16)), 1.0, 1, cv2.LINE_AA, shift=4)
    truth = np.maximum(body, strands)
    fg = np.array([200, 150, 90], np.float32) + rng.normal(0, 3, (h, w, 3))
    bg = np.stack([40 + 60 * xx / w, 90 + 0 * xx, 160 - 40 * yy / h], -1)
    mix = truth[..., None] * fg + (1 - truth[..., None]) * bg + rng.normal(0, 2, (h, w, 3))
    rough = cv2.GaussianBlur(body, (0, 0), 2.0)
    return np.clip(mix, 0, 255).astype(np.uint8), truth, rough, strands


def _dense_levin_laplacian(image: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Levin et al.'s matting Laplacian as a dense matrix, windows clipped at the border, / (2r+1)²."""
    h, w = image.shape[:2]
    colours = image.reshape(-1, 3).astype(np.float64) / 255
    lap = np.zeros((h * w, h * w))
    for y in range(h):
        for x in range(w):
            idx = [yy * w + xx for yy in range(max(0, y - radius), min(h, y + radius + 1))
                   for xx in range(max(0, x - radius), min(w, x + radius + 1))]
            win = colours[idx] - colours[idx].mean(0)
            cov = win.T @ win / len(idx) + eps * np.eye(3)
            lap[np.ix_(idx, idx)] += np.eye(len(idx)) - (1 + win @ np.linalg.inv(cov) @ win.T) / len(idx)
    return lap / (2 * radius + 1) ** 2


# -------------------------------------------------------------------------------- the Laplacian


def test_matting_laplacian_is_levins_dense_laplacian():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    expected = _dense_levin_laplacian(image, 1, 1e-3)
    columns = []
    for j in range(7 * 9):
        unit = np.zeros(7 * 9, np.float32)
        unit[j] = 1
        columns.append(matting_laplacian(image, unit.reshape(7, 9), 1, 1e-3).ravel())
    got = np.array(columns).T
    np.testing.assert_allclose(got, expected, atol=2e-6)
    np.testing.assert_allclose(got, got.T, atol=1e-6)  # symmetric, as conjugate gradient needs
    # constants are free (in the null space), so a flat region follows its constraints
    np.testing.assert_allclose(matting_laplacian(image, np.full((7, 9), 0.3, np.float32), 1, 1e-3), 0, atol=1e-6)


# ------------------------------------------------------------------------------------- trimap


def test_trimap_marks_the_band_around_the_contour_and_soft_pixels():
    alpha = np.zeros((20, 60), np.float32)
    alpha[:, 30:] = 1.0  # the contour lies between columns 29 and 30
    alpha[5, 5] = 0.3  # a soft pixel far from the edge
    alpha[6, 5] = 0.01  # practically transparent: known
    trimap = trimap_from_alpha(alpha, 3)
    assert trimap.dtype == np.uint8 and trimap.shape == alpha.shape
    expected = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
    expected[:, 26:34] = 128  # within 3 px of the pixels on either side of the contour
    expected[5, 5] = 128
    np.testing.assert_array_equal(trimap, expected)
    only_soft = trimap_from_alpha(alpha, 0)
    assert (only_soft == 128).sum() == 1 and only_soft[5, 5] == 128


def test_band_tiles_are_the_grid_cells_holding_unknown_pixels():
    trimap = np.zeros((50, 70), np.uint8)
    trimap[3, 3] = 128
    trimap[45, 65] = 128  # in the partial cell at the bottom right
    assert band_tiles(trimap, 16).tolist() == [[0, 0], [2, 4]]
    assert band_tiles(np.full((10, 10), 255, np.uint8), 16).shape == (0, 2)


# ------------------------------------------------------------------------------------- solving


@pytest.mark.parametrize("solve_scale", [None, 1])
def test_matting_recovers_a_soft_ramp_and_keeps_known_pixels(solve_scale):
    image, truth, rough = _ramp_scene()
    band = 12.0
    unknown = trimap_from_alpha(rough, band) == 128
    info: dict = {}
    solved = matte_band(image, rough, band, solve_scale=solve_scale, info=info)
    assert solved.dtype == np.float32 and solved.shape == rough.shape
    assert 0.0 <= solved.min() and solved.max() <= 1.0
    rough_error = np.abs(rough - truth)[unknown].mean()  # 0.17
    error = np.abs(solved - truth)[unknown]
    assert rough_error > 0.15
    assert error.mean() < 0.02 and error.max() < 0.1  # measured: 0.004 / 0.04 (auto scale), 0.014 / 0.06 (full size)
    np.testing.assert_array_equal(solved[~unknown], rough[~unknown])  # known pixels keep their value exactly
    assert info["solve_scale"] == (4 if solve_scale is None else 1) and info["iterations"] > 0
    assert info["residual"] <= 1e-3


def test_reduced_resolution_solve_keeps_one_pixel_strands():
    image, truth, rough, strands = _strands_scene()
    band = 16.0
    unknown = trimap_from_alpha(rough, band) == 128
    on_strands = (strands > 0.5) & unknown
    info: dict = {}
    coarse = matte_band(image, rough, band, info=info)  # solved at 1/5 size, detail back from the photo's colours
    full = matte_band(image, rough, band, solve_scale=1)
    assert info["solve_scale"] == 5
    rough_error = np.abs(rough - truth)[on_strands].mean()  # 0.75: the mask has no strands at all
    coarse_error = np.abs(coarse - truth)[on_strands].mean()  # 0.18
    full_error = np.abs(full - truth)[on_strands].mean()  # 0.34
    assert coarse_error < 0.3 * rough_error
    assert coarse_error <= full_error  # the reduced-resolution solve loses nothing here (it gains)
    assert np.abs(coarse - truth)[unknown].mean() < 0.3 * np.abs(rough - truth)[unknown].mean()


def test_only_tiles_touching_the_band_are_solved():
    def disc(size: int) -> tuple[np.ndarray, np.ndarray]:
        yy, xx = np.mgrid[0:size, 0:size]
        alpha = (((yy - 100) ** 2 + (xx - 100) ** 2) <= 30**2).astype(np.float32)
        image = np.where(alpha[..., None] > 0, np.uint8(200), np.uint8(40)).repeat(3, axis=2)
        return image, alpha

    infos = []
    for size in (200, 2000):
        image, alpha = disc(size)
        info: dict = {}
        out = matte_band(image, alpha, 6.0, info=info)
        infos.append(info)
        unknown = trimap_from_alpha(alpha, 6.0) == 128
        np.testing.assert_array_equal(out[~unknown], alpha[~unknown])
    small, big = infos
    # the same band gives the same tiles, whatever the size of the photo around it
    assert small["tiles"] == big["tiles"] and small["tile_px"] == big["tile_px"] and small["unknown_px"] == big["unknown_px"]
    assert big["tiles"] * big["tile_px"] ** 2 < 0.01 * 2000 * 2000
    trimap = trimap_from_alpha(disc(2000)[1], 6.0)
    assert big["tiles"] == len(band_tiles(trimap, big["tile_px"]))


@pytest.mark.parametrize("solve_scale, radius", [(1, 1), (3, 1), (2, 2)])
def test_the_tiled_solve_has_no_seams(solve_scale, radius, monkeypatch):
    """Many small tiles give the one-tile (whole photo) answer: the halos carry everything a core and its
    one-pixel ring of upsampling coefficients depend on (the upsampling here one tile at a time)."""
    import core.matting

    monkeypatch.setattr(core.matting, "UPSAMPLE_CHUNK_PX", 1)
    image, _, rough, _ = _strands_scene(h=120, w=150)
    band = 4.0 * solve_scale
    common = dict(solve_scale=solve_scale, radius=radius, tolerance=1e-7, iterations=3000)
    tiled_info: dict = {}
    tiled = matte_band(image, rough, band, tile_px=8, info=tiled_info, **common)
    whole = matte_band(image, rough, band, tile_px=150, **common)
    assert tiled_info["tiles"] > 10
    np.testing.assert_allclose(tiled, whole, atol=2e-4)


def test_nothing_unknown_and_tiny_or_border_cases():
    image = np.full((40, 50, 3), 128, np.uint8)
    empty = np.zeros((40, 50), np.float32)
    np.testing.assert_array_equal(matte_band(image, empty, 5.0), empty)
    border = np.zeros((40, 50), np.float32)
    border[:, :20] = 1.0  # a subject cut by the frame on three sides
    image[:, :20] = 220
    image[:, 20:] = 60
    out = matte_band(image, border, 4.0)
    assert np.isfinite(out).all() and np.abs(out - border).max() < 0.05
    # a band that covers the whole photo leaves nothing known to solve from: the mask stays as it is
    np.testing.assert_array_equal(matte_band(image, border, 30.0), border)
    tiny = matte_band(np.zeros((3, 3, 3), np.uint8), np.eye(3, dtype=np.float32), 2.0)
    assert tiny.shape == (3, 3) and np.isfinite(tiny).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(image=np.zeros((20, 30), np.uint8)), "uint8 HxWx3"),
        (dict(image=np.zeros((20, 30, 3), np.float32)), "uint8 HxWx3"),
        (dict(image=np.zeros((21, 30, 3), np.uint8)), "mask's size"),
        (dict(alpha=np.zeros((20, 30), np.uint8)), "float32"),
        (dict(alpha=np.full((20, 30), 2.0, np.float32)), r"\[0, 1\]"),
        (dict(band_px=-1.0), "band_px"),
        (dict(band_px=float("nan")), "band_px"),
        (dict(band_px=True), "band_px"),
        (dict(smoothness=0.0), "smoothness"),
        (dict(prior=0.0), "prior"),
        (dict(solve_scale=0), "solve_scale"),
        (dict(radius=1.5), "radius"),
        (dict(trimap=np.zeros((20, 31), np.uint8)), "trimap"),
    ],
)
def test_invalid_input_raises_settings_error(kwargs, message):
    args = dict(image=np.zeros((20, 30, 3), np.uint8), alpha=np.zeros((20, 30), np.float32), band_px=4.0)
    args.update(kwargs)
    with pytest.raises(SettingsError, match=message):
        matte_band(args.pop("image"), args.pop("alpha"), args.pop("band_px"), **args)


def test_trimap_rejects_bad_input():
    with pytest.raises(SettingsError):
        trimap_from_alpha(np.zeros((5, 5), np.uint8), 2)
    with pytest.raises(SettingsError, match="band_px"):
        trimap_from_alpha(np.zeros((5, 5), np.float32), -2)


# ---------------------------------------------------------------------------- in the refinement


def test_refine_runs_matting_last_and_only_when_switched_on():
    image, truth, rough = _ramp_scene()
    assert RefineSettings().matting is True  # on by default: the benchmark's best boundary F
    off = dataclasses.replace(RefineSettings(), matting=False)
    base = refine(rough, off, image)
    # with the switch off its sliders change nothing: refine is exactly what it was
    tuned_off = dataclasses.replace(off, matting_band_pct=5.0, matting_smoothness=0.01)
    np.testing.assert_array_equal(refine(rough, tuned_off, image), base)
    on = dataclasses.replace(off, matting=True)
    matted = refine(rough, on, image)
    np.testing.assert_array_equal(matted, matte_edges(base, image, on.matting_band_pct, on.matting_smoothness))  # last step
    assert np.abs(matted - truth).mean() < 0.8 * np.abs(base - truth).mean()  # measured: 0.009 vs 0.015
    np.testing.assert_array_equal(refine(rough, on), refine(rough, off))  # no photo: skipped, like edge snapping
    with pytest.raises(SettingsError, match="needs the photo"):
        matte_edges(rough, None, 1.0, 1e-4)


def test_above_the_working_limit_matting_runs_on_the_full_size_photo(monkeypatch):
    import core.limits as limits
    import core.pipeline as pipeline
    import core.refine as refine_module

    image, _, rough = _ramp_scene(200, 300)
    prediction = cv2.resize(rough, (320, 320), interpolation=cv2.INTER_AREA)
    settings = dataclasses.replace(RefineSettings(), matting=True)
    calls = []
    original = refine_module.matte_band
    monkeypatch.setattr(refine_module, "matte_band", lambda img, a, *rest, **kw: calls.append((a.shape, img.shape)) or original(img, a, *rest, **kw))
    monkeypatch.setattr(limits, "_current", limits.PixelLimits(max_pixels=10**8, working_pixels=15_000))
    _, refined = pipeline.alpha_from_prediction(prediction, (200, 300), settings, image=image)
    assert calls == [((200, 300), (200, 300, 3))]  # once, at full size (not at the 100x150 working size)
    _, plain = pipeline.alpha_from_prediction(prediction, (200, 300), dataclasses.replace(settings, matting=False), image=image)
    np.testing.assert_array_equal(refined, matte_edges(plain, image, settings.matting_band_pct, settings.matting_smoothness))

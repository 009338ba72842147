"""The timed pipeline: stage timings, output kinds, and the file's own transparency as a constraint."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.composite import Background
from core.pipeline import STAGES, StageTimer, alpha_from_prediction, process, render
from core.refine import FULL_RESOLUTION_STEPS, STEPS, WORKING_STEPS, RefineSettings


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_stage_timer_accumulates_per_stage():
    timer = StageTimer()
    with timer.stage("a"):
        pass
    with timer.stage("a"):
        pass
    with timer.stage("b"):
        pass
    assert list(timer.seconds) == ["a", "b"] and timer.total == pytest.approx(sum(timer.seconds.values()))


def test_process_times_every_stage_and_encodes(segmenter, astronaut):
    result = process(_png(astronaut), segmenter, kind="composite", background=Background(kind="color", color=(0, 0, 255)))
    assert list(result.timer.seconds) == list(STAGES)
    decoded = Image.open(io.BytesIO(result.encoded))
    assert decoded.format == "PNG" and decoded.size == (512, 512) and decoded.mode == "RGB"
    assert tuple(result.output[5, 5]) == (0, 0, 255)  # background corner replaced
    assert result.alpha.shape == result.raw_alpha.shape == (512, 512)


def test_render_kinds():
    image = np.full((2, 2, 3), 200, np.uint8)
    alpha = np.array([[0.0, 1.0], [0.5, 1.0]], np.float32)
    assert render(image, alpha, "mask").tolist() == [[0, 255], [128, 255]]
    assert render(image, alpha, "cutout").shape == (2, 2, 4)
    composite = render(image, alpha, "composite", Background(kind="color", color=(255, 255, 255)))
    assert composite[1, 0].tolist() == [227, 227, 227]  # straight alpha: 200*0.5 + 255*0.5 = 227.5 -> 227
    with pytest.raises(ValueError, match="mask, cutout or composite"):
        render(image, alpha, "poster")


def test_the_files_own_transparency_caps_the_alpha():
    prediction = np.ones((4, 4), np.float32)  # the network says: all subject
    source = np.zeros((8, 8), np.float32)
    source[:, 4:] = 1.0  # but the file's left half was already cut away
    raw, refined = alpha_from_prediction(prediction, (8, 8), None, source)
    assert raw.min() == 1.0
    assert refined[:, :4].max() == 0.0 and refined[:, 4:].min() == 1.0


def test_transparent_png_input_stays_cut_where_it_was_cut(segmenter, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:, :256, 3] = 0  # left half transparent
    result = process(_png(rgba), segmenter, kind="cutout", settings=RefineSettings())
    assert result.output[:, :256, 3].max() == 0
    assert result.output[420:500, 320:420, 3].min() > 200  # helmet on the right half still kept


def test_working_shape_keeps_aspect_and_pixel_budget():
    from core.pipeline import working_shape

    assert working_shape((600, 800), 1_000_000) == (600, 800)
    assert working_shape((6000, 8000), 12_000_000) == (3000, 4000)
    assert working_shape((10, 100_000), 1000) == (1, 1000)


def test_huge_photos_are_refined_at_the_working_resolution_and_returned_full_size(monkeypatch):
    import core.limits as limits
    import core.pipeline as pipeline

    yy, xx = np.mgrid[:320, :320]
    prediction = ((yy - 160) ** 2 + (xx - 160) ** 2 < 100**2).astype(np.float32)
    settings = RefineSettings()  # no photo given: edge snapping is skipped, a mask-only check
    direct = alpha_from_prediction(prediction, (400, 600), settings)[1]
    shapes = []
    original_refine = pipeline.refine
    monkeypatch.setattr(pipeline, "refine", lambda alpha, s, image=None, steps=STEPS: shapes.append(
        (alpha.shape, tuple(step.name for step in steps))) or original_refine(alpha, s, image, steps))
    monkeypatch.setattr(limits, "_current", limits.PixelLimits(max_pixels=10**8, working_pixels=60_000))
    raw, refined = pipeline.alpha_from_prediction(prediction, (400, 600), settings)
    # the working steps at a quarter of the pixels, then the full-resolution ones (skipped without a photo) at full size
    assert shapes == [((200, 300), tuple(step.name for step in WORKING_STEPS)),
                      ((400, 600), tuple(step.name for step in FULL_RESOLUTION_STEPS))]
    assert raw.shape == refined.shape == (400, 600)
    assert np.abs(refined - direct).mean() < 0.01  # and the result is practically the same

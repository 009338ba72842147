"""The whole pipeline as timed stages: decode → preprocess → inference → resize → refine → composite → encode.

The command line, the dashboard and the benchmarks all go through these functions, so the timings
they report name the same stages. A photo's own transparency (PNG/WebP with alpha) is respected as
a constraint: the final alpha is never higher than the file's alpha, so pixels the user already cut
away stay cut away.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from core.combine import CombinedSegmenter, disagreement
from core.composite import Background
from core.compose import OutputKind, OutputSettings, compose, encode_picture
from core.finishing import FinishSettings
from core.framing import FrameSettings
from core.imageio import DecodedImage, decode_image
from core.limits import pixel_limits
from core.refine import FULL_RESOLUTION_STEPS, WORKING_STEPS, RefineSettings, refine
from core.segmentation import InferenceSettings, Segmenter, resize_prediction
from core.shadow import ShadowSettings
from core.touchup import Edit, apply_edits
from core.triage import needs_a_look

STAGES = ("decode", "preprocess", "inference", "resize", "refine", "composite", "encode")


def working_shape(shape: tuple[int, int], working_pixels: int | None = None) -> tuple[int, int]:
    """(H, W) itself, or the same aspect scaled down to about `working_pixels` (default: core.limits' soft limit)."""
    budget = pixel_limits().working_pixels if working_pixels is None else working_pixels
    height, width = shape
    if height * width <= budget:
        return height, width
    scale = (budget / (height * width)) ** 0.5
    small_height, small_width = max(1, round(height * scale)), max(1, round(width * scale))
    if small_height == 1:  # extreme strips: a side cannot shrink below one pixel
        small_width = min(width, budget)
    elif small_width == 1:
        small_height = min(height, budget)
    return small_height, small_width


@dataclass
class StageTimer:
    """Wall-clock seconds per stage, in the order the stages ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def network_output(
    image: np.ndarray, segmenter: Segmenter | CombinedSegmenter, timer: StageTimer | None = None,
    inference: InferenceSettings | None = None,
) -> tuple[np.ndarray, float | None]:
    """image: uint8 HxWx3 → (the network output, float32 h×w (network resolution) in [0, 1]; the disagreement of
    its mirrored views, `core.combine.disagreement`, None without a mirrored pass).

    `inference` (default: the model's own) sets the border padding, the mirrored pass and the input size. A
    combination reports its portrait network's disagreement, the one its Decision reads.
    """
    timer = timer or StageTimer()
    with timer.stage("preprocess"):
        batch = segmenter.prepare(image, inference)
    with timer.stage("inference"):
        if isinstance(segmenter, CombinedSegmenter):
            output = segmenter.run(batch, image.shape[:2])
            return output.prediction, output.decision.disagreement
        views = segmenter.infer_views(batch, image.shape[:2], inference)
        return segmenter.join_views(views), (disagreement(*views)[0] if len(views) == 2 else None)


def predict(
    image: np.ndarray, segmenter: Segmenter | CombinedSegmenter, timer: StageTimer | None = None,
    inference: InferenceSettings | None = None,
) -> np.ndarray:
    """image: uint8 HxWx3 → float32 h×w (network resolution) in [0, 1]: the network output (cacheable, small)."""
    return network_output(image, segmenter, timer, inference)[0]


def alpha_from_prediction(
    prediction: np.ndarray,
    shape: tuple[int, int],
    settings: RefineSettings | None,
    source_alpha: np.ndarray | None = None,
    timer: StageTimer | None = None,
    image: np.ndarray | None = None,
    edits: Sequence[Edit] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """prediction: float32 S×S → (raw alpha, refined alpha), both float32 HxW in [0, 1].

    `settings=None` skips refinement; `source_alpha` (the file's own transparency) caps the result;
    `image` (uint8 HxWx3, the photo) is needed by the steps that read it; `edits` (core.touchup) are the
    user's touch-up strokes, applied after the refinement at the output's size.
    Above the working limit (core.limits) the refinement runs at a working resolution and is scaled back up: the mask
    comes from a 320×320 prediction, so this loses no detail, and keeps huge photos fast and small. The steps that
    take their detail from the photo (`full_resolution` in core.refine.STEPS) then run on the full-size photo.
    """
    timer = timer or StageTimer()
    with timer.stage("resize"):
        raw = resize_prediction(prediction, shape)
    with timer.stage("refine"):
        if settings is None:
            refined = raw
        elif working_shape(shape) == tuple(shape):
            refined = refine(raw, settings, image)
        else:
            small = working_shape(shape)
            guide = cv2.resize(image, small[::-1], interpolation=cv2.INTER_AREA) if image is not None else None
            at_working = refine(resize_prediction(prediction, small), settings, guide, WORKING_STEPS)
            refined = refine(resize_prediction(at_working, shape), settings, image, FULL_RESOLUTION_STEPS)
        refined = final_alpha(refined, raw, edits, source_alpha, image)
    return raw, refined


def final_alpha(
    refined: np.ndarray, raw: np.ndarray, edits: Sequence[Edit] = (), source_alpha: np.ndarray | None = None,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """The refined alpha (float32 HxW in [0, 1]) with the user's touch-up edits, capped by the file's own alpha.

    `raw` is the network output at the same size (a restored region comes from it); `image` the photo there,
    uint8 HxWx3 (strokes snap to its edges). Pages that cache the refined alpha finish it here, so every
    output applies the same steps in the same order.
    """
    if edits:
        refined = apply_edits(refined, edits, image, raw)
    if source_alpha is not None:
        refined = np.minimum(refined, source_alpha)
    return refined


def render(
    image: np.ndarray,
    alpha: np.ndarray,
    kind: OutputKind,
    background: Background | None = None,
    finishing: FinishSettings | None = None,
) -> np.ndarray:
    """The output picture at the photo's own framing: mask uint8 HxW, cutout uint8 HxWx4, or composite uint8 HxWx3
    (HxWx4 if transparent); `finishing` (default FinishSettings()) sets the edge colour steps (core.compose.compose
    with no framing or shadow)."""
    return compose(image, alpha, kind, background, finishing).pixels


@dataclass
class ProcessResult:
    """Everything one photo produced, with per-stage timings."""

    decoded: DecodedImage
    raw_alpha: np.ndarray
    alpha: np.ndarray
    output: np.ndarray
    encoded: bytes
    timer: StageTimer
    needs_a_look: float  # core.triage: in [0, 1], higher = more likely a bad cut
    notes: tuple[str, ...] = ()  # what composing it noted (e.g. an ID photo's head was enlarged)


def process(
    source: bytes | str | DecodedImage,
    segmenter: Segmenter | CombinedSegmenter,
    *,
    kind: OutputKind = "composite",
    settings: RefineSettings | None | Literal["model"] = "model",
    background: Background | None = None,
    fmt: str = "png",
    finishing: FinishSettings | None = None,
    inference: InferenceSettings | None = None,
    timer: StageTimer | None = None,
    edits: Sequence[Edit] = (),
    name: str | None = None,
    frame: FrameSettings | None = None,
    shadow: ShadowSettings | None = None,
    output: OutputSettings | None = None,
) -> ProcessResult:
    """File bytes or path (or a photo already decoded, e.g. read ahead by a batch) in → encoded output bytes out,
    every stage timed.

    settings: "model" (the refinement measured best for the segmenter's model), a RefineSettings, or None
    (the raw mask, no refinement); inference None: the model's own network input; `timer` (default: a new
    StageTimer) receives the stages' times, so a caller can time them its own way; `edits`: touch-up edits
    (core.touchup); `name`: what error messages call the photo (default: its path); `frame`, `shadow`
    (core.compose) reframe the result and cast a shadow; `output` sets the encoder's quality. Raises
    PortraitStudioError on bad input.
    """
    timer = StageTimer() if timer is None else timer
    if isinstance(source, DecodedImage):
        decoded = source
    else:
        with timer.stage("decode"):
            decoded = decode_image(source, name=name)
    if settings == "model":
        settings = RefineSettings.for_model(segmenter.spec)
    prediction, views_disagree = network_output(decoded.rgb, segmenter, timer, inference)
    raw, alpha = alpha_from_prediction(
        prediction, decoded.rgb.shape[:2], settings, decoded.alpha, timer, decoded.rgb, edits
    )
    with timer.stage("composite"):
        picture = compose(decoded.rgb, alpha, kind, background, finishing, frame, shadow, decoded.dpi)
    with timer.stage("encode"):
        encoded = encode_picture(picture, fmt, output)
    return ProcessResult(
        decoded, raw, alpha, picture.pixels, encoded, timer, needs_a_look(prediction, views_disagree), picture.notes
    )

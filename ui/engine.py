"""The one shared engine: the model loaded once per process, and bounded caches keyed by upload digest.

Decoded photos and raw network outputs are cached by the SHA-256 of the uploaded bytes (Streamlit's
own hashing samples big arrays), so switching pages or moving a refinement slider never runs the
network again. The cache is shared by every browser session and bounded in bytes (`cache_budget_bytes`).
"""

from __future__ import annotations

import gc
import hashlib
import math
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Generic, TypeVar

import numpy as np
import streamlit as st

from core.compose import OutputSettings, compose, encode_picture
from core.composite import Background
from core.finishing import FinishSettings
from core.framing import FrameSettings
from core.imageio import DecodedImage, decode_image
from core.memory import keep_freed_memory_for_reuse, release_free_memory
from core.inspection import PREVIEW_SIDE, preview_copy, resize_alpha
from core.pipeline import OutputKind, StageTimer, alpha_from_prediction, final_alpha, predict
from core.refine import RefineSettings
from core.combine import CombinedOutput, CombinedSegmenter, Decision
from core.segmentation import InferenceSettings, Segmenter, get_segmenter
from core.shadow import ShadowSettings
from core.touchup import Edit

K = TypeVar("K")
V = TypeVar("V")
#: Bytes all cached arrays may take together, shared by every session: the environment variable
#: PORTRAIT_STUDIO_CACHE_MB (default 1500) sets it. One entry may take at most a quarter of it: a 95 MP photo's
#: decoded copy (285 MB) is kept, but full-resolution (raw, refined) alpha pairs above ~45 MP (8 bytes per
#: pixel) are recomputed from the cached network output when needed instead of pushing everything else out.
DEFAULT_CACHE_MB = 1500.0


def cache_budget_bytes() -> int:
    """The byte budget from PORTRAIT_STUDIO_CACHE_MB (a positive number of megabytes), else the default."""
    text = os.environ.get("PORTRAIT_STUDIO_CACHE_MB", "")
    try:
        megabytes = float(text) if text else DEFAULT_CACHE_MB
    except ValueError:
        megabytes = DEFAULT_CACHE_MB
    return int(max(megabytes, 1.0) * 2**20) if math.isfinite(megabytes) else int(DEFAULT_CACHE_MB * 2**20)


def nbytes_of(value: object) -> int:
    """Bytes held by the arrays (and byte strings) in `value`, looking into tuples, lists, dicts and dataclasses."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, (tuple, list)):
        return sum(nbytes_of(item) for item in value)
    if isinstance(value, dict):
        return sum(nbytes_of(item) for item in value.values())
    if is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes_of(getattr(value, f.name)) for f in fields(value))
    return 0


@dataclass(frozen=True)
class Upload:
    """Bytes of an uploaded (or sample) file with its name and SHA-256 digest (the cache key)."""

    name: str
    data: bytes
    digest: str

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Upload:
        return cls(name=name, data=data, digest=hashlib.sha256(data).hexdigest())


class LRUCache(Generic[K, V]):
    """A thread-safe least-recently-used cache bounded by the bytes its values hold (`nbytes_of`).

    Inserting evicts the least recently used entries until the total fits `max_bytes`; a value larger than
    `max_bytes * max_entry_share` is returned but not kept.
    """

    def __init__(self, max_bytes: int, max_entry_share: float = 0.25) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = int(max_bytes * max_entry_share)
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.total_bytes = 0
        self.hits = self.misses = 0
        self.last_used = time.monotonic()  # every script run that works on a photo asks the cache first

    def get_or_create(self, key: K, create: Callable[[], V]) -> tuple[V, bool]:
        """(value, True if it was computed now)."""
        self.last_used = time.monotonic()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0], False
        value = create()  # outside the lock: other sessions keep going meanwhile
        size = nbytes_of(value)
        with self._lock:
            self.misses += 1
            if size > self.max_entry_bytes:
                return value, True
            if key in self._items:  # another session computed it meanwhile
                self.total_bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self.total_bytes += size
            while self.total_bytes > self.max_bytes:
                self.total_bytes -= self._items.popitem(last=False)[1][1]
        return value, True

    def __len__(self) -> int:
        return len(self._items)


@st.cache_resource(show_spinner=False)
def shared_cache() -> LRUCache[tuple, object]:
    """The process-wide cache, shared by all sessions; keys start with what they hold ("decoded", "prediction",
    "preview", "preview_alphas", "refined", "alphas"). Starts the memory trimmer with it: whatever fills the cache also frees big arrays."""
    cache = LRUCache(cache_budget_bytes())
    memory_trimmer(cache)
    return cache


TRIM_EVERY_S = 5.0
#: Freed memory stays for reuse while the cache was asked within this many seconds (`core.memory`).
IDLE_BEFORE_TRIM_S = 15.0


def trim_when_idle(last_used: float, trimmed_after: float | None, now: float) -> float | None:
    """One look of the trimmer (monotonic seconds): gives the freed memory back once the cache has been left alone
    IDLE_BEFORE_TRIM_S since `last_used`, unless that was done for this `last_used` already; returns the
    `last_used` it has trimmed after (the argument for the next look)."""
    if last_used != trimmed_after and now - last_used >= IDLE_BEFORE_TRIM_S:
        release_free_memory()
        return last_used
    return trimmed_after


@st.cache_resource(show_spinner=False)
def memory_trimmer(_cache: LRUCache) -> threading.Thread:
    """A daemon thread, one per process, that gives freed heap pages back to the system (`core.memory`) once
    the cache has not been used for IDLE_BEFORE_TRIM_S seconds, checking every TRIM_EVERY_S: a page's full-size
    arrays are freed only when its script run ends, and without this an idle server kept 5.2 GB after three
    95 MP photos (bench/results/memory.md). While photos keep coming, the freed memory stays resident so that
    the next run reuses it instead of faulting in fresh pages (`core.memory`: fully with `python app.py`)."""
    keep_freed_memory_for_reuse()
    cache_ref = weakref.ref(_cache)  # a cleared cache_resource ends its thread instead of keeping the cache alive

    def loop() -> None:
        trimmed_after = None
        while True:
            time.sleep(TRIM_EVERY_S)
            cache = cache_ref()
            if cache is None:
                return
            trimmed_after = trim_when_idle(cache.last_used, trimmed_after, time.monotonic())
            cache = None

    thread = threading.Thread(target=loop, name="portrait-studio-memory-trimmer", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner="Loading the model…")
def shared_segmenter(model: str, device: str = "auto") -> Segmenter | CombinedSegmenter:
    """The model, loaded once per process for every page and session (weights must be on disk)."""
    print(f"[portrait-studio] loading model {model} on {device}", file=sys.stderr, flush=True)
    segmenter = get_segmenter(model, device, allow_download=False)
    # Streamlit runs a full garbage collection after every script run (runner.postScriptGC), holding the GIL
    # while the next run and the pictures' requests wait: 0.1 s or more with the libraries and networks
    # loaded. What is alive now (modules, the networks) mostly lives as long as the process, so the collector
    # stops looking at it: frozen objects are still freed when their last reference goes, only cycles among
    # them are no longer collected.
    gc.collect()
    gc.freeze()
    return segmenter


def decode_upload(upload: Upload) -> tuple[DecodedImage, float]:
    """(decoded photo, seconds its decoding took), cached by digest; arrays are shared and read-only.

    Raises a PortraitStudioError naming the file when it is not a usable image.
    """
    def decode() -> tuple[DecodedImage, float]:
        start = time.perf_counter()
        decoded = decode_image(upload.data, name=upload.name)
        decoded.rgb.flags.writeable = False
        return decoded, time.perf_counter() - start

    return shared_cache().get_or_create(("decoded", upload.digest), decode)[0]


@dataclass
class Analysis:
    """A photo with its network output: what every page starts from."""

    upload: Upload
    decoded: DecodedImage
    prediction: np.ndarray  # float32 h×w (about S×S) in [0, 1]
    timings: dict[str, float]  # decode/preprocess/inference seconds of the run that computed them (maybe an earlier one)
    computed_now: bool
    model: str
    inference: InferenceSettings | None  # None: a combination, whose members use their own
    parts: dict[str, np.ndarray] | None = None  # a combination's member outputs that ran, by network name
    decision: Decision | None = None  # a combination's choice for this photo
    #: Seconds of stages whose output came from the cache, as measured by the earlier run that computed them.
    earlier_timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.computed_now:
            self.earlier_timings.update(self.timings)

    @property
    def image(self) -> np.ndarray:
        return self.decoded.rgb

    def refined(self, settings: RefineSettings, timer: StageTimer | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(raw, refined) alpha at full resolution before the edits and the file's own transparency (cached)."""
        def compute() -> tuple[np.ndarray, np.ndarray]:
            raw, refined = alpha_from_prediction(self.prediction, self.image.shape[:2], settings, None, timer, self.image)
            raw.flags.writeable = refined.flags.writeable = False
            return raw, refined

        return shared_cache().get_or_create(("refined", self.upload.digest, self.model, self.inference, settings), compute)[0]

    def alphas(
        self, settings: RefineSettings, timer: StageTimer | None = None, edits: tuple[Edit, ...] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """(raw, refined) alpha, float32 HxW in [0, 1], at full resolution with the touch-up `edits` applied
        (cached per photo, model, settings and edits; a new edit list reuses the cached refinement)."""
        def compute() -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
            own = StageTimer()
            raw, refined = self.refined(settings, own)
            with own.stage("refine"):
                final = final_alpha(refined, raw, edits, self.decoded.alpha, self.image)
            final.flags.writeable = False
            return raw, final, own.seconds

        (raw, refined, seconds), computed = shared_cache().get_or_create(
            ("alphas", self.upload.digest, self.model, self.inference, settings, edits), compute
        )
        if timer is not None:
            (timer.seconds if computed else self.earlier_timings).update(seconds)
        return raw, refined

    @property
    def preview_image(self) -> np.ndarray:
        """uint8 hxwx3 copy of the photo with a long side of at most PREVIEW_SIDE (cached), for live tuning."""
        return shared_cache().get_or_create(("preview", self.upload.digest), lambda: preview_copy(self.image, PREVIEW_SIDE))[0]

    def preview_alphas(
        self, settings: RefineSettings, timer: StageTimer | None = None, edits: tuple[Edit, ...] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """(raw, refined) alpha at the preview size, with the touch-up `edits`; sizes in settings and edits are
        relative, so they mean the same there. The refinement is cached, so a new stroke only applies the edits."""
        timer = timer if timer is not None else StageTimer()
        shape = self.preview_image.shape[:2]

        def compute() -> tuple[np.ndarray, np.ndarray]:
            raw, refined = alpha_from_prediction(self.prediction, shape, settings, None, timer, self.preview_image)
            raw.flags.writeable = refined.flags.writeable = False
            return raw, refined

        raw, refined = shared_cache().get_or_create(
            ("preview_alphas", self.upload.digest, self.model, self.inference, settings), compute
        )[0]
        source = resize_alpha(self.decoded.alpha, shape) if self.decoded.alpha is not None else None
        with timer.stage("refine"):
            return raw, final_alpha(refined, raw, edits, source, self.preview_image)


def analyse(upload: Upload, segmenter: Segmenter | CombinedSegmenter, inference: InferenceSettings | None = None) -> Analysis:
    """Decode `upload` and run the network on it (default: the model's own network input), cached by the
    upload's digest. A combination reuses (and caches) each member network's analysis."""
    if isinstance(segmenter, CombinedSegmenter):
        return _analyse_combined(upload, segmenter)
    inference = segmenter.settings(inference)
    decoded, decode_seconds = decode_upload(upload)
    key = ("prediction", upload.digest, segmenter.spec.name, str(segmenter.device), inference)

    def run_network() -> tuple[np.ndarray, dict[str, float]]:
        timer = StageTimer()
        prediction = predict(decoded.rgb, segmenter, timer, inference)
        prediction.flags.writeable = False
        return prediction, dict(timer.seconds)

    (prediction, timings), computed = shared_cache().get_or_create(key, run_network)
    timings = {"decode": decode_seconds, **timings}
    return Analysis(upload, decoded, prediction, timings, computed, segmenter.spec.name, inference)


def _analyse_combined(upload: Upload, segmenter: CombinedSegmenter) -> Analysis:
    """The combination's Analysis: its output, the member outputs that ran and its Decision (cached like one network's)."""
    decoded, decode_seconds = decode_upload(upload)
    key = ("prediction", upload.digest, segmenter.spec.name, str(segmenter.device), None)

    def run_networks() -> tuple[CombinedOutput, dict[str, float]]:
        timer = StageTimer()
        with timer.stage("preprocess"):
            batches = segmenter.prepare(decoded.rgb)
        with timer.stage("inference"):
            output = segmenter.run(batches, decoded.rgb.shape[:2])
        for part in output.parts.values():
            part.flags.writeable = False
        return output, dict(timer.seconds)

    (output, timings), computed = shared_cache().get_or_create(key, run_networks)
    return Analysis(
        upload, decoded, output.prediction, {"decode": decode_seconds, **timings}, computed, segmenter.spec.name, None,
        parts=output.parts, decision=output.decision,
    )


def download_bytes(
    photo: Upload,
    segmenter: Segmenter | CombinedSegmenter,
    inference: InferenceSettings | None,
    settings: RefineSettings,
    finishing: FinishSettings,
    kind: OutputKind,
    fmt: str,
    background: Background | None = None,
    edits: tuple[Edit, ...] = (),
    frame: FrameSettings | None = None,
    shadow: ShadowSettings | None = None,
    output: OutputSettings | None = None,
) -> Callable[[], bytes]:
    """A download button's data: encodes the full-resolution output (with the touch-up `edits`, framed and shadowed
    by `frame` and `shadow`, encoded with `output`) on click, from the cached network output.

    Defined here, not in a page: Streamlit keeps the callable for the session, and one defined in a page
    script holds that script's namespace, whose full-size photo, masks and result (about 1 GB at 95 MP) then
    stay in memory until the session ends.
    """
    def make() -> bytes:
        _, alpha = analyse(photo, segmenter, inference).alphas(settings, edits=edits)
        decoded = decode_upload(photo)[0]
        picture = compose(decoded.rgb, alpha, kind, background, finishing, frame, shadow, decoded.dpi)
        return encode_picture(picture, fmt, output)

    return make

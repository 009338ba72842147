"""Mask quality on the dev sets: every network, the default combination and its variants, against rembg.

    python -m bench.quality                                   # both dev sets, rembg too
    python -m bench.quality --limit 4 --no-rembg              # a quick look
    python -m bench.quality --data ../shared/data/dev/people_in_scenes_removebg --reuse

Per photo every network run (`network_runs`: a model and the network input it is shown) goes once. Its
output views (both, when the mirrored pass is on) are cached, one git-ignored .npz per photo under
bench/results/cache/<set>/<run>_<weights md5>_<input tag>/, and every configuration (`configs`) is computed
from those views: the combination's rule and its variants need no network pass of their own. rembg (optional,
see bench/requirements.txt) runs on the same photos with the same u2netp weights, its calls alternating
with ours so that CPU load from other processes hits both alike. Writes bench/results/quality.md (one table
per dev set), quality_<set>.csv (one row per photo and configuration) and, with --worst, worst10_<set>.png
(the ten lowest-IoU photos under the default model; git-ignored: it shows dev-set photos).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from bench.common import (
    CACHE_DIR,
    Sample,
    add_data_options,
    add_output_options,
    list_stems,
    load_sample,
    loadavg,
    revision,
    split_of,
)
from bench.metrics import GroundTruth, binarize, score
from core.combine import MAX_DISAGREEMENT, SUBJECT_ALPHA, decide, disagreement
from core.errors import PortraitStudioError
from core.pipeline import StageTimer, alpha_from_prediction
from core.refine import STEPS, RefineSettings
from core.segmentation import InferenceSettings, Segmenter, get_segmenter, resize_prediction
from core.settings import Settings
from core.weights import DEFAULT_MODEL, BUNDLED_WEIGHTS_DIR, REGISTRY, find_weights, get_spec, md5_of

#: The refinement defaults the project shipped with, before tuning (kept so "before" stays reproducible): a
#: preset by RefineSettings field name; the steps added since (matting) are off in it (`seed_settings`).
SEED_SETTINGS: dict[str, bool | float] = {
    "bilateral": True, "bilateral_sigma_space_pct": 0.5, "bilateral_sigma_color": 0.1,
    "levels": True, "black_point": 0.1, "white_point": 0.9,
    "opening": True, "opening_size_pct": 0.5,
    "closing": True, "closing_size_pct": 1.0,
    "feather": True, "feather_sigma_pct": 0.15,
    # steps added later, with the defaults they came with (off)
    "edge_aware": False, "edge_radius_pct": 1.0, "edge_smoothness": 0.001, "main_subject": False,
}
#: The photo resized to the network input as is, one pass: what rembg (and this project at first) computes.
REMBG_INPUT = InferenceSettings(pad=False, flip=False)
REMBG_MODES = ("plain", "post_process", "alpha_matting")
#: The default model's members: the portrait network, trusted when its mirrored views agree, and the salient one.
PORTRAIT, SALIENT = REGISTRY[DEFAULT_MODEL].members
#: Other input sizes (short side, px) for the portrait network inside the combination, its mirrored pass at its
#: registry entry's size, scored beside the registry's input size (MODNet's authors use 512; smaller is faster).
PORTRAIT_SIZES = (352, 384, 416, 512)
#: Other input sizes for the portrait network's mirrored pass, its first view at the registry's input size (the
#: same size as the first view: one scale, as before issue 16).
MIRROR_SIZES = (256, 288, 320, 352, 384)
#: The default model before the mirrored pass got its own size: MODNet at this size for both views, trusted up to
#: this disagreement.
BEFORE_SIZE, BEFORE_LIMIT = 416, 0.10
#: Other limits on the portrait network's mirrored-view disagreement, scored beside the shipped MAX_DISAGREEMENT.
THRESHOLDS = (0.05, 0.08, 0.10, 0.12, 0.14, 0.18, 0.2)
#: The issue's crude rule: the portrait matte when its subject covers at least this share of the salient one's.
COVERAGE = 0.60
#: What each dev set is, for the report (by folder name).
SET_NOTES = {
    "eg1800_train_subset": "tight portraits with hand-labelled masks",
    "people_in_scenes_removebg": "people in scenes; the masks are remove.bg's, with blocky edges: read IoU here, "
                                 "boundary F means little",
}


def seed_settings() -> RefineSettings:
    """The refinement defaults before tuning; the steps of core.refine.STEPS added since are off.

    A name in SEED_SETTINGS that RefineSettings no longer has stops the run (a renamed field would otherwise
    silently change the "before" column): update SEED_SETTINGS to the new name."""
    names = {f.name for f in dataclasses.fields(RefineSettings)}
    unknown = sorted(set(SEED_SETTINGS) - names)
    if unknown:
        raise SystemExit(f"bench.quality.SEED_SETTINGS names {', '.join(unknown)}, which RefineSettings does not have")
    newer = {step.name: False for step in STEPS if step.name not in SEED_SETTINGS}
    return dataclasses.replace(RefineSettings(), **SEED_SETTINGS, **newer)


def settings_diff(before: Settings, after: Settings) -> list[tuple[str, object, object]]:
    """(field, before, after) for every field of two settings of one class whose value differs."""
    a, b = before.to_dict(), after.to_dict()
    return [(k, a[k], b[k]) for k in a if a[k] != b[k]]


# ------------------------------------------------------------------------------ network runs


@dataclass(frozen=True)
class Run:
    """One way of running one network on a photo: the model and the network input it is shown."""

    key: str  # e.g. "modnet", "modnet@pad"
    model: str
    settings: InferenceSettings

    def tag(self) -> str:
        """Everything besides the weights that decides the output: the network input and the model's input facts."""
        facts = dataclasses.asdict(REGISTRY[self.model].input)
        return json.dumps({"inference": self.settings.to_dict(), "input": facts}, sort_keys=True)


def available_models() -> tuple[list[str], dict[str, str]]:
    """The single networks to score (bundled ones, and downloads whose weights are on this machine), and the
    others with the reason they are skipped; nothing is ever downloaded."""
    models, skipped = [], {}
    for name, spec in REGISTRY.items():
        if spec.members:
            continue
        if spec.bundled or find_weights(spec) is not None:
            models.append(name)
        else:
            skipped[name] = "weights not on this machine (a download: not measured)"
    return models, skipped


def other_portrait_sizes() -> list[int]:
    """PORTRAIT_SIZES without the portrait network's own (its registry entry's) input size."""
    own = InferenceSettings.for_model(REGISTRY[PORTRAIT]).size
    return [size for size in PORTRAIT_SIZES if size != own]


def other_mirror_sizes() -> list[int]:
    """MIRROR_SIZES without the portrait network's own (its registry entry's) mirrored-pass size."""
    own = InferenceSettings.for_model(REGISTRY[PORTRAIT]).mirror_side
    return [size for size in MIRROR_SIZES if size != own]


def network_runs(models: list[str]) -> list[Run]:
    """Each model with its own network input (`InferenceSettings.for_model`), then the input variants scored
    raw: the portrait network padded, the salient one on rembg's input."""
    runs = [Run(name, name, InferenceSettings.for_model(REGISTRY[name])) for name in models]
    if PORTRAIT in models:
        runs.append(Run(f"{PORTRAIT}@pad", PORTRAIT, InferenceSettings.for_model(REGISTRY[PORTRAIT], pad=True)))
        runs += [Run(f"{PORTRAIT}@{size}", PORTRAIT, InferenceSettings.for_model(REGISTRY[PORTRAIT], input_size=size))
                 for size in other_portrait_sizes()]
        runs += [Run(f"{PORTRAIT}@mirror{size}", PORTRAIT,
                     InferenceSettings.for_model(REGISTRY[PORTRAIT], mirror_size=size)) for size in other_mirror_sizes()]
        before = InferenceSettings.for_model(REGISTRY[PORTRAIT], input_size=BEFORE_SIZE, mirror_size=0)
        runs.append(Run(f"{PORTRAIT}@before", PORTRAIT, before))
    if SALIENT in models:
        unpadded = InferenceSettings.for_model(REGISTRY[SALIENT], pad=False, flip=False)
        runs.append(Run(f"{SALIENT}@unpadded", SALIENT, unpadded))
    return runs


@dataclass
class NetOutput:
    """One run on one photo: its view(s), float32 h×w in [0, 1], and the seconds of preprocessing and of the passes."""

    views: list[np.ndarray]
    prepare_s: float
    infer_s: float

    @property
    def seconds(self) -> float:
        return self.prepare_s + self.infer_s


class Network:
    """A run with its loaded Segmenter: computes, caches and joins its views."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.segmenter: Segmenter = get_segmenter(run.model, "cpu", allow_download=False)
        self.path = Path(self.segmenter.weights.path)
        self.md5 = md5_of(self.path)
        self._tag = run.tag()
        self.warm = False  # set once it has run on a photo (untimed warm-up)

    def folder(self, cache: Path, set_name: str) -> Path:
        """The cache folder of this run on one dev set: keyed by run, weights md5 and network-input tag."""
        digest = hashlib.sha1(self._tag.encode()).hexdigest()[:8]
        return cache / set_name / f"{self.run.key}_{self.md5[:8]}_{digest}"

    def compute(self, rgb: np.ndarray) -> NetOutput:
        """Run the network on one photo (timed: preprocessing, then the pass or passes)."""
        started = time.perf_counter()
        batch = self.segmenter.prepare(rgb, self.run.settings)
        prepared = time.perf_counter()
        views = self.segmenter.infer_views(batch, rgb.shape[:2], self.run.settings)
        return NetOutput(views, prepared - started, time.perf_counter() - prepared)

    def load(self, folder: Path, stem: str) -> NetOutput | None:
        """The cached output of one photo, or None (absent, or written for other weights or another input)."""
        path = folder / f"{stem}.npz"
        if not path.is_file():
            return None
        with np.load(path) as z:
            if str(z["tag"]) != self._tag or str(z["md5"]) != self.md5:
                return None
            return NetOutput(list(z["views"]), float(z["prepare_s"]), float(z["infer_s"]))

    def save(self, folder: Path, stem: str, output: NetOutput) -> None:
        _save_npz(folder / f"{stem}.npz", views=np.stack(output.views), prepare_s=output.prepare_s,
                  infer_s=output.infer_s, tag=self._tag, md5=self.md5)

    def join(self, output: NetOutput) -> np.ndarray:
        """The views as the network's one output, as core joins them (`Segmenter.join_views`)."""
        return self.segmenter.join_views(output.views)


def _save_npz(path: Path, **arrays: object) -> None:
    """Write a compressed .npz atomically (an interrupted run leaves no half-written cache file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    os.replace(partial, path)


# ---------------------------------------------------------------------------------------- rembg


class Rembg:
    """rembg's u2netp session on the bundled weights, from a temporary U2NET_HOME; never downloads."""

    def __init__(self, home: Path) -> None:
        import pooch  # rembg's downloader: refuse outright, so a wrong md5 or path cannot fetch anything
        import rembg

        def _no_download(*args: object, **kwargs: object) -> str:
            raise RuntimeError("bench.quality never downloads weights; the bundled u2netp.onnx was not found")

        pooch.retrieve = _no_download
        weights = BUNDLED_WEIGHTS_DIR / "u2netp.onnx"
        shutil.copy2(weights, home / "u2netp.onnx")
        os.environ["U2NET_HOME"] = str(home)
        self.rembg = rembg
        self.version = importlib.metadata.version("rembg")
        self.session = rembg.new_session("u2netp")
        self.key = f"rembg-{self.version}_{md5_of(weights)[:8]}"
        self.warm: set[str] = set()  # modes run once already (untimed warm-up)

    def mask(self, image: Image.Image, mode: str) -> np.ndarray:
        """rembg's alpha for `mode` as uint8 HxW (alpha_matting needs a cut-out: only_mask skips matting)."""
        if mode == "plain":
            return np.asarray(self.rembg.remove(image, session=self.session, only_mask=True))
        if mode == "post_process":
            return np.asarray(self.rembg.remove(image, session=self.session, only_mask=True, post_process_mask=True))
        if mode == "alpha_matting":
            return np.asarray(self.rembg.remove(image, session=self.session, alpha_matting=True))[..., 3]
        raise ValueError(f"unknown rembg mode {mode!r}")

    def load(self, folder: Path, stem: str) -> dict[str, tuple[np.ndarray, float]]:
        """Cached masks and seconds of one photo, by mode (the modes that ran)."""
        path = folder / f"{stem}.npz"
        if not path.is_file():
            return {}
        with np.load(path) as z:
            return {mode: (z[mode], float(z[f"{mode}_s"])) for mode in REMBG_MODES if mode in z}

    def save(self, folder: Path, stem: str, masks: dict[str, tuple[np.ndarray, float]]) -> None:
        arrays: dict[str, object] = {}
        for mode, (mask, seconds) in masks.items():
            arrays[mode], arrays[f"{mode}_s"] = mask, seconds
        _save_npz(folder / f"{stem}.npz", **arrays)


@contextmanager
def open_rembg(enabled: bool) -> Iterator[tuple[Rembg | None, str]]:
    """Yield (Rembg or None, note); None with the reason when disabled or rembg is not installed."""
    if not enabled:
        yield None, "skipped (--no-rembg)"
        return
    try:
        import rembg  # noqa: F401
    except (ImportError, SystemExit) as exc:  # rembg calls sys.exit when onnxruntime is missing
        yield None, f"skipped: rembg is not importable ({exc!r}); pip install -r bench/requirements.txt"
        return
    previous = os.environ.get("U2NET_HOME")
    with tempfile.TemporaryDirectory(prefix="u2net_home_") as home:
        try:
            yield Rembg(Path(home)), "ran"
        finally:
            if previous is None:
                os.environ.pop("U2NET_HOME", None)
            else:
                os.environ["U2NET_HOME"] = previous


# --------------------------------------------------------------------------- running, photo by photo


@dataclass
class PhotoOutputs:
    """One photo with every run's output and rembg's masks (mode -> (uint8 HxW, seconds))."""

    index: int
    sample: Sample
    nets: dict[str, NetOutput]
    rembg: dict[str, tuple[np.ndarray, float]]
    computed: int  # how many network runs and rembg calls this photo needed (0: all from the cache)


def photo_outputs(
    data: Path, stems: list[str], networks: list[Network], peer: Rembg | None = None, *,
    reuse: bool = True, cache: Path = CACHE_DIR, matting_every: int = 1, log: Callable[[str], None] = print,
) -> Iterator[PhotoOutputs]:
    """Each photo's outputs, in order: from the cache with `reuse` (computing only what is missing), else
    computed afresh; everything computed is cached. On each photo our runs and rembg's calls run in one
    order, then in the reverse order on the next photo. The first photo that needs a network or rembg warms
    each network and rembg mode up once per process (untimed: lazy initialisation, numba compilation)."""
    set_name = Path(data).name
    folders = {n.run.key: n.folder(cache, set_name) for n in networks}
    rembg_folder = cache / set_name / peer.key if peer else None
    started, computed = time.perf_counter(), 0
    for i, stem in enumerate(stems):
        sample = load_sample(data, stem)
        nets = {n.run.key: n.load(folders[n.run.key], stem) for n in networks} if reuse else {}
        masks = peer.load(rembg_folder, stem) if peer and reuse else {}
        modes = [m for m in REMBG_MODES if m != "alpha_matting" or i % matting_every == 0] if peer else []
        jobs: list[Network | str] = [n for n in networks if nets.get(n.run.key) is None]
        jobs += [m for m in modes if m not in masks]
        pil = Image.fromarray(sample.rgb)
        if jobs:
            for network in networks:
                if not network.warm:
                    network.compute(sample.rgb)
                    network.warm = True
            for mode in modes:
                if mode not in peer.warm:
                    peer.mask(pil, mode)
                    peer.warm.add(mode)
        for job in jobs if i % 2 == 0 else jobs[::-1]:
            if isinstance(job, Network):
                nets[job.run.key] = job.compute(sample.rgb)
                job.save(folders[job.run.key], stem, nets[job.run.key])
            else:
                t = time.perf_counter()
                mask = peer.mask(pil, job)
                masks[job] = (mask, time.perf_counter() - t)
        if peer and any(m in jobs for m in modes):  # keep modes cached earlier that did not run now
            peer.save(rembg_folder, stem, {**peer.load(rembg_folder, stem), **masks})
        computed += bool(jobs)
        if (i + 1) % 10 == 0 or i + 1 == len(stems):
            log(f"  {set_name}: {i + 1}/{len(stems)} photos ({computed} computed, {i + 1 - computed} from the cache), "
                f"{time.perf_counter() - started:.0f} s")
        yield PhotoOutputs(i, sample, nets, {m: masks[m] for m in modes if m in masks}, len(jobs))


# ------------------------------------------------------------------------------------ configurations


@dataclass(frozen=True)
class Pick:
    """What a configuration takes from one photo's network outputs, before refinement."""

    source: str  # names the prediction (refining one source with one settings is done once per photo)
    prediction: np.ndarray
    seconds: float  # preprocessing and network passes this configuration would run
    chosen: str  # the network whose output it is
    disagreement: float = math.nan  # the portrait network's mirrored-view disagreement (combinations)


class Photo:
    """One photo's network outputs, as configurations read them (joined outputs and the rules' inputs computed once)."""

    def __init__(self, sample: Sample, nets: dict[str, NetOutput], networks: dict[str, Network]) -> None:
        self.sample, self.nets, self.networks = sample, nets, networks
        self._joined: dict[str, np.ndarray] = {}
        self._share: float | None = None
        self._trusted: bool | None = None

    def joined(self, key: str) -> np.ndarray:
        if key not in self._joined:
            self._joined[key] = self.networks[key].join(self.nets[key])
        return self._joined[key]

    def single(self, key: str, first_view: bool = False) -> Pick:
        """A run's output (its first view only with `first_view`: as without the mirrored pass)."""
        out, model = self.nets[key], self.networks[key].run.model
        if first_view:  # one pass instead of len(views): its time is the passes' time shared out evenly
            return Pick(f"{key}:first", out.views[0], out.prepare_s + out.infer_s / len(out.views), model)
        return Pick(key, self.joined(key), out.seconds, model)

    @property
    def share(self) -> float:
        """The portrait network's mirrored-view disagreement (core.combine.disagreement)."""
        if self._share is None:
            self._share = disagreement(*self.nets[PORTRAIT].views)[0]
        return self._share

    def combined(
        self, trust_portrait: bool, always_both: bool = False, portrait_run: str = PORTRAIT, share: float | None = None
    ) -> Pick:
        """The combination's output: the portrait network's (from `portrait_run`, whose views disagree by `share`,
        default the registry run's) when trusted, else the salient one's. Time as core.combine.CombinedSegmenter
        spends it: the salient network's input prepared and its passes run only when needed (`always_both`: a rule
        that needs both outputs for every photo)."""
        portrait, salient = self.nets[portrait_run], self.nets[SALIENT]
        seconds = portrait.seconds
        if always_both or not trust_portrait:
            seconds += salient.seconds
        key, chosen = (portrait_run, PORTRAIT) if trust_portrait else (SALIENT, SALIENT)
        return Pick(key, self.joined(key), seconds, chosen, self.share if share is None else share)

    def portrait_at(self, run: str, limit: float = MAX_DISAGREEMENT) -> Pick:
        """The shipped rule, trusting up to `limit` disagreement, with the portrait network run as `run` (another
        network input)."""
        share = disagreement(*self.nets[run].views)[0]
        return self.combined(share <= limit, portrait_run=run, share=share)

    def shipped(self) -> Pick:
        """The default model as it ships: core.combine.decide on the portrait network's views."""
        if self._trusted is None:
            self._trusted = decide(self.nets[PORTRAIT].views, PORTRAIT, SALIENT).chosen == PORTRAIT
        return self.combined(self._trusted)

    def covers(self, share: float = COVERAGE) -> Pick:
        """The crude rule: the portrait matte when its subject covers at least `share` of the salient network's
        subject (both joined, at the photo's size, alpha >= 0.5), else the salient network's mask."""
        shape = self.sample.rgb.shape[:2]
        portrait = resize_prediction(self.joined(PORTRAIT), shape) >= SUBJECT_ALPHA
        salient = resize_prediction(self.joined(SALIENT), shape) >= SUBJECT_ALPHA
        area = np.count_nonzero(salient)
        covered = 1.0 if area == 0 else np.count_nonzero(portrait & salient) / area
        return self.combined(covered >= share, always_both=True)


@dataclass(frozen=True)
class Config:
    """One scored configuration: what it takes from the network outputs and how it refines it."""

    name: str
    label: str
    pick: Callable[[Photo], Pick]
    refine: RefineSettings | None  # None: the raw network output
    refine_chosen: bool = False  # refine each photo as measured best for the network picked (ignores `refine`)
    combination: bool = False  # a combination: its picks are counted in the report

    def settings(self, pick: Pick) -> RefineSettings | None:
        return RefineSettings.for_model(REGISTRY[pick.chosen]) if self.refine_chosen else self.refine


def _pct(x: float) -> str:
    return f"{100 * x:g} %"


def configs(models: list[str]) -> list[Config]:
    """The default model (headline, then raw), each network alone, the combination's variants, then the
    refinement ablations on the default model's output."""
    refine = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    shipped = Photo.shipped
    rule = (f"{PORTRAIT} when its two mirrored views disagree on at most {_pct(MAX_DISAGREEMENT)} of the subject, "
            f"else {SALIENT}")
    both = {PORTRAIT, SALIENT} <= set(models)
    out = [
        Config(DEFAULT_MODEL, f"the default model ({rule}), its refinement", shipped, refine, combination=True),
        Config(f"{DEFAULT_MODEL}_raw", "the default model, raw (no refinement)", shipped, None, combination=True),
    ] if both else []
    for name in models:  # each network alone, with its own network input
        mine = RefineSettings.for_model(REGISTRY[name])
        alone = lambda photo, key=name: photo.single(key)  # noqa: E731
        out += [Config(name, f"{name} alone, its own network input and refinement", alone, mine),
                Config(f"{name}_raw", f"{name} alone, raw", alone, None)]
        if name == PORTRAIT:
            first = lambda photo: photo.single(PORTRAIT, first_view=True)  # noqa: E731
            out += [
                Config(f"{name}_noflip", f"{name} without the mirrored pass (first view), its refinement", first, mine),
                Config(f"{name}_noflip_raw", f"{name} without the mirrored pass (first view), raw", first, None),
                Config(f"{name}_pad_raw", f"{name} on a padded input "
                       f"({InferenceSettings.for_model(REGISTRY[name], pad=True).pad_pct:g} % border), raw",
                       lambda photo: photo.single(f"{PORTRAIT}@pad"), None),
            ]
        if name == SALIENT:
            out.append(Config(f"{name}_unpadded_raw", f"{name}, photo resized as is, one pass, raw (what rembg computes)",
                              lambda photo: photo.single(f"{SALIENT}@unpadded"), None))
    if not both:
        return out
    for size in other_portrait_sizes():  # the combination with the portrait network at another input size
        out.append(Config(f"{DEFAULT_MODEL}_{PORTRAIT}{size}", f"the default model with {PORTRAIT} at {size} px "
                          f"(short side; its own: {InferenceSettings.for_model(REGISTRY[PORTRAIT]).size})",
                          lambda photo, run=f"{PORTRAIT}@{size}": photo.portrait_at(run), refine, combination=True))
    for size in other_mirror_sizes():  # ... and with its mirrored pass at another input size
        out.append(Config(f"{DEFAULT_MODEL}_mirror{size}", f"the default model with {PORTRAIT}'s mirrored pass at "
                          f"{size} px (its own: {InferenceSettings.for_model(REGISTRY[PORTRAIT]).mirror_side})",
                          lambda photo, run=f"{PORTRAIT}@mirror{size}": photo.portrait_at(run), refine, combination=True))
    out.append(Config(f"{DEFAULT_MODEL}_before", f"the default model before: {PORTRAIT} at {BEFORE_SIZE} px for both "
                      f"views, trusted up to {_pct(BEFORE_LIMIT)} disagreement",
                      lambda photo: photo.portrait_at(f"{PORTRAIT}@before", BEFORE_LIMIT), refine, combination=True))
    for limit in THRESHOLDS:  # the combination with another limit on the disagreement
        out.append(Config(f"{DEFAULT_MODEL}_max{limit:g}",
                          f"combination, {PORTRAIT} trusted up to {_pct(limit)} disagreement",
                          lambda photo, limit=limit: photo.combined(photo.share <= limit), refine, combination=True))
    out += [
        Config(f"{DEFAULT_MODEL}_coverage{100 * COVERAGE:g}",
               f"crude rule: {PORTRAIT} when its subject covers ≥ {_pct(COVERAGE)} of {SALIENT}'s, else {SALIENT}",
               Photo.covers, refine, combination=True),
        Config(f"{DEFAULT_MODEL}_{SALIENT}_refine", f"the default model with {SALIENT}'s refinement on every photo",
               shipped, RefineSettings.for_model(REGISTRY[SALIENT]), combination=True),
        Config(f"{DEFAULT_MODEL}_chosen_refine", "the default model, each photo refined as measured best for the network "
               "chosen", shipped, None, refine_chosen=True, combination=True),
    ]
    for step in STEPS:  # each step switched off alone, or on alone where the default leaves it off
        on = not getattr(refine, step.name)
        out.append(Config(f"{DEFAULT_MODEL}{'+' if on else '-'}{step.name}",
                          f"the default model, {step.name} {'on' if on else 'off'}",
                          shipped, dataclasses.replace(refine, **{step.name: on})))
    if refine.matting:
        out.append(Config(f"{DEFAULT_MODEL}_matting_band1.5", f"the default model, matting band 1.5 % "
                          f"(default {refine.matting_band_pct:g} %)", shipped,
                          dataclasses.replace(refine, matting_band_pct=1.5)))
    return out


# ----------------------------------------------------------------------------------- evaluation


@dataclass
class Row:
    """One photo under one configuration."""

    dataset: str
    stem: str
    split: str
    config: str
    iou: float
    bf: float
    mae: float
    seconds: float  # ours: preprocessing + network passes + resize + refinement; rembg: its remove() call
    chosen: str = ""
    disagreement: float = math.nan


def score_photo(photo: Photo, truth: GroundTruth, config_list: list[Config], dataset: str, split: str) -> list[Row]:
    """Every configuration on one photo; a (prediction, refinement) pair shared by several is refined once."""
    rows, done = [], {}
    rgb = photo.sample.rgb
    for config in config_list:
        pick = config.pick(photo)
        settings = config.settings(pick)
        key = (pick.source, settings)
        if key not in done:
            timer = StageTimer()
            _, alpha = alpha_from_prediction(pick.prediction, rgb.shape[:2], settings, timer=timer, image=rgb)
            done[key] = (score(alpha, truth), timer.total)
        s, refine_s = done[key]
        rows.append(Row(dataset, photo.sample.stem, split, config.name, s["iou"], s["bf"], s["mae"],
                        pick.seconds + refine_s, pick.chosen, pick.disagreement))
    return rows


def score_rembg(outputs: PhotoOutputs, truth: GroundTruth, dataset: str, split: str) -> list[Row]:
    rows = []
    for mode, (mask, seconds) in outputs.rembg.items():
        s = score(mask.astype(np.float32) / 255.0, truth)
        rows.append(Row(dataset, outputs.sample.stem, split, f"rembg_{mode}", s["iou"], s["bf"], s["mae"], seconds))
    return rows


def summarise(rows: list[Row], config: str) -> dict[str, float]:
    """Mean IoU, IoU 10th percentile, mean BF and MAE, ms per photo, and (combinations) photos per network."""
    sel = [r for r in rows if r.config == config]
    if not sel:
        return {}
    iou, bf, err, sec = (np.array([getattr(r, k) for r in sel]) for k in ("iou", "bf", "mae", "seconds"))
    return {
        "n": len(sel), "iou": iou.mean(), "iou_p10": np.percentile(iou, 10), "bf": bf.mean(), "mae": err.mean(),
        "ms": 1000 * sec.mean(), "portrait": sum(r.chosen == PORTRAIT for r in sel),
    }


# -------------------------------------------------------------------------------------- outputs


def write_csv(rows: list[Row], path: Path) -> None:
    """One line per photo and configuration."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stem", "split", "config", "iou", "bf3", "mae", "seconds", "chosen", "disagreement"])
        for r in rows:
            writer.writerow([r.stem, r.split, r.config, f"{r.iou:.5f}", f"{r.bf:.5f}", f"{r.mae:.5f}", f"{r.seconds:.4f}",
                             r.chosen, "" if math.isnan(r.disagreement) else f"{r.disagreement:.5f}"])


def _grey(channel: np.ndarray) -> np.ndarray:
    return np.repeat(channel[..., None], 3, axis=2)


def _tile(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def contact_sheet(samples: list[Sample], alphas: list[np.ndarray], titles: list[str], path: Path, width: int = 150) -> None:
    """Rows of (photo, ground truth, prediction, error map: false positives red, false negatives blue)."""
    tiles = []
    for sample, alpha, title in zip(samples, alphas, titles):
        h, w = sample.mask.shape
        size = (width, max(1, round(h * width / w)))
        pred = binarize(alpha)
        error = np.zeros((h, w, 3), np.uint8)
        error[pred & sample.mask] = (200, 200, 200)
        error[pred & ~sample.mask] = (230, 30, 30)  # false positive: red
        error[~pred & sample.mask] = (30, 80, 240)  # false negative: blue
        row = [
            _tile(sample.rgb, size),
            _tile(_grey(sample.mask.astype(np.uint8) * 255), size),
            _tile(_grey(np.round(alpha * 255).astype(np.uint8)), size),
            _tile(error, size),
        ]
        photo = row[0].copy()
        cv2.rectangle(photo, (0, 0), (size[0], 34), (0, 0, 0), -1)
        for k, text in enumerate(title.split("\n")[:2]):
            cv2.putText(photo, text, (4, 14 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        row[0] = photo
        tiles.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in row], axis=1))
    header = np.full((24, tiles[0].shape[1], 3), 255, np.uint8)
    for k, text in enumerate(("photo", "ground truth", "prediction", "error: FP red, FN blue")):
        x = 4 + k * (tiles[0].shape[1] // 4)
        cv2.putText(header, text, (x, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    Image.fromarray(np.concatenate([header, *tiles], axis=0)).save(path)


def _f(x: float, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


@dataclass
class SetResult:
    """One dev set's rows and facts for the report."""

    data: Path
    rows: list[Row]
    photos: int
    computed: int  # photos that needed a network run or a rembg call (the rest came from the cache)


def markdown(results: list[SetResult], config_list: list[Config], networks: list[Network], facts: dict[str, str]) -> str:
    """The report: header (machine, date, command, weights, the combination's picks), one table per set, notes."""
    labels = {c.name: c.label for c in config_list}
    labels.update({"rembg_plain": "rembg u2netp, plain mask", "rembg_post_process": "rembg u2netp, post_process_mask",
                   "rembg_alpha_matting": "rembg u2netp, alpha_matting"})
    combinations = {c.name for c in config_list if c.combination}
    md5s = {n.run.model: (n.md5, n.path.name) for n in networks}
    lines = [
        "# Mask quality on the dev sets",
        "",
        f"Run: `{facts['command']}` on {facts['date']} ({facts['elapsed']}), code at `{revision()}`. Machine: "
        f"{os.cpu_count()} CPUs ({platform.machine()}), PyTorch {torch.__version__} on {torch.get_num_threads()} "
        f"threads, Python {platform.python_version()}; load average {facts['load_start']} at the start, "
        f"{facts['load_end']} at the end (other processes share the machine: times are wall-clock and "
        "inflated alike for every configuration).",
        "",
        "Weights: " + ", ".join(f"{model} `{name}` (md5 `{md5}`)" for model, (md5, name) in md5s.items())
        + f". rembg: {facts['rembg']}." + (f" Not measured: {facts['skipped']}." if facts.get("skipped") else ""),
        "",
    ]
    for result in results:
        auto = summarise(result.rows, DEFAULT_MODEL)
        if auto:
            lines.append(f"- `{result.data.name}` ({result.photos} photos): the combination gave {auto['portrait']} "
                         f"photos to {PORTRAIT} and {auto['n'] - auto['portrait']} to {SALIENT}.")
    lines += [
        "",
        "Masks are binarised at 0.5 for IoU and boundary F (BF, 3 px tolerance); MAE is on the soft alpha. IoU p10 = "
        "10th percentile over the photos (the worst tenth starts there). ms = mean per photo of preprocessing + "
        "network passes + resize + refinement at the photo's size (no decoding), for rembg its `remove()` call. "
        f"`{PORTRAIT} used` = photos a combination gave to {PORTRAIT}.",
    ]
    for result in results:
        set_name = result.data.name
        names = [c.name for c in config_list] + [f"rembg_{m}" for m in REMBG_MODES]
        lines += [
            "",
            f"## {set_name}",
            "",
            f"{result.photos} photos: {SET_NOTES.get(set_name, 'a dev set')}. "
            f"Per photo: `bench/results/quality_{set_name}.csv`.",
            "",
            f"| configuration | IoU | IoU p10 | BF 3px | MAE | ms / photo | {PORTRAIT} used | n |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name in names:
            s = summarise(result.rows, name)
            if not s:
                continue
            mark = "**" if name == DEFAULT_MODEL else ""
            used = f"{s['portrait']}" if name in combinations else "–"
            lines.append(f"| {mark}{name}{mark}: {labels[name]} | {_f(s['iou'])} | {_f(s['iou_p10'])} | {_f(s['bf'])} | "
                         f"{_f(s['mae'])} | {s['ms']:.0f} | {used} | {s['n']} |")
    reused = [r.data.name for r in results if r.computed < r.photos]
    lines += [
        "",
        "## Notes",
        "",
        f"- Combinations are computed from each network's cached views; their time is what "
        f"`core.combine.CombinedSegmenter` spends: {PORTRAIT}'s preprocessing and two passes, and "
        f"{SALIENT}'s preprocessing and passes only on the photos given to it (the coverage rule needs both networks on every photo).",
        f"- `{PORTRAIT}_noflip`: the first of the two cached views; its time is preprocessing + half of the two passes (the first pass costs more than that when the mirrored one is smaller).",
        "- A (network output, refinement) pair shared by several configurations is refined once per photo; they "
        "share that refinement time.",
        "- rembg's `alpha_matting` is read from the RGBA cut-out: `remove(..., only_mask=True)` returns the mask "
        "before matting, so `only_mask=True, alpha_matting=True` silently gives the plain mask.",
        *([f"- Network outputs and their times partly from the cache (`--reuse`) for {', '.join(reused)}: run without "
           "`--reuse` for fresh timings."] if reused else []),
        "- Contact sheets of the ten lowest-IoU photos (`--worst`) show dev-set photos: git-ignored, never committed.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ main


def load_networks(runs: list[Run], log: Callable[[str], None] = print) -> tuple[list[Network], dict[str, str]]:
    """A Network per run whose weights load (never downloading), and the reason for each that does not."""
    networks, skipped = [], {}
    for run in runs:
        if run.model in skipped:
            continue
        try:
            networks.append(Network(run))
        except PortraitStudioError as exc:
            skipped[run.model] = str(exc)
            log(f"  {run.model}: skipped ({exc})")
    return networks, skipped


def model_predictions(
    data: Path, stems: list[str], model: str = DEFAULT_MODEL, *, cache: Path = CACHE_DIR, log: Callable[[str], None] = print
) -> list[np.ndarray]:
    """Per photo, `model`'s network output (float32 h×w in [0, 1]) with its own network input, as core computes
    it (a combination: the output it keeps); from the cache, running the networks only where it has nothing."""
    spec = get_spec(model)
    names = list(spec.members) or [model]
    networks, skipped = load_networks([Run(n, n, InferenceSettings.for_model(REGISTRY[n])) for n in names], log)
    if skipped:
        raise SystemExit(f"{model}: cannot load {', '.join(skipped)} ({'; '.join(skipped.values())})")
    by_key = {n.run.key: n for n in networks}
    out = []
    for outputs in photo_outputs(data, stems, networks, cache=cache, log=log):
        photo = Photo(outputs.sample, outputs.nets, by_key)
        out.append((photo.shipped() if spec.members else photo.single(model)).prediction)
    return out


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    add_data_options(parser, several=True)
    parser.add_argument("--no-rembg", action="store_true", help="skip rembg (ours only)")
    parser.add_argument("--matting-every", type=int, default=1, metavar="K",
                        help="run rembg alpha_matting (slow) on every K-th photo only (default 1: all)")
    parser.add_argument("--reuse", action="store_true",
                        help="take network outputs, rembg masks and their timings from the cache where it has them")
    parser.add_argument("--worst", action="store_true",
                        help="also write worst10_<set>.png: the ten lowest-IoU photos under the default model")
    add_output_options(parser, cache=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the networks (or read the cache), score every configuration per dev set, write the report files."""
    args = build_parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    started, load_start = time.perf_counter(), loadavg()
    sets = [(data, list_stems(data, args.limit)) for data in args.data]
    models, skipped = available_models()
    networks, failed = load_networks(network_runs(models))
    skipped.update(failed)
    models = [m for m in models if m not in failed]
    by_key = {n.run.key: n for n in networks}
    config_list = configs(models)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with open_rembg(not args.no_rembg) as (peer, note):
        for data, stems in sets:
            print(f"{Path(data).name}: {len(stems)} photos, {len(config_list)} configurations, runs "
                  f"{', '.join(by_key)}" + (", rembg " + ", ".join(REMBG_MODES) if peer else ""))
            rows, computed = [], 0
            for outputs in photo_outputs(data, stems, networks, peer, reuse=args.reuse, cache=args.cache,
                                         matting_every=max(1, args.matting_every)):
                truth = GroundTruth.from_mask(outputs.sample.mask)
                split = split_of(outputs.index)
                rows += score_photo(Photo(outputs.sample, outputs.nets, by_key), truth, config_list, Path(data).name, split)
                rows += score_rembg(outputs, truth, Path(data).name, split)
                computed += bool(outputs.computed)
            write_csv(rows, args.out / f"quality_{Path(data).name}.csv")
            results.append(SetResult(Path(data), rows, len(stems), computed))
            if args.worst:
                write_worst(data, stems, rows, networks, args.cache, args.out)
        rembg_note = f"{peer.version}, {note}" if peer else note
    facts = {
        "command": " ".join(["python -m bench.quality", *argv]), "date": time.strftime("%Y-%m-%d %H:%M"),
        "elapsed": f"{(time.perf_counter() - started) / 60:.1f} min", "load_start": load_start, "load_end": loadavg(),
        "rembg": rembg_note, "skipped": "; ".join(f"{k}: {v}" for k, v in skipped.items()),
    }
    report = markdown(results, config_list, networks, facts)
    (args.out / "quality.md").write_text(report)
    print(report)
    return 0


def write_worst(data: Path, stems: list[str], rows: list[Row], networks: list[Network], cache: Path, out: Path) -> None:
    """worst10_<set>.png: the ten lowest-IoU photos under the default model (refined again from the cache)."""
    by_stem = {r.stem: r for r in rows if r.config == DEFAULT_MODEL}
    if not by_stem:
        return
    worst = sorted(by_stem, key=lambda s: by_stem[s].iou)[:10]
    by_key = {n.run.key: n for n in networks}
    needed = [by_key[PORTRAIT], by_key[SALIENT]]
    refine = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    samples, alphas, titles = [], [], []
    for outputs in photo_outputs(data, worst, needed, cache=cache, log=lambda _: None):
        pick = Photo(outputs.sample, outputs.nets, by_key).shipped()
        alphas.append(alpha_from_prediction(pick.prediction, outputs.sample.rgb.shape[:2], refine,
                                            image=outputs.sample.rgb)[1])
        r = by_stem[outputs.sample.stem]
        samples.append(outputs.sample)
        titles.append(f"{r.stem} IoU {r.iou:.3f}\n{r.chosen} dis {r.disagreement:.2f}")
    contact_sheet(samples, alphas, titles, out / f"worst10_{Path(data).name}.png")


if __name__ == "__main__":
    raise SystemExit(main())

"""Streamlit AppTest tests of every page of the dashboard, with the real bundled u2netp model.

The pages run in this process, so `monkeypatch` reaches the engine they call (`core.segmentation`,
`ui.engine`): counting wrappers prove that the network runs once per photo and that the model loads
once per process.

Two AppTest internals are used, each behind a helper that says why:
* `MediaRecorder` (in tests/app_support.py, behind the `media` fixture) keeps the media files (images,
  downloads) that AppTest otherwise throws away, so the tests can decode the pictures a page shows and
  the files its download buttons make.
* `fragment_rerun` makes a run fragment-scoped, as the browser does for a widget inside `@st.fragment`
  (AppTest itself always reruns the whole script).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import core.segmentation
import core.weights
import ui.engine
import ui.state
from core.refine import RefineSettings
from core.segmentation import InferenceSettings
from ui.state import settings_key
from core.finishing import FinishSettings
from core.imageio import AVIF_SUPPORTED
from core.presets import PRESET_GROUPS
from ui.text import md_escape
from tests.app_support import (
    INSPECT,
    BATCH,
    REPLACE,
    TOUCHUP,
    TUNING,
    assert_clean,
    assert_no_exception,
    encode,
    go,
    new_app,
    synthetic_portrait,
    timings,
    texts,
    upload,
)

PAGES = (REPLACE, INSPECT, TUNING)


def refine_key(name: str) -> str:
    """Session key of the Tuning page's widget for the RefineSettings field `name`."""
    return settings_key(RefineSettings, name)


# ------------------------------------------------------------------------------------------ photos


@pytest.fixture(scope="module")
def astronaut_rgb(astronaut) -> np.ndarray:
    return astronaut


@pytest.fixture(scope="module")
def astronaut_png(astronaut_rgb) -> bytes:
    return encode(astronaut_rgb, "PNG")


@pytest.fixture(scope="module")
def astronaut_jpeg(astronaut_rgb) -> bytes:
    return encode(astronaut_rgb, "JPEG", quality=90)


@pytest.fixture
def unique_portrait_png() -> tuple[np.ndarray, bytes]:
    """A non-square synthetic portrait whose bytes no earlier run can have cached."""
    image = synthetic_portrait()
    return image, encode(image, "PNG")


# --------------------------------------------------------------------------------------- counting


class Counter:
    """Counts calls of a function or method and passes them through to the original."""

    def __init__(self) -> None:
        self.calls = 0
        self.args: list[tuple] = []

    def wrap(self, original: Callable) -> Callable:
        @functools.wraps(original)
        def counted(*args, **kwargs):
            self.calls += 1
            self.args.append(args)
            return original(*args, **kwargs)

        return counted


def count_calls(monkeypatch, owner, name: str) -> Counter:
    counter = Counter()
    monkeypatch.setattr(owner, name, counter.wrap(getattr(owner, name)))
    return counter


@pytest.fixture
def forward_calls(monkeypatch) -> Counter:
    """Network forward passes (every page reaches the network only through Segmenter.forward)."""
    return count_calls(monkeypatch, core.segmentation.Segmenter, "forward")


@pytest.fixture
def analyse_calls(monkeypatch) -> Counter:
    """Calls of ui.engine.analyse: once per full run of a page that shows a photo (pages import it each run)."""
    return count_calls(monkeypatch, ui.engine, "analyse")


@pytest.fixture
def preview_calls(monkeypatch) -> Counter:
    """Calls of Analysis.preview_alphas: the body of the Tuning page's fragment (and the Inspector)."""
    return count_calls(monkeypatch, ui.engine.Analysis, "preview_alphas")


# -------------------------------------------------------------------------------------- app helpers


def open_with_photo(name: str, data: bytes, mime: str = "image/png", model: str | None = None) -> AppTest:
    """A new session on the Replace page with `data` uploaded (with `model` chosen, if given); checked clean."""
    at = new_app(model)
    assert_clean(go(at, REPLACE))
    return assert_clean(upload(at, name, data, mime))


def image_by_caption(at: AppTest, caption: str):
    matches = [img for img in at.image if img.proto.imgs[0].caption == caption]
    assert len(matches) == 1, f"expected one image captioned {caption!r}, got {[i.proto.imgs[0].caption for i in at.image]}"
    return matches[0]


def iframes(at: AppTest) -> list:
    return [e for e in at.get("iframe")]


@contextlib.contextmanager
def fragment_rerun(at: AppTest) -> Iterator[None]:
    """Make the next `at.run()` rerun only the page's fragment, as the browser does for its widgets.

    AppTest reruns the whole script after any widget change (its rerun request has no fragment id),
    so a plain AppTest run cannot show that a fragment widget leaves the page body alone. Streamlit's
    own ScriptRunner does rerun one fragment when the rerun request names it; this adds the id of the
    page's registered fragment to the request AppTest builds. The resulting tree holds only what the
    fragment drew (AppTest starts every run with an empty message queue): call `at.run()` afterwards
    to see the full page again.
    """
    import streamlit.testing.v1.local_script_runner as runner_module

    storage = getattr(at, "_fragment_storage", None)
    if not isinstance(getattr(storage, "_fragments", None), dict) or not hasattr(runner_module, "RerunData"):
        pytest.skip("this Streamlit's AppTest keeps its fragments elsewhere: cannot target a fragment")
    fragment_ids = list(storage._fragments)
    assert len(fragment_ids) == 1, f"the page should register exactly one @st.fragment, found {fragment_ids}"
    original = runner_module.RerunData
    runner_module.RerunData = functools.partial(original, fragment_id_queue=fragment_ids)
    try:
        yield
    finally:
        runner_module.RerunData = original


def decode_data_uris(doc: str) -> list[np.ndarray]:
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', doc)
    out = []
    for payload in uris:
        with Image.open(io.BytesIO(base64.b64decode(payload))) as img:
            out.append(np.asarray(img))
    return out


# ------------------------------------------------------------------------------------------- Home


def test_home_renders_title_links_and_demo(media):
    at = new_app()
    assert [t.value for t in at.title] == ["Portrait Studio"]
    assert "never uploaded anywhere" in texts(at.markdown)
    links = at.get("page_link")
    assert [link.proto.label for link in links] == [
        "Replace a background", "Touch up the mask by hand", "Inspect the mask", "Tune the edges", "Process many photos at once"]
    assert [link.proto.page for link in links] == ["Replace_background", "Touch_up", "Mask_inspector", "Refinement_tuning", "Batch"]
    assert all(link.proto.page_script_hash for link in links)
    assert len(at.image) == 0  # no demo output before the click
    # the sidebar shows the default model: the two bundled networks, with what each is good at
    assert at.sidebar.selectbox(key="model").value == "auto"
    assert "auto" in texts(at.sidebar.markdown) and "Good at" in texts(at.sidebar.markdown)
    assert "modnet.onnx" in at.sidebar.caption[0].value and "u2netp.onnx" in at.sidebar.caption[0].value
    assert "recommended" not in at.sidebar.selectbox(key="model").help  # nothing that is not installed is recommended

    assert_clean(at.button(key="demo").click().run())
    assert len(at.image) == 2
    original = image_by_caption(at, "Original: astronaut.jpg")
    cutout = image_by_caption(at, "Cut out (transparent background)")
    with Image.open(ui.state.SAMPLE_PATH) as sample:
        size = sample.size
    assert Image.open(io.BytesIO(media.image_bytes(original))).size == size
    assert Image.open(io.BytesIO(media.image_bytes(cutout))).size == size
    # the cut-out is shown over a checkerboard: it differs from the original
    assert np.abs(media.image(original).astype(int) - media.image(cutout).astype(int)).mean() > 5
    assert len(at.success) == 1 and "Replace a background" in at.success[0].value
    assert at.session_state["photo"].name == "astronaut.jpg"

    # the demo photo is the current photo on the other pages too
    for page in PAGES:
        assert_clean(go(at, page))
        assert len(at.image) >= 2, page


# ---------------------------------------------------------------------------------------- Replace


def test_pages_without_a_photo_say_what_to_do():
    at = new_app()
    assert_clean(go(at, REPLACE))
    assert len(at.image) == 0
    assert "Upload a portrait" in at.info[0].value
    for page in (TOUCHUP, INSPECT, TUNING):
        assert_clean(go(at, page))
        assert len(at.image) == 0
        assert "No photo yet" in at.info[0].value
        assert [link.proto.label for link in at.get("page_link")] == ["Replace background"]

    assert_clean(go(at, REPLACE))
    assert_clean(at.button(key="use_sample").click().run())
    assert len(at.image) == 3
    assert at.session_state["photo"].name == "astronaut.jpg"
    # The button that was clicked is still drawn in the run that handled the click (the page sets the
    # photo after drawing it; reported to the page owners); the next run no longer offers it.
    assert_clean(at.run())
    assert not at.button
    assert len(at.image) == 3


def test_replace_upload_shows_original_mask_result_and_downloads(media, astronaut_png, astronaut_rgb):
    at = open_with_photo("astronaut.png", astronaut_png)
    h, w = astronaut_rgb.shape[:2]

    status = at.status
    assert len(status) == 1
    assert status[0].label == "Done: astronaut.png"
    assert status[0].icon == ":material/check:"  # state="complete"

    assert [img.proto.imgs[0].caption for img in at.image] == ["Original", "Mask", "Result"]
    original, mask, result = (media.image(img) for img in at.image)
    assert original.shape[:2] == mask.shape[:2] == result.shape[:2] == (h, w)
    assert mask.ndim == 2 or mask.shape[2] in (1, 3)
    # the original is shown as decoded (up to the display encoding)
    assert np.abs(original.astype(int) - astronaut_rgb.astype(int)).mean() < 4
    # the mask finds a subject and a background
    assert (mask > 200).mean() > 0.1 and (mask < 50).mean() > 0.1
    # the default background is white: the result is not the original, and is white where the mask is 0
    assert np.abs(result.astype(int) - original.astype(int)).mean() > 10
    flat_mask = mask if mask.ndim == 2 else mask[..., 0]
    assert result[flat_mask < 5].mean() > 240

    expander = timings(at)
    assert expander.label == "Timings per stage"
    table = expander.markdown[0].value
    listed = re.findall(r"^\| (\w+) \| \d+ ms \| – \|$", table, flags=re.M)
    assert listed == ["decode", "preprocess", "inference", "resize", "refine", "composite"]  # encode: on click
    assert "Model auto" in expander.caption[0].value
    # A rerun reuses the network output and the refined mask: their times are shown as the earlier run's.
    assert_clean(at.run())
    table = timings(at).markdown[0].value
    assert re.findall(r"^\| (\w+) \| – \| \d+ ms \|$", table, flags=re.M) == [
        "decode", "preprocess", "inference", "resize", "refine"
    ]
    assert re.search(r"^\| composite \| \d+ ms \| – \|$", table, flags=re.M)

    buttons = {b.key: b for b in at.get("download_button")}
    assert {key: b.label for key, b in buttons.items()} == {
        "download_png": "Result (PNG)",
        "download_jpeg": "Result (JPEG)",
        "download_cutout": "Cut-out (transparent PNG)",
        "download_mask": "Mask (PNG)",
        "download_webp": "Result (WebP)",
        **({"download_avif": "Result (AVIF)"} if AVIF_SUPPORTED else {}),
    }
    expected = {"download_png": ("PNG", "RGB"), "download_jpeg": ("JPEG", "RGB"),
                "download_cutout": ("PNG", "RGBA"), "download_mask": ("PNG", "L"), "download_webp": ("WEBP", "RGB"),
                **({"download_avif": ("AVIF", "RGB")} if AVIF_SUPPORTED else {})}
    for key, (fmt, mode) in expected.items():
        with Image.open(io.BytesIO(media.download(buttons[key]))) as img:
            assert (img.format, img.mode, img.size) == (fmt, mode, (w, h)), key


@pytest.mark.parametrize("kind", ["transparent", "blur", "color", "image"])
def test_replace_background_choices_rerender(media, astronaut_png, kind):
    at = open_with_photo("astronaut.png", astronaut_png)
    white = media.image(image_by_caption(at, "Result"))
    radio = at.radio(key="background_kind")
    assert radio.options == ["Colour", "Blurred original", "Transparent", "Image"]
    assert radio.value == "color"
    assert_clean(radio.set_value(kind).run())
    assert at.radio(key="background_kind").value == kind
    assert at.session_state["background_kind"] == kind
    assert [img.proto.imgs[0].caption for img in at.image] == ["Original", "Mask", "Result"]
    # the colour picker is shown for "color" only, the background uploader for "image" only
    assert len(at.color_picker) == (1 if kind == "color" else 0)
    assert len(at.get("file_uploader")) == (2 if kind == "image" else 1)

    if kind == "image":
        assert "white until then" in texts(at.caption)
        blue = np.zeros((100, 160, 3), np.uint8)
        blue[..., 2] = 255
        assert_clean(upload(at, "blue.png", encode(blue, "PNG"), key="background_upload"))
    result = media.image(image_by_caption(at, "Result"))
    mask = media.image(image_by_caption(at, "Mask"))
    mask = mask if mask.ndim == 2 else mask[..., 0]
    background = result[mask < 5].astype(int)
    if kind == "color":  # still the default white
        assert background.mean() > 240
        assert_clean(at.color_picker(key="background_color").pick("#00FF00").run())
        green = media.image(image_by_caption(at, "Result"))[mask < 5].astype(int)
        assert np.abs(green - [0, 255, 0]).mean() < 25
    else:
        assert np.abs(result.astype(int) - white.astype(int)).mean() > 5, kind
    if kind == "blur":  # the blurred photo, not white
        assert background.mean() < 220
    if kind == "transparent":  # shown over the 255/204 grey checkerboard
        assert (np.ptp(background, axis=1) < 20).mean() > 0.9  # neutral grey
        assert (np.abs(background.mean(axis=1) - 204) < 20).mean() > 0.2
        assert (background.mean(axis=1) > 235).mean() > 0.2
        with Image.open(io.BytesIO(media.download(at.get("download_button")[0]))) as img:
            assert img.mode == "RGBA"
        with Image.open(io.BytesIO(media.download(at.get("download_button")[1]))) as img:
            assert img.mode == "RGB"  # JPEG: put on white
    if kind == "image":
        assert np.abs(background - [0, 0, 255]).mean() < 30


# ---------------------------------------------------------------- the network runs once per photo


PASSES = 2 if InferenceSettings().flip else 1  # forward passes per photo: the mirrored pass is on by default


def test_network_runs_once_per_photo_across_pages_and_tuning(
    media, forward_calls, analyse_calls, preview_calls, unique_portrait_png
):
    image, data = unique_portrait_png
    h, w = image.shape[:2]
    at = open_with_photo("portrait.png", data)
    assert forward_calls.calls == PASSES
    # a non-square photo keeps its orientation on every picture
    for img in at.image:
        assert media.image(img).shape[:2] == (h, w)
    # the expander does not claim the output was cached: it was computed in this run
    assert not re.search(r"\| \d+ ms \|$", timings(at).markdown[0].value, flags=re.M)  # no earlier-run time

    assert_clean(at.radio(key="background_kind").set_value("blur").run())
    assert forward_calls.calls == PASSES
    assert_clean(go(at, INSPECT))
    assert len(iframes(at)) == 1
    assert forward_calls.calls == PASSES
    assert_clean(go(at, TUNING))
    assert forward_calls.calls == PASSES
    preview = media.image_bytes(image_by_caption(at, "Refined mask (preview)"))

    # AppTest reruns the WHOLE page after a widget change, also for a widget inside @st.fragment
    # (its rerun request carries no fragment id). The page body therefore calls analyse() again;
    # analyse() finds the network output in the cache, so the network still ran once.
    analyses, previews = analyse_calls.calls, preview_calls.calls
    assert_clean(at.slider(key=refine_key("feather_sigma_pct")).set_value(2.0).run())
    assert (analyse_calls.calls, preview_calls.calls) == (analyses + 1, previews + 1)
    assert forward_calls.calls == PASSES
    changed = media.image_bytes(image_by_caption(at, "Refined mask (preview)"))
    assert changed != preview

    assert_clean(at.toggle(key=refine_key("levels")).set_value(False).run())
    assert at.session_state[refine_key("levels")] is False
    assert forward_calls.calls == PASSES
    toggled = media.image_bytes(image_by_caption(at, "Refined mask (preview)"))
    assert toggled not in (preview, changed)

    # In the browser the same change reruns only the fragment: the fragment body runs
    # (preview_alphas), the page body does not (analyse, the title, the preset uploader).
    analyses, previews = analyse_calls.calls, preview_calls.calls
    with fragment_rerun(at):
        assert_clean(at.slider(key=refine_key("feather_sigma_pct")).set_value(0.5).run())
    assert analyse_calls.calls == analyses
    assert preview_calls.calls == previews + 1
    assert forward_calls.calls == PASSES
    assert not at.title and not at.get("file_uploader")  # only the fragment's elements were drawn
    assert at.slider(key=refine_key("feather_sigma_pct")).value == pytest.approx(0.5)
    fragment_preview = media.image_bytes(image_by_caption(at, "Refined mask (preview)"))
    assert fragment_preview not in (preview, changed, toggled)
    assert len(at.metric) == 1

    assert_clean(at.run())  # a full run shows the whole page again, with the fragment's state
    assert [t.value for t in at.title] == ["Refinement tuning"]
    assert media.image_bytes(image_by_caption(at, "Refined mask (preview)")) == fragment_preview
    assert_clean(go(at, REPLACE))
    assert "cached" in timings(at).caption[0].value
    assert forward_calls.calls == PASSES


def test_model_loads_once_and_every_page_shares_it(monkeypatch, analyse_calls, astronaut_png):
    # Start from an empty model store and an empty st.cache_resource entry, and count weight loads.
    monkeypatch.setattr(core.segmentation, "_segmenters", {})
    loads = count_calls(monkeypatch, core.segmentation, "load_weights")
    ui.engine.shared_segmenter.clear()
    try:
        at = open_with_photo("astronaut.png", astronaut_png)
        assert_clean(go(at, INSPECT))
        assert_clean(go(at, TUNING))
        second = new_app()  # another browser session
        assert_clean(second.button(key="demo").click().run())
        assert loads.calls == 2  # the default model's two networks, once each
        segmenters = {id(args[1]) for args in analyse_calls.args}
        assert len(segmenters) == 1 and analyse_calls.calls >= 4
        shared = analyse_calls.args[0][1]
        assert ui.engine.shared_segmenter("auto") is shared
        assert list(core.segmentation._segmenters) == [("modnet", "cpu", None), ("u2netp", "cpu", None)]
        assert list(shared.members.values()) == list(core.segmentation._segmenters.values())
    finally:
        ui.engine.shared_segmenter.clear()  # later tests get the segmenter of the restored store


def test_sidebar_model_without_weights_falls_back_to_bundled(monkeypatch, tmp_path, forward_calls, astronaut_png):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))  # nothing downloaded: only the bundled u2netp exists
    at = open_with_photo("astronaut.png", astronaut_png)
    calls = forward_calls.calls
    assert_no_exception(at.sidebar.selectbox(key="model").set_value("u2net").run())
    assert not at.error
    assert "not on this machine yet" in at.sidebar.info[0].value
    assert "using **auto** meanwhile" in at.sidebar.info[0].value
    assert at.sidebar.button(key="download_weights").label.startswith("Download ")
    assert len(at.image) == 3 and "Model auto" in timings(at).caption[0].value
    assert forward_calls.calls == calls  # same model, same photo: served from the cache


# ---------------------------------------------------------------------- state carries across pages


def test_state_carries_across_pages(media, astronaut_png):
    at = open_with_photo("astronaut.png", astronaut_png)
    assert_clean(at.color_picker(key="background_color").pick("#00FF00").run())
    mask_before = media.image(image_by_caption(at, "Mask"))
    result_before = media.image_bytes(image_by_caption(at, "Result"))

    assert_clean(go(at, TUNING))
    default_levels = RefineSettings().levels
    assert at.toggle(key=refine_key("levels")).value is default_levels
    assert_clean(at.toggle(key=refine_key("levels")).set_value(not default_levels).run())
    assert_clean(at.slider(key=refine_key("feather_sigma_pct")).set_value(1.5).run())

    assert_clean(go(at, REPLACE))
    assert at.file_uploader(key="photo_upload").value in (None, [])  # no new upload ...
    assert [img.proto.imgs[0].caption for img in at.image] == ["Original", "Mask", "Result"]  # ... same photo
    assert at.session_state["photo"].name == "astronaut.png"
    assert at.radio(key="background_kind").value == "color"
    assert at.color_picker(key="background_color").value.upper() == "#00FF00"
    assert at.session_state[ui.state.stored_key(refine_key("feather_sigma_pct"))] == pytest.approx(1.5)
    assert at.session_state[ui.state.stored_key(refine_key("levels"))] is (not default_levels)
    mask_after = media.image(image_by_caption(at, "Mask"))
    assert mask_after.shape == mask_before.shape
    assert np.abs(mask_after.astype(int) - mask_before.astype(int)).mean() > 1  # the refinement applies
    assert media.image_bytes(image_by_caption(at, "Result")) != result_before
    background = media.image(image_by_caption(at, "Result"))[(mask_after if mask_after.ndim == 2 else mask_after[..., 0]) < 5]
    assert np.abs(background.astype(int) - [0, 255, 0]).mean() < 25  # the colour is kept

    # and the Tuning page shows what was set there
    assert_clean(go(at, TUNING))
    assert at.slider(key=refine_key("feather_sigma_pct")).value == pytest.approx(1.5)
    assert at.toggle(key=refine_key("levels")).value is (not default_levels)


# ------------------------------------------------------------------------------------------ Tuning


@pytest.fixture
def tuning(media, astronaut_png) -> AppTest:
    """A session on the Tuning page with the astronaut uploaded (after `media`, so its images are kept)."""
    at = open_with_photo("astronaut.png", astronaut_png)
    return assert_clean(go(at, TUNING))


def test_tuning_preview_background_toggle(tuning, media):
    """On the default white background a white-backdrop photo shows no change: dark, checkerboard and the mask overlay do."""
    at = tuning
    white = media.image(image_by_caption(at, "Result (preview)"))
    assert white[:10, :10].min() > 240  # the corner is background: white
    corners = {}
    for choice in ("dark", "checkerboard", "mask"):
        assert_clean(at.button_group(key="tuning_preview_background").set_value(choice).run())
        corners[choice] = media.image(image_by_caption(at, "Result (preview)"))[:40, :40].astype(int)
    assert corners["dark"].max() < 40
    assert corners["checkerboard"].std() > 20  # light and dark squares
    red, green = corners["mask"][..., 0].mean(), corners["mask"][..., 1].mean()
    assert red > green + 60  # background tinted red over the photo


def test_tuning_shows_basic_settings_first_and_the_rest_under_advanced(tuning):
    at = tuning
    advanced = at.expander[0]
    assert advanced.label.startswith("Advanced")
    inside = {w.key for w in [*advanced.slider, *advanced.toggle]}
    basic = {"refine_matting": "Best hair and edges (a little slower)", "refine_feather_sigma_pct": "Edge softness",
             "refine_black_point": "Drop faint haze around the person",
             "finish_decontaminate_strength": "Remove the old background's colour from the edge"}
    widgets = {w.key: w for w in [*at.slider, *at.toggle]}
    for key, label in basic.items():
        assert key not in inside and widgets[key].label == label
        assert f"(`{key.split('_', 1)[1]}`)" in widgets[key].help  # the engineering name in the help text
    assert set(widgets) - set(basic) == inside  # everything else is under Advanced


def test_tuning_widgets_cover_every_setting(tuning, media):
    at = tuning
    for cls in (RefineSettings, FinishSettings):  # the default model's network input is fixed (no widgets)
        defaults = cls().to_dict()
        for spec in cls.field_specs():
            key = ui.state.settings_key(cls, spec.name)
            widget = at.toggle(key=key) if spec.type is bool else at.slider(key=key)
            assert widget.value == pytest.approx(defaults[spec.name]), spec.name
            if spec.type is not bool:
                assert (widget.min, widget.max, widget.step) == pytest.approx((spec.min, spec.max, spec.step)), spec.name
    metric = at.metric[0]
    assert metric.label == "Refinement time for this update"
    assert re.fullmatch(r"\d+ ms", metric.value)
    assert "512×512" in metric.proto.help
    previews = [image_by_caption(at, c) for c in ("Refined mask (preview)", "Result (preview)")]
    assert all(media.image(p).shape[:2] == (512, 512) for p in previews)
    assert [b.key for b in at.get("download_button")] == ["tuning_mask", "tuning_cutout", "save_preset"]
    saved = json.loads(media.download(at.get("download_button")[2]))
    # The whole recipe: this page's settings, and the Replace page's framing, shadow, blur and output file.
    assert saved == {name: cls().to_dict() for name, cls in PRESET_GROUPS.items() if name != "inference"}
    assert "Defaults in force: **auto**'s (the shared defaults)" in texts(at.caption)
    with Image.open(io.BytesIO(media.download(at.get("download_button")[1]))) as img:
        assert (img.mode, img.size) == ("RGBA", (512, 512))
    assert "the ones the Replace page uses" in texts(at.caption)


def test_a_single_network_brings_its_own_defaults_and_network_input(media, astronaut_png):
    at = open_with_photo("astronaut.png", astronaut_png, model="u2netp")
    assert_clean(go(at, TUNING))
    spec = core.weights.REGISTRY["u2netp"]
    for cls in (InferenceSettings, RefineSettings):  # inference: in the sidebar
        defaults = cls.for_model(spec).to_dict()
        for field in cls.field_specs():
            key = ui.state.settings_key(cls, field.name)
            widget = at.toggle(key=key) if field.type is bool else at.slider(key=key)
            assert widget.value == pytest.approx(defaults[field.name]), field.name
    assert at.toggle(key=refine_key("edge_aware")).value is True  # U²-Net's own: edge snapping on
    assert "Defaults in force: **u2netp**'s (measured for it: edge_aware, main_subject, matting_band_pct)" in texts(at.caption)
    saved = json.loads(media.download(at.get("download_button")[2]))
    assert saved["inference"] == InferenceSettings.for_model(spec).to_dict()
    # a value the user changed is kept across a model switch; the others follow the new model's defaults
    assert_clean(at.slider(key=refine_key("feather_sigma_pct")).set_value(0.7).run())
    assert_clean(at.sidebar.selectbox(key="model").set_value("modnet").run())
    assert at.slider(key=refine_key("feather_sigma_pct")).value == pytest.approx(0.7)
    assert at.toggle(key=refine_key("edge_aware")).value is RefineSettings().edge_aware
    assert at.slider(key=ui.state.settings_key(InferenceSettings, "input_size")).value == 384  # MODNet's measured sizes
    assert at.slider(key=ui.state.settings_key(InferenceSettings, "mirror_size")).value == 320


def test_tuning_reset_restores_defaults(tuning):
    at = tuning
    default = RefineSettings().feather_sigma_pct
    assert_clean(at.slider(key=refine_key("feather_sigma_pct")).set_value(1.25).run())
    assert_clean(at.toggle(key=refine_key("opening")).set_value(False).run())
    assert at.slider(key=refine_key("feather_sigma_pct")).value == pytest.approx(1.25)
    assert_clean(at.button(key="reset").click().run())
    assert at.slider(key=refine_key("feather_sigma_pct")).value == pytest.approx(default)
    assert at.toggle(key=refine_key("opening")).value is True
    assert at.session_state[refine_key("feather_sigma_pct")] == pytest.approx(default)


def test_tuning_preset_upload_applies_values(tuning, media):
    at = tuning
    before = media.image_bytes(image_by_caption(at, "Refined mask (preview)"))
    preset = {"feather_sigma_pct": 0.5, "levels": False, "closing_size_pct": 2.0}
    upload(at, "soft.json", json.dumps(preset).encode(), "application/json", key="preset_upload")
    assert_no_exception(at)
    assert not at.error
    assert "Loaded preset soft.json" in at.success[0].value
    assert at.slider(key=refine_key("feather_sigma_pct")).value == pytest.approx(0.5)
    assert at.slider(key=refine_key("closing_size_pct")).value == pytest.approx(2.0)
    assert at.toggle(key=refine_key("levels")).value is False
    assert at.slider(key=refine_key("black_point")).value == pytest.approx(RefineSettings().black_point)
    assert media.image_bytes(image_by_caption(at, "Refined mask (preview)")) != before
    saved = json.loads(media.download(at.get("download_button")[2]))
    assert saved == {  # round trip: every group of the default model, the flat (older) preset's values under "refine"
        **{name: cls().to_dict() for name, cls in PRESET_GROUPS.items() if name != "inference"},
        "refine": RefineSettings(**preset).to_dict(),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not a Portrait Studio preset"),
        (b'{"black_point": 5}', "Setting 'black_point' is 5.0; choose a value between 0.0 and 0.99"),
        (b'{"black_point": 1' + b"0" * 400 + b"}", "Setting 'black_point' is inf"),  # OverflowError before
        (b"[" * 100_000 + b"]" * 100_000, "a small JSON file"),
        (b"[" * 30_000 + b"]" * 30_000, "nests too deeply"),  # RecursionError before
        (b'{"sharpness": 1}', "Unknown refinement setting"),
        (b"[1, 2, 3]", "mapping"),
    ],
)
def test_tuning_invalid_preset_shows_error(tuning, content, message):
    at = tuning
    assert_clean(at.slider(key=refine_key("feather_sigma_pct")).set_value(0.7).run())
    upload(at, "bad.json", content, "application/json", key="preset_upload")
    assert_no_exception(at)
    assert len(at.error) == 1
    assert md_escape("Could not load bad.json:") in at.error[0].value
    assert md_escape(message) in at.error[0].value  # shown as escaped markdown
    # the settings are left as they were and the page still works
    assert at.slider(key=refine_key("feather_sigma_pct")).value == pytest.approx(0.7)
    assert len(at.metric) == 1 and len(at.image) == 2


def test_tuning_black_point_above_white_point_warns_and_keeps_working(tuning):
    at = tuning
    assert_clean(at.slider(key=refine_key("black_point")).set_value(0.95).run())
    assert_no_exception(at.slider(key=refine_key("white_point")).set_value(0.5).run())
    assert not at.error
    assert any("Using the defaults" in w.value for w in at.warning)
    assert len(at.image) == 2


# --------------------------------------------------------------------------------------- Inspector


def test_inspector_modes_heatmap_histogram_and_zoom(media, astronaut_png):
    at = open_with_photo("astronaut.png", astronaut_png)
    assert_clean(go(at, INSPECT))
    radio = at.radio(key="inspect_mode")
    assert radio.value == "result"
    expected_labels = {"result": ("Original", "Result"), "overlay": ("Original", "Mask overlay"),
                       "masks": ("Raw network mask", "Refined mask")}
    docs = {}
    for mode, (left, right) in expected_labels.items():
        assert_clean(at.radio(key="inspect_mode").set_value(mode).run())
        frames = iframes(at)
        assert len(frames) == 1, mode
        doc = frames[0].proto.srcdoc
        assert doc.count("data:image/png;base64,") == 2, mode
        assert f'<span class="label l">{left}</span>' in doc and f'<span class="label r">{right}</span>' in doc
        assert f'alt="{left}"' in doc and f'alt="{right}"' in doc
        before, after = decode_data_uris(doc)
        assert before.shape[:2] == after.shape[:2] == (512, 512), mode
        docs[mode] = doc
    assert len(set(docs.values())) == 3

    heat = image_by_caption(at, "Heat-map of the uncertain band (0.05 < alpha < 0.95) over the greyed photo")
    assert media.image(heat).shape[:2] == (512, 512)
    assert at.metric[0].label == "Uncertain pixels (refined / raw)"
    assert re.fullmatch(r"\d+\.\d\d%", at.metric[0].value)
    charts = at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    assert len(charts) == 1
    assert "log10(1 + count)" in texts(at.caption)

    captions = ("Original", "Raw mask", "Refined mask", "Result")
    crops = {c: media.image_bytes(image_by_caption(at, c)) for c in captions}
    for caption in captions:
        assert media.image(image_by_caption(at, caption)).shape[:2] == (256, 256), caption
    where = media.image_bytes(image_by_caption(at, "Where the crop is"))

    assert_clean(at.slider(key="zoom_x").set_value(0.1).run())
    moved = media.image_bytes(image_by_caption(at, "Original"))
    assert moved != crops["Original"]
    assert media.image_bytes(image_by_caption(at, "Where the crop is")) != where
    assert_clean(at.slider(key="zoom_y").set_value(0.9).run())
    assert media.image_bytes(image_by_caption(at, "Original")) not in (moved, crops["Original"])
    assert_clean(at.select_slider(key="zoom_size").set_value(128).run())
    assert media.image(image_by_caption(at, "Refined mask")).shape[:2] == (128, 128)

    # overlay settings change the overlay comparison
    assert_clean(at.radio(key="inspect_mode").set_value("overlay").run())
    assert_clean(at.slider(key="overlay_opacity").set_value(1.0).run())
    assert iframes(at)[0].proto.srcdoc != docs["overlay"]


# ------------------------------------------------------------------------------------ photo quirks


def test_transparent_png_keeps_its_cut_away_pixels(media):
    """A PNG's own transparency caps the mask on the Replace page and in the Tuning preview."""
    rgb = synthetic_portrait(240, 200)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :60] = 0  # the user already cut the left strip away
    at = open_with_photo("cut.png", encode(np.dstack([rgb, alpha]), "PNG"))
    mask = media.image(image_by_caption(at, "Mask"))
    mask = mask if mask.ndim == 2 else mask[..., 0]
    assert mask.shape == (240, 200)
    assert mask[:, :50].max() < 10
    assert_clean(go(at, TUNING))
    preview = media.image(image_by_caption(at, "Refined mask (preview)"))
    preview = preview if preview.ndim == 2 else preview[..., 0]
    assert preview[:, :50].max() < 10


def test_exif_rotated_jpeg_is_turned_upright_with_a_note(media):
    rgb = synthetic_portrait(160, 240)  # stored landscape, shown portrait
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(rgb, "JPEG", quality=90, exif=exif.tobytes())
    at = open_with_photo("rotated.jpg", data, "image/jpeg")
    assert "Note: turned upright using EXIF orientation 6" in texts(at.caption)
    for img in at.image:
        assert media.image(img).shape[:2] == (240, 160)


# ------------------------------------------------------------------------------------------ Errors


def test_not_an_image_shows_error_then_a_good_photo_works(astronaut_png):
    at = new_app()
    assert_clean(go(at, REPLACE))
    assert_no_exception(upload(at, "notes.png", b"hello, not an image"))
    assert len(at.error) >= 1
    assert "not an image Portrait Studio can read" in texts(at.error)
    assert len(at.image) == 0
    assert "'notes.png'" in texts(at.error)  # the message names the file
    for page in (INSPECT, TUNING):  # the bad file never became the current photo
        assert_clean(go(at, page))
        assert "No photo yet" in texts(at.info)
    assert_no_exception(go(at, REPLACE))

    assert_clean(upload(at, "astronaut.png", astronaut_png))
    assert [img.proto.imgs[0].caption for img in at.image] == ["Original", "Mask", "Result"]
    assert at.session_state["photo"].name == "astronaut.png"


def test_removing_a_failed_upload_clears_the_error():
    at = new_app()
    assert_clean(go(at, REPLACE))
    assert_no_exception(upload(at, "notes.png", b"hello, not an image"))
    assert at.error
    assert_no_exception(at.file_uploader(key="photo_upload").set_value(None).run())
    assert not at.error
    assert at.button(key="use_sample")


def test_removing_a_failed_background_image_restores_the_result():
    at = new_app()
    assert_clean(at.button(key="demo").click().run())
    assert_clean(go(at, REPLACE))
    assert_clean(at.radio(key="background_kind").set_value("image").run())
    assert_no_exception(upload(at, "bg.png", b"not a picture", key="background_upload"))
    assert at.error
    assert_no_exception(at.file_uploader(key="background_upload").set_value(None).run())
    assert not at.error
    assert len(at.image) == 3


def test_a_strip_background_is_refused_with_a_message_and_the_result_stays():
    """A 140-byte 20000×1 PNG used to be scaled to 20000×600 px before cropping (5 GB): now refused from its header."""
    at = new_app()
    assert_clean(at.button(key="demo").click().run())
    assert_clean(go(at, REPLACE))
    assert_clean(at.radio(key="background_kind").set_value("image").run())
    strip = io.BytesIO()
    Image.new("RGB", (20000, 1), (0, 90, 200)).save(strip, "PNG")
    assert_no_exception(upload(at, "strip.png", strip.getvalue(), key="background_upload"))
    assert "20000x1 pixels" in texts(at.error) and md_escape("up to 50:1") in texts(at.error)
    assert len(at.image) == 3  # the result is still shown, on white until a usable background comes


def test_truncated_jpeg_shows_error(astronaut_jpeg):
    at = new_app()
    assert_clean(go(at, REPLACE))
    assert_no_exception(upload(at, "cut.jpg", astronaut_jpeg[: len(astronaut_jpeg) // 2], "image/jpeg"))
    assert "truncated or corrupt" in texts(at.error)
    assert len(at.image) == 0


def test_oversize_upload_shows_error(astronaut_png):
    at = new_app()
    assert_clean(go(at, REPLACE))
    too_big = b"\x00" * (ui.state.MAX_UPLOAD_MB * 1024 * 1024 + 1)
    assert_no_exception(upload(at, "huge.png", too_big))
    assert f"larger than the {ui.state.MAX_UPLOAD_MB} MB upload limit" in texts(at.error)
    assert "photo" not in at.session_state
    assert len(at.image) == 0


def test_every_page_is_clean_after_each_upload(astronaut_jpeg):
    """A JPEG upload through the whole app: no page ever shows an exception or an error."""
    at = open_with_photo("astronaut.jpg", astronaut_jpeg, "image/jpeg")
    for page in (INSPECT, TUNING, REPLACE, INSPECT):
        assert_clean(go(at, page))
    assert_clean(at.switch_page("Home.py").run())
    assert len(at.get("page_link")) == 5


HOSTILE_NAME = "[click](javascript:alert(1)) <b>bold</b> **x**.png"


def test_file_names_are_escaped_in_labels_captions_and_errors(astronaut_png):
    at = new_app()
    assert_clean(go(at, REPLACE))
    assert_clean(upload(at, HOSTILE_NAME, astronaut_png))
    label = at.status[0].label
    shown = "\n".join([label] + [str(c.value) for c in at.caption])
    assert "\\[click\\](javascript\\:alert(1)) \\<b\\>bold\\</b\\> \\*\\*x\\*\\*.png" in label
    unescaped = re.compile(r"(?<!\\)(<b>|\]\(javascript|\*\*x)")
    assert not unescaped.search(shown)
    assert_no_exception(upload(at, HOSTILE_NAME, b"not an image"))
    assert "\\<b\\>bold\\</b\\>" in texts(at.error) and not unescaped.search(texts(at.error))


@pytest.mark.parametrize(
    "switch", ["inference.pad", "refine.edge_aware", "refine.main_subject", "finish.decontaminate", "finish.light_wrap"]
)
def test_inspector_shows_each_setting_off_and_on(media, astronaut_png, switch):
    single = switch.startswith("inference.")  # network-input switches exist for a single network only
    at = open_with_photo("astronaut.png", astronaut_png, model="u2netp" if single else None)
    assert_clean(go(at, INSPECT))
    assert_clean(at.radio(key="inspect_mode").set_value("option").run())
    options = at.selectbox(key="inspect_switch").options
    classes = (InferenceSettings, RefineSettings, FinishSettings) if single else (RefineSettings, FinishSettings)
    assert len(options) == sum(spec.type is bool for cls in classes for spec in cls.field_specs())
    assert_clean(at.selectbox(key="inspect_switch").set_value(switch).run())
    doc = iframes(at)[0].proto.srcdoc
    classes = (InferenceSettings, RefineSettings, FinishSettings)
    label = next(s.label for cls in classes for s in cls.field_specs() if switch.endswith("." + s.name))
    assert f">{label}: off</span>" in doc and f">{label}: on</span>" in doc
    before, after = decode_data_uris(doc)
    assert before.shape == after.shape
    if switch != "refine.main_subject":  # the astronaut has one subject: dropping strays may change nothing
        assert not np.array_equal(before, after)


def test_inspector_compares_the_networks_with_the_decision_in_words(media, astronaut_png):
    at = open_with_photo("astronaut.png", astronaut_png)
    assert_clean(go(at, INSPECT))
    assert_clean(at.radio(key="inspect_mode").set_value("networks").run())
    names = at.selectbox(key="inspect_net_left").options
    assert names == ["u2netp (raw)", "modnet (raw)", "auto: modnet, refined"]
    doc = iframes(at)[0].proto.srcdoc
    assert ">u2netp (raw)</span>" in doc and ">auto: modnet, refined</span>" in doc
    before, after = decode_data_uris(doc)
    assert before.shape == after.shape and not np.array_equal(before, after)
    assert "For this photo, auto uses modnet" in at.info[0].value and "mirror image" in at.info[0].value
    assert_clean(at.selectbox(key="inspect_net_left").set_value("modnet (raw)").run())
    assert ">modnet (raw)</span>" in iframes(at)[0].proto.srcdoc
    # with a single network chosen, the view still compares both networks and the default combination
    assert_clean(at.sidebar.selectbox(key="model").set_value("u2netp").run())
    assert "For this photo, auto uses modnet" in at.info[0].value


def test_network_input_settings_in_the_sidebar_rerun_the_network_once(media, forward_calls, unique_portrait_png):
    _, png = unique_portrait_png
    at = open_with_photo("portrait.png", png, model="u2netp")
    assert_clean(go(at, TUNING))
    calls = forward_calls.calls
    assert calls == 2  # by default the photo and its mirror image
    flip = ui.state.settings_key(InferenceSettings, "flip")
    before = media.image_bytes(image_by_caption(at, "Refined mask (preview)"))
    assert at.sidebar.toggle(key=flip).value is True
    assert_clean(at.sidebar.toggle(key=flip).set_value(False).run())
    assert forward_calls.calls == calls + 1  # the photo alone
    assert media.image_bytes(image_by_caption(at, "Refined mask (preview)")) != before
    assert_clean(go(at, REPLACE))
    assert forward_calls.calls == calls + 1  # other pages reuse that network output
    assert_clean(go(at, TUNING))
    assert_clean(at.sidebar.toggle(key=flip).set_value(True).run())
    assert forward_calls.calls == calls + 1  # back to the first output: still cached
    assert media.image_bytes(image_by_caption(at, "Refined mask (preview)")) == before


# --------------------------------------------------------------------------------------- Touch-up


def _history(at: AppTest) -> ui.state.EditHistory:
    """The current photo's touch-up history in the app's session (created by the Touch-up page)."""
    return at.session_state[ui.state.EDITS][at.session_state["photo"].digest]


def _mask_download(media, at: AppTest) -> np.ndarray:
    assert_clean(go(at, REPLACE))
    button = next(b for b in at.get("download_button") if b.key == "download_mask")
    with Image.open(io.BytesIO(media.download(button))) as img:
        return np.asarray(img)


def test_touch_up_edits_reach_every_download_and_undo_takes_them_back(media, astronaut_png):
    from core.touchup import Edit, edits_to_json

    at = open_with_photo("astronaut.png", astronaut_png)
    before = _mask_download(media, at)
    assert_clean(go(at, TOUCHUP))
    assert len(at.get("bidi_component")) == 1  # the canvas
    assert at.radio(key=ui.state.TOUCHUP_TOOL).value == "erase" and at.toggle(key=ui.state.TOUCHUP_SNAP).value is True
    assert at.button(key="touchup_undo").disabled and at.button(key="touchup_clear").disabled
    # what the canvas's callback records: an erase stroke across the face (solid subject in the raw mask)
    stroke = Edit("erase", ((0.45, 0.25), (0.55, 0.25)), 0.04)
    _history(at).change((stroke,))
    assert_clean(at.run())
    assert "1 edit on astronaut.png" in texts(at.caption)
    assert json.loads(media.download(next(b for b in at.get("download_button") if b.key == "touchup_save"))) == \
        json.loads(edits_to_json((stroke,)))
    after = _mask_download(media, at)
    row, col = int(0.25 * 512), int(0.5 * 512)
    assert before[row, col] == 255 and after[row, col] == 0
    far = np.ones_like(before, bool)
    far[row - 60:row + 60, int(0.4 * 512):int(0.6 * 512)] = False
    np.testing.assert_array_equal(after[far], before[far])  # nothing else moved
    # the Inspector and the Tuning page show the edited mask too
    assert_clean(go(at, INSPECT))
    assert_clean(go(at, TUNING))
    refined = media.image(image_by_caption(at, "Refined mask (preview)"))
    assert refined[row, col] == 0
    # undo on the Touch-up page brings the mask back; redo re-applies it
    assert_clean(go(at, TOUCHUP))
    assert_clean(at.button(key="touchup_undo").click().run())
    np.testing.assert_array_equal(_mask_download(media, at), before)
    assert_clean(go(at, TOUCHUP))
    assert_clean(at.button(key="touchup_redo").click().run())
    assert _mask_download(media, at)[row, col] == 0
    assert_clean(go(at, TOUCHUP))
    assert_clean(at.button(key="touchup_clear").click().run())
    assert "0 edits" in texts(at.caption)


def test_a_bad_edits_file_says_what_is_wrong_and_changes_nothing(astronaut_png):
    at = open_with_photo("astronaut.png", astronaut_png)
    assert_clean(go(at, TOUCHUP))
    good = b'{"version": 1, "edits": [{"mode": "restore", "radius": 0.03, "points": [[0.1, 0.9]]}]}'
    assert_clean(upload(at, "good.json", good, "application/json", key="touchup_load"))
    assert "Loaded 1 edits from good.json" in texts(at.success)
    loaded = _history(at).edits
    bad = b'{"version": 1, "edits": [{"mode": "paint", "radius": 0.03, "points": [[0.1, 0.9]]}]}'
    assert_no_exception(upload(at, "bad.json", bad, "application/json", key="touchup_load"))
    message = texts(at.error)
    assert "Could not load bad.json" in message and "'mode' must be 'erase' or 'restore'" in message
    assert "Your edits are unchanged" in message
    assert _history(at).edits == loaded
    assert_no_exception(upload(at, "junk.json", b"not json", "application/json", key="touchup_load"))
    assert "not valid JSON" in texts(at.error)
    assert _history(at).edits == loaded


# -------------------------------------------------------------------------------- recipes travel


def test_the_same_preset_gives_byte_identical_files_from_the_dashboard_and_the_cli(tuning, media, astronaut_png, tmp_path):
    from core.cli import run
    from core.presets import preset_to_json

    preset = preset_to_json(RefineSettings(feather_sigma_pct=0.5, black_point=0.2), FinishSettings(decontaminate_strength=0.5))
    at = assert_clean(upload(tuning, "recipe.json", preset.encode(), "application/json", key="preset_upload"))
    assert_clean(go(at, REPLACE))
    buttons = {b.key: b for b in at.get("download_button")}
    (tmp_path / "recipe.json").write_text(preset)
    (tmp_path / "astronaut.png").write_bytes(astronaut_png)
    for key, command, name in (("download_mask", "mask", "m.png"), ("download_cutout", "cutout", "c.png")):
        status = run([command, str(tmp_path / "astronaut.png"), "-o", str(tmp_path / name), "--preset", str(tmp_path / "recipe.json")])
        assert status == 0
        assert media.download(buttons[key]) == (tmp_path / name).read_bytes(), key


# ------------------------------------------------------------------------------------------- Batch


def _batch_uploads(astronaut_rgb) -> list[tuple[str, bytes, str]]:
    """Five photos and a ZIP of three, one of them broken."""
    import zipfile

    photos = [(f"p{i}.jpg", encode(np.roll(astronaut_rgb, 50 * i, axis=1), "JPEG", quality=90), "image/jpeg") for i in range(5)]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("shoot/z0.jpg", encode(astronaut_rgb[:, ::-1], "JPEG", quality=90))
        zipped.writestr("shoot/z1.png", encode(synthetic_portrait(seed=3), "PNG"))
        zipped.writestr("shoot/broken.jpg", b"\xff\xd8 this is not a photo")
    return photos + [("shoot.zip", archive.getvalue(), "application/zip")]


def test_batch_processes_uploads_and_zips_sorts_worst_first_and_downloads_one_zip(media, astronaut_rgb):
    import zipfile

    at = new_app()
    at.default_timeout = 300
    assert_clean(go(at, BATCH))
    assert_clean(at.file_uploader(key="batch_upload_0").set_value(_batch_uploads(astronaut_rgb)).run())
    assert at.file_uploader(key="batch_upload_1").value == []  # an empty box: the uploads are on disk, not held
    assert "8 in the batch: 0 done, 0 could not be used, 8 to go" in texts(at.caption)
    assert_no_exception(at.button(key="batch_start").click().run())
    assert "8 in the batch: 7 done, 1 could not be used, 0 to go" in texts(at.caption)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "/tmp" not in errors[0]
    names = [m.value.strip("*") for m in at.markdown if m.value.startswith("**") and m.value.endswith("**")]
    assert names[0] == "shoot.zip/shoot/broken.jpg" and len(names) == 8  # the failure first, then worst first
    scores = [float(re.search(r"score \*\*([\d.]+)", m.value).group(1)) for m in at.markdown if "Needs-a-look score" in m.value]
    assert len(scores) == 7 and scores == sorted(scores, reverse=True)
    assert len(at.image) == 14  # a result and a mask thumbnail per photo
    # the ZIP: masks and results only, named after the inputs
    assert_no_exception(at.multiselect(key="batch_kinds").set_value(["result", "mask"]).run())
    assert_no_exception(at.button(key="batch_zip").click().run())
    archive = zipfile.ZipFile(io.BytesIO(media.download(at.get("download_button")[0])))
    listed = sorted(archive.namelist())
    assert len(listed) == 14 and "masks/p0-mask.png" in listed and "results/z1-result.png" in listed
    assert not any(name.startswith("cutouts/") for name in listed)
    # the worst-scored photo opens on the Touch-up page as the current photo
    worst = names[1]
    touch = next(b for b in at.button if b.key.startswith("batch_touch_"))
    assert_no_exception(touch.click().run())
    assert at.session_state["photo"].name == worst.rsplit("/", 1)[-1]
    assert at.title[0].value == "Touch-up"

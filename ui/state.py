"""Session-state keys and accessors: the photo, the background and the refinement settings carry across pages.

Widgets that hold user choices use these keys with `persist_state="session"`, so their values survive
a page switch; every page reads the same values through the functions below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st

from core.combine import CombinedSegmenter
from core.composite import Background, BlurSettings, parse_color
from core.compose import id_background
from core.framing import FrameSettings
from core.errors import PortraitStudioError, SettingsError
from core.finishing import FinishSettings
from core.imageio import IMAGE_SUFFIXES
from core.presets import PRESET_GROUPS
from core.refine import RefineSettings
from core.segmentation import InferenceSettings, Segmenter
from core.settings import Settings
from core.touchup import MAX_EDITS_BYTES, Edit, edits_to_json, parse_edits
from core.weights import ModelSpec
from ui.engine import Upload, decode_upload
from ui.text import md_escape

S = TypeVar("S", bound=Settings)
MAX_UPLOAD_MB = 50
UPLOAD_TYPES = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES]
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "assets" / "astronaut.jpg"

PHOTO = "photo"
BACKGROUND_KIND = "background_kind"
BACKGROUND_COLOR = "background_color"
BACKGROUND_IMAGE = "background_image"
BACKGROUND_ERROR = "background_error"
MODEL = "model"
BACKGROUND_KINDS = {"color": "Colour", "blur": "Blurred original", "transparent": "Transparent", "image": "Image"}
DEFAULT_COLOR = "#FFFFFF"


def check_upload_size(data: bytes) -> None:
    """Raise a user-facing error when an upload exceeds MAX_UPLOAD_MB (AppTest does not enforce the widget limit)."""
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise PortraitStudioError(
            f"The file is larger than the {MAX_UPLOAD_MB} MB upload limit. Export a smaller JPEG and try again."
        )


def current_photo() -> Upload | None:
    """The photo being worked on, shared by every page."""
    return st.session_state.get(PHOTO)


def set_photo(upload: Upload) -> None:
    """Make `upload` the current photo, after checking it decodes (a bad file never replaces a good one)."""
    decode_upload(upload)
    st.session_state[PHOTO] = upload


def store_background_upload(widget_key: str) -> None:
    """on_change callback of the background uploader: keep a decodable image, drop it when cleared."""
    file = st.session_state.get(widget_key)
    st.session_state.pop(BACKGROUND_IMAGE, None)
    if file is None:
        return
    try:
        check_upload_size(file.getvalue())
        upload = Upload.from_bytes(file.name, file.getvalue())
        decode_upload(upload)
    except PortraitStudioError as exc:
        st.session_state[BACKGROUND_ERROR] = str(exc)
    else:
        st.session_state[BACKGROUND_IMAGE] = upload


def load_sample() -> Upload:
    """The bundled public-domain sample portrait."""
    return Upload.from_bytes(SAMPLE_PATH.name, SAMPLE_PATH.read_bytes())


#: Each settings class's prefix in widget keys: its group's name in preset files.
SETTINGS_PREFIXES: dict[type[Settings], str] = {cls: name for name, cls in PRESET_GROUPS.items()}


def settings_key(cls: type[Settings], name: str) -> str:
    """Session key of the widget for field `name` of settings class `cls` (e.g. 'refine_black_point')."""
    return f"{SETTINGS_PREFIXES[cls]}_{name}"


def stored_key(widget_key: str) -> str:
    """Session key where a settings widget's value is kept (a plain key, not a widget's).

    A widget drawn on several pages (the sidebar's) is a new widget on each page and would start from
    its own default; so the value lives under this key, is copied into the widget before it is drawn
    and back by its on_change callback (see ui.layout.settings_widgets).
    """
    return f"{widget_key}.value"


def store_widget_value(widget_key: str, then: Callable[[], None] | None = None) -> None:
    """on_change callback of a settings widget: keep its new value under `stored_key`, then run `then` if given."""
    st.session_state[stored_key(widget_key)] = st.session_state[widget_key]
    if then is not None:
        then()


def changed_values(cls: type[Settings]) -> dict[str, bool | float]:
    """The fields of `cls` the user has set (on any page, or by loading a preset), by name."""
    stored = {spec.name: stored_key(settings_key(cls, spec.name)) for spec in cls.field_specs()}
    return {name: st.session_state[key] for name, key in stored.items() if key in st.session_state}


def current_settings(cls: type[S], spec: ModelSpec | None = None) -> S:
    """The current settings of class `cls`: what the user set, and for the rest the values measured best
    for the model `spec` (core.weights.ModelSpec; the class defaults when None)."""
    defaults = cls.for_model(spec) if spec is not None else cls()
    try:
        return dataclasses.replace(defaults, **changed_values(cls))
    except SettingsError as exc:  # e.g. black point moved above white point: say so, keep going
        st.warning(f"{md_escape(str(exc))} Using the defaults for now.")
        return defaults


def apply_settings(settings: Settings) -> None:
    """Put `settings` into the widgets' session keys (call from a callback, before the widgets draw)."""
    for name, value in settings.to_dict().items():
        st.session_state[stored_key(settings_key(type(settings), name))] = value


def forget_settings(cls: type[Settings]) -> None:
    """Drop every value the user set for `cls`, so the model's defaults apply again (a callback)."""
    for spec in cls.field_specs():
        st.session_state.pop(stored_key(settings_key(cls, spec.name)), None)


def refine_settings(segmenter: Segmenter | CombinedSegmenter | None = None) -> RefineSettings:
    """The current mask-refinement settings (over the defaults of `segmenter`'s model)."""
    return current_settings(RefineSettings, segmenter.spec if segmenter is not None else None)


def finish_settings() -> FinishSettings:
    """The current finishing (edge colour) settings."""
    return current_settings(FinishSettings)


def inference_settings(segmenter: Segmenter | CombinedSegmenter) -> InferenceSettings | None:
    """The current network-input settings for `segmenter`'s model; None for a combination (whose members
    use the network input measured best for each)."""
    if isinstance(segmenter, CombinedSegmenter):
        return None
    return current_settings(InferenceSettings, segmenter.spec)


def background_choice() -> Background:
    """The chosen background; an image background falls back to white until an image is uploaded."""
    kind = st.session_state.get(BACKGROUND_KIND, "color")
    if kind == "image":
        upload: Upload | None = st.session_state.get(BACKGROUND_IMAGE)
        if upload is None:
            return Background(kind="color")
        return Background(kind="image", image=decode_upload(upload)[0].rgb)
    if kind == "blur":
        return Background(kind="blur").with_blur(current_settings(BlurSettings))
    if kind == "transparent":
        return Background(kind=kind)
    return Background(kind="color", color=parse_color(st.session_state.get(BACKGROUND_COLOR, DEFAULT_COLOR)))


def follow_id_background() -> None:
    """Callback of the ID-photo choice: switch the background to the preset's plain light colour (the user can
    still change it afterwards)."""
    background = id_background(current_settings(FrameSettings))
    if background is not None:
        st.session_state[BACKGROUND_KIND] = "color"
        st.session_state[BACKGROUND_COLOR] = "#{:02x}{:02x}{:02x}".format(*background.color)


# ------------------------------------------------------------------------------------ touch-up edits

EDITS = "touchup_edits"


@dataclass
class EditHistory:
    """One photo's touch-up edits and the lists before (undo) and after (redo) them."""

    edits: tuple[Edit, ...] = ()
    past: list[tuple[Edit, ...]] = field(default_factory=list)
    future: list[tuple[Edit, ...]] = field(default_factory=list)
    version: int = 0  # counts every change, undo and redo: the canvas redraws when it moves

    def change(self, edits: tuple[Edit, ...]) -> None:
        """Make `edits` the current list; undo brings back the one before, and nothing undone can be redone."""
        self.past.append(self.edits)
        self.edits, self.future = edits, []
        self.version += 1

    def undo(self) -> None:
        if self.past:
            self.future.append(self.edits)
            self.edits = self.past.pop()
            self.version += 1

    def redo(self) -> None:
        if self.future:
            self.past.append(self.edits)
            self.edits = self.future.pop()
            self.version += 1


def edits_file(history: EditHistory) -> Callable[[], str]:
    """A download button's data: the edit file of `history` as it is when the button is clicked (not when drawn)."""
    return lambda: edits_to_json(history.edits)


def edit_history(photo: Upload) -> EditHistory:
    """The touch-up history of `photo`, kept per photo (by the upload's digest, like its cached network output),
    so edits survive page switches, setting and model changes, and coming back to an earlier photo."""
    histories: dict[str, EditHistory] = st.session_state.setdefault(EDITS, {})
    return histories.setdefault(photo.digest, EditHistory())


def current_edits(photo: Upload | None) -> tuple[Edit, ...]:
    """The touch-up edits every output of `photo` applies (a tuple: it keys the caches)."""
    return () if photo is None else edit_history(photo).edits


TOUCHUP_TOOL, TOUCHUP_SIZE, TOUCHUP_SNAP, TOUCHUP_VIEW = "touchup_tool", "touchup_size", "touchup_snap", "touchup_view"
TOUCHUP_CANVAS, TOUCHUP_MESSAGE = "touchup_canvas", "touchup_message"
TOUCHUP_TOOLS = {"restore": "Restore brush", "erase": "Erase brush", "add_region": "Add a region", "remove_region": "Drop a region"}
TOUCHUP_SIZE_RANGE = (0.2, 15.0, 0.1)  # brush radius in % of the long side: min, max, step
TOUCHUP_DEFAULT_SIZE = 2.0


def record_stroke(photo: Upload) -> None:
    """on_stroke callback of the canvas: add the finished stroke (or region click) to the photo's edits."""
    value = (st.session_state.get(TOUCHUP_CANVAS) or {}).get("stroke")
    if not isinstance(value, dict):
        return
    try:
        (edit,) = parse_edits([{k: v for k, v in value.items() if k != "nonce"}])
    except SettingsError as exc:  # the canvas only sends valid strokes; say so rather than fail if not
        st.session_state[TOUCHUP_MESSAGE] = ("error", f"That stroke could not be used: {exc}")
        return
    history = edit_history(photo)
    history.change(history.edits + (edit,))


def run_command(photo: Upload) -> None:
    """on_command callback of the canvas: a keyboard shortcut (tool, snap, brush size, undo, redo)."""
    command = (st.session_state.get(TOUCHUP_CANVAS) or {}).get("command")
    if not isinstance(command, dict):
        return
    name, value = command.get("name"), command.get("value")
    if name == "tool" and value in TOUCHUP_TOOLS:
        st.session_state[TOUCHUP_TOOL] = value
    elif name == "snap":
        st.session_state[TOUCHUP_SNAP] = not st.session_state.get(TOUCHUP_SNAP, True)
    elif name == "size" and value in (-1, 1):
        low, high, _ = TOUCHUP_SIZE_RANGE
        size = float(st.session_state.get(TOUCHUP_SIZE, TOUCHUP_DEFAULT_SIZE))
        st.session_state[TOUCHUP_SIZE] = round(min(max(size * (1.25 if value > 0 else 0.8), low), high), 1)
    elif name == "undo":
        edit_history(photo).undo()
    elif name == "redo":
        edit_history(photo).redo()


def load_edits_file(photo: Upload, widget_key: str) -> None:
    """on_change callback of the edits uploader: replace the photo's edits, or say what is wrong and change nothing."""
    file = st.session_state.get(widget_key)
    if file is None:
        return
    try:
        edits = parse_edits(file.getvalue()) if len(file.getvalue()) <= MAX_EDITS_BYTES else None
        if edits is None:
            raise SettingsError(f"the file is larger than an edits file can be ({MAX_EDITS_BYTES >> 20} MB).")
    except SettingsError as exc:
        st.session_state[TOUCHUP_MESSAGE] = ("error", f"Could not load {file.name}: {exc} Your edits are unchanged.")
        return
    edit_history(photo).change(edits)
    st.session_state[TOUCHUP_MESSAGE] = ("success", f"Loaded {len(edits)} edits from {file.name}.")

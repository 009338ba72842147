"""Page setup shared by every page: page config, the model sidebar, settings widgets, friendly error display."""

from __future__ import annotations

import logging
from pathlib import Path
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby

import streamlit as st

from core.errors import PortraitStudioError, WeightsError
from core.combine import CombinedSegmenter
from core.segmentation import InferenceSettings, Segmenter
from core.settings import Settings
from core.weights import DEFAULT_MODEL, FALLBACK_MODEL, REGISTRY, download_weights, find_weights
from ui.engine import Upload, shared_segmenter
from ui.state import MODEL, current_photo, settings_key, store_widget_value, stored_key
from ui.text import md_escape

log = logging.getLogger("portrait_studio")


@dataclass
class Outcome:
    """Whether the block guarded by `friendly_errors` failed."""

    failed: bool = False


@contextmanager
def friendly_errors() -> Iterator[Outcome]:
    """Show errors as messages on the page, never as a traceback; the app keeps working."""
    outcome = Outcome()
    try:
        yield outcome
    except PortraitStudioError as exc:
        outcome.failed = True
        st.error(md_escape(str(exc)), icon=":material/error:")
    except MemoryError:
        outcome.failed = True
        st.error("This photo needs more memory than the server has. Try a smaller photo.", icon=":material/error:")
    except Exception as exc:  # Streamlit's rerun/stop signals are BaseExceptions and pass through
        outcome.failed = True
        log.exception("unexpected error")
        st.error(f"Something went wrong ({type(exc).__name__}). The app is still running: try again or use another photo.", icon=":material/error:")


def _model_label(name: str) -> str:
    spec = REGISTRY[name]
    if spec.members:
        return f"{name}: portrait + U²-Net (bundled, default)" if name == DEFAULT_MODEL else f"{name} (bundled)"
    if spec.bundled:
        return f"{name} (bundled)"
    return name + ("" if find_weights(spec) else f" ({spec.size_mb:.0f} MB download)")


def _models_help() -> str:
    """What each model is good at, for the model selector's help."""
    return "  \n".join(f"**{name}**: {spec.good_at}." for name, spec in REGISTRY.items())


def _offer_download(name: str) -> None:
    spec = REGISTRY[name]
    st.info(f"The **{name}** weights ({spec.size_mb:.0f} MB) are not on this machine yet; using **{DEFAULT_MODEL}** meanwhile.")
    if st.button(f"Download {spec.filename}", key="download_weights", icon=":material/download:"):
        bar = st.progress(0.0, text=f"Downloading {spec.filename}…")

        def report(done: int, total: int | None) -> None:
            if total:
                bar.progress(min(done / total, 1.0), text=f"Downloading {spec.filename}: {done >> 20} of {total >> 20} MB")

        try:
            download_weights(spec, progress=report)
        except WeightsError as exc:
            bar.empty()
            st.error(md_escape(str(exc)))
        else:
            st.rerun()


def settings_widgets(
    cls: type[Settings], defaults: Settings | None = None, which: str = "all",
    then: dict[str, Callable[[], None]] | None = None,
) -> None:
    """A toggle per group switch, a slider per number and a select box per choice of `cls`, each with its one-line
    help from core.

    A widget shows the user's value (kept under `stored_key` once changed, so every page reads the same
    ones), else the value of `defaults` (the model's, see Settings.for_model; the class defaults if None).
    `which`: "all", "basic" (the settings with a label in the user's words, drawn plainly) or "advanced"
    (the rest, in a bordered box per group). The help text ends with the setting's engineering name. `then`
    maps a field's name to a callback run after its value is stored (e.g. to follow an ID preset's background).
    A free-text field (core.settings.text_field) is a select box of its suggestions that takes any typed value.
    """
    defaults = defaults if defaults is not None else cls()
    specs = [s for s in cls.field_specs() if which == "all" or (s.basic is not None) == (which == "basic")]
    for _, group in groupby(specs, key=lambda s: s.group):
        with st.container(border=which != "basic"):
            for spec in group:
                key = settings_key(cls, spec.name)
                value = st.session_state.get(stored_key(key), getattr(defaults, spec.name))
                st.session_state[key] = value
                common = {
                    "key": key, "help": f"{spec.help}  \n(`{spec.name}`)", "on_change": store_widget_value,
                    "args": (key, (then or {}).get(spec.name)),
                }
                if spec.type is bool:
                    st.toggle(spec.label, **common)
                elif spec.type is str:
                    options = list(spec.choices) + ([value] if value not in spec.choices else [])
                    st.selectbox(
                        spec.label, options, accept_new_options=spec.free_text, format_func=_choice_label, **common,
                    )
                else:
                    st.slider(spec.label, float(spec.min), float(spec.max), step=float(spec.step), format="%g", **common)


def _choice_label(value: str) -> str:
    """How a choice reads in a select box: '' (an automatic size) as 'automatic', the rest as written."""
    return "automatic" if value == "" else value


def model_sidebar() -> Segmenter | CombinedSegmenter:
    """The sidebar on every page: choose the model, see what is loaded; returns the segmenter to use."""
    with st.sidebar:
        st.subheader("Model")
        name = st.selectbox(
            "Segmentation model", list(REGISTRY), key=MODEL, persist_state="session", format_func=_model_label,
            help=_models_help(),
        )
        spec = REGISTRY[name]
        if not spec.members and find_weights(spec) is None:
            _offer_download(name)
            name = DEFAULT_MODEL
        try:
            segmenter = shared_segmenter(name)
        except WeightsError as exc:
            st.error(md_escape(str(exc)))
            segmenter = shared_segmenter(FALLBACK_MODEL)
        spec = segmenter.spec
        st.markdown(
            f"**{spec.name}** · {segmenter.parameters / 1e6:.2f} M parameters · `{segmenter.device}` · {segmenter.runtime}  \n"
            f"{spec.description}  \n*Good at:* {spec.good_at}."
        )
        paths = segmenter.paths if isinstance(segmenter, CombinedSegmenter) else [str(segmenter.weights.path)]
        st.caption("Weights: " + ", ".join(f"`{path}`" for path in paths))
        with st.expander("Network input"):
            if isinstance(segmenter, CombinedSegmenter):
                st.caption(
                    f"**{spec.name}** shows the photo to each network the way measured best for it. "
                    "Choose a single network above to change how it sees the photo."
                )
            else:
                st.caption("How the photo is shown to the network; changing these runs it again.")
                settings_widgets(InferenceSettings, InferenceSettings.for_model(spec))
    return segmenter


FAVICON = Path(__file__).resolve().parent.parent / "assets" / "favicon.png"


def setup_page(title: str) -> Segmenter | CombinedSegmenter:
    """Page config + title + sidebar; returns the shared segmenter.

    The favicon is a bundled file: a ':material/…:' page icon makes the browser fetch it from Google's font
    server, and nothing may leave the machine.
    """
    st.set_page_config(page_title=f"{title} · Portrait Studio", page_icon=str(FAVICON), layout="wide")
    st.title(title)
    return model_sidebar()


def require_photo() -> Upload:
    """The current photo; without one, say where to get one and stop the page."""
    photo = current_photo()
    if photo is None:
        st.info("No photo yet: upload one on the Replace page, or run the demo on Home.")
        st.page_link("pages/1_Replace_background.py", label="Replace background", icon=":material/wallpaper:")
        st.stop()
    return photo

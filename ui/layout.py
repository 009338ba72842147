"""Page setup shared by every page: page config, the model sidebar, settings widgets, friendly error display."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby

import streamlit as st

from core.errors import PortraitStudioError, WeightsError
from core.segmentation import InferenceSettings, Segmenter
from core.settings import Settings
from core.weights import DEFAULT_MODEL, RECOMMENDED_PORTRAIT_MODEL, REGISTRY, download_weights, find_weights
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
    if spec.bundled:
        return f"{name} (bundled, fast)"
    suffix = " — best for portraits" if name == RECOMMENDED_PORTRAIT_MODEL else ""
    return f"{name}{suffix}" + ("" if find_weights(spec) else f" ({spec.size_mb:.0f} MB download)")


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


def settings_widgets(cls: type[Settings]) -> None:
    """A toggle per group switch and a slider per value of `cls`, each with its one-line help from core.

    Values are kept under `stored_key` (defaults the first time), so every page reads the same ones.
    """
    for _, specs in groupby(cls.field_specs(), key=lambda s: s.group):
        with st.container(border=True):
            for spec in specs:
                key = settings_key(cls, spec.name)
                st.session_state[key] = st.session_state.setdefault(stored_key(key), spec.default)
                common = {"key": key, "help": spec.help, "on_change": store_widget_value, "args": (key,)}
                if spec.type is bool:
                    st.toggle(spec.label, **common)
                else:
                    st.slider(spec.label, float(spec.min), float(spec.max), step=float(spec.step), format="%g", **common)


def model_sidebar() -> Segmenter:
    """The sidebar on every page: choose the model, see what is loaded; returns the segmenter to use."""
    with st.sidebar:
        st.subheader("Model")
        name = st.selectbox(
            "Segmentation model", list(REGISTRY), key=MODEL, persist_state="session", format_func=_model_label,
            help=f"{RECOMMENDED_PORTRAIT_MODEL} is trained on people and is the recommended model for portraits "
            f"when its weights are available; {DEFAULT_MODEL} is bundled and fastest.",
        )
        if find_weights(REGISTRY[name]) is None:
            _offer_download(name)
            name = DEFAULT_MODEL
        elif name != RECOMMENDED_PORTRAIT_MODEL:
            st.caption(f"Tip: **{RECOMMENDED_PORTRAIT_MODEL}** (trained on people) gives better portraits.")
        try:
            segmenter = shared_segmenter(name)
        except WeightsError as exc:
            st.error(md_escape(str(exc)))
            segmenter = shared_segmenter(DEFAULT_MODEL)
        weights = segmenter.weights
        st.markdown(
            f"**{weights.spec.name}** · {segmenter.parameters / 1e6:.2f} M parameters · `{segmenter.device}`  \n"
            f"{weights.spec.description}"
        )
        st.caption(f"Weights: `{weights.path}`")
        with st.expander("Network input"):
            st.caption("How the photo is shown to the network; changing these runs it again.")
            settings_widgets(InferenceSettings)
    return segmenter


def setup_page(title: str, icon: str) -> Segmenter:
    """Page config + title + sidebar; returns the shared segmenter."""
    st.set_page_config(page_title=f"{title} · Portrait Studio", page_icon=icon, layout="wide")
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

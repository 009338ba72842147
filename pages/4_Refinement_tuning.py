"""Refinement tuning: every mask and edge-colour setting live on a preview copy; presets; full-resolution downloads."""

import time

import streamlit as st

from core.compose import OutputSettings
from core.composite import Background, BlurSettings, mask_image, over_checkerboard
from core.inspection import mask_overlay
from core.errors import PortraitStudioError
from core.finishing import FinishSettings
from core.framing import FrameSettings
from core.pipeline import StageTimer, render
from core.refine import RefineSettings
from core.segmentation import InferenceSettings
from core.shadow import ShadowSettings
from core.presets import preset_from_json, preset_to_json
from ui.engine import PREVIEW_SIDE, analyse, download_bytes
from ui.layout import friendly_errors, require_photo, settings_widgets, setup_page
from ui.state import (
    apply_settings,
    current_settings,
    forget_settings,
    background_choice,
    current_edits,
    finish_settings,
    inference_settings,
    refine_settings,
)
from ui.text import md_escape

SECTIONS = {RefineSettings: "Mask", FinishSettings: "Colour on the new background"}
PREVIEW_BACKGROUNDS = {"result": "New background", "checkerboard": "Checkerboard", "dark": "Dark", "mask": "Mask overlay"}
DARK_PREVIEW = (28, 28, 32)
CONTROLS_HEIGHT = 560  # px: fits beside the preview in a 1280×720 window

segmenter = setup_page("Refinement tuning")
photo = require_photo()


#: The groups this page sets (the Replace page sets framing, shadow, blur and the output file).
TUNED = (InferenceSettings, RefineSettings, FinishSettings)
#: The groups a saved preset holds besides those: the whole recipe, as the command line's --preset reads it.
RECIPE = (FrameSettings, ShadowSettings, BlurSettings, OutputSettings)


def reset_defaults() -> None:
    for cls in TUNED:
        forget_settings(cls)


def load_preset() -> None:
    upload = st.session_state.get("preset_upload")
    if upload is None:
        return
    try:
        loaded = preset_from_json(upload.getvalue())
    except PortraitStudioError as exc:
        st.session_state["preset_message"] = ("error", f"Could not load {upload.name}: {exc}")
    else:
        for settings in loaded.values():
            apply_settings(settings)
        st.session_state["preset_message"] = ("success", f"Loaded preset {upload.name}.")


top = st.columns([1, 1, 2])
top[0].button("Reset to defaults", on_click=reset_defaults, icon=":material/restart_alt:", key="reset")
changed = [name for name in segmenter.spec.refine]
top[1].caption(
    f"Defaults in force: **{segmenter.spec.name}**'s"
    + (f" (measured for it: {', '.join(changed)})" if changed else " (the shared defaults)")
    + "; what you change here is kept when you switch models."
)
with top[2]:
    st.file_uploader("Load a preset (.json)", type=["json"], key="preset_upload", on_change=load_preset, max_upload_size=1)
message = st.session_state.pop("preset_message", None)
if message:
    getattr(st, message[0])(md_escape(message[1]))


def _preview(image, refined, finishing, shown_on: str):
    """The preview picture: the result on the chosen background, or the mask as a red overlay on the photo."""
    if shown_on == "mask":
        return mask_overlay(image, refined)
    background = {
        "result": background_choice(), "checkerboard": Background(kind="transparent"),
        "dark": Background(kind="color", color=DARK_PREVIEW),
    }[shown_on]
    result = render(image, refined, "composite", background, finishing)
    return over_checkerboard(result) if result.shape[2] == 4 else result


@st.fragment
def tuning(analysis) -> None:
    """Widgets and preview: a change here reruns only this fragment, never the network."""
    controls, preview = st.columns([1, 2])
    # The controls scroll inside their own box, so the preview beside them stays in view while the lower
    # sliders move (at 1280×720 too).
    with controls, st.container(height=CONTROLS_HEIGHT):
        st.markdown("**Basic**")
        for cls in SECTIONS:
            settings_widgets(cls, cls.for_model(segmenter.spec), which="basic")
        with st.expander("Advanced: every step of the refinement and of the edge colour"):
            for cls, title in SECTIONS.items():
                st.markdown(f"**{title}**")
                settings_widgets(cls, cls.for_model(segmenter.spec), which="advanced")
    settings, finishing = refine_settings(segmenter), finish_settings()
    timer = StageTimer()
    start = time.perf_counter()
    edits = current_edits(analysis.upload)
    _, refined = analysis.preview_alphas(settings, timer, edits)
    elapsed = time.perf_counter() - start
    with preview:
        image = analysis.preview_image
        shown_on = st.segmented_control(
            "Preview on", list(PREVIEW_BACKGROUNDS), format_func=PREVIEW_BACKGROUNDS.get, default="result",
            key="tuning_preview_background", persist_state="session",
            help="The Replace page's background, or one that shows the edges better: on a white backdrop a white "
                 "result hides what a setting changes.",
        ) or "result"
        left, right = st.columns(2)
        left.image(mask_image(refined), caption="Refined mask (preview)", width="stretch")
        right.image(_preview(image, refined, finishing, shown_on), caption="Result (preview)", width="stretch")
        st.metric("Refinement time for this update", f"{timer.seconds['refine'] * 1000:.0f} ms",
                  help=f"On the preview copy ({image.shape[1]}×{image.shape[0]}, long side ≤ {PREVIEW_SIDE} px); "
                  f"resize + refine took {elapsed * 1000:.0f} ms. Downloads are made at full resolution.")
        recipe = (analysis.upload, segmenter, analysis.inference, settings, finishing)
        buttons = st.columns(3)
        buttons[0].download_button(
            "Mask, full resolution (PNG)", data=download_bytes(*recipe, "mask", "png", edits=edits),
            file_name="mask.png", mime="image/png", on_click="ignore", key="tuning_mask", icon=":material/download:",
        )
        buttons[1].download_button(
            "Cut-out, full resolution (PNG)", data=download_bytes(*recipe, "cutout", "png", edits=edits),
            file_name="cutout.png", mime="image/png", on_click="ignore", key="tuning_cutout", icon=":material/download:",
        )
        buttons[2].download_button(
            "Save these settings (.json)", data=preset_to_json(
                *(s for s in (analysis.inference, settings, finishing) if s is not None),
                *(current_settings(cls) for cls in RECIPE),
            ), file_name="portrait-studio-preset.json",
            mime="application/json", on_click="ignore", key="save_preset", icon=":material/save:",
        )


with friendly_errors():
    tuning(analyse(photo, segmenter, inference_settings(segmenter)))
st.caption("These settings are the ones the Replace page uses.")

"""Refinement tuning: every RefineSettings field live on a preview copy; presets; full-resolution downloads."""

import json
import time
from itertools import groupby

import streamlit as st

from core.composite import mask_image, over_checkerboard
from core.errors import PortraitStudioError
from core.imageio import encode_image
from core.pipeline import StageTimer, render
from core.refine import RefineSettings, field_specs
from ui.engine import PREVIEW_SIDE, analyse
from ui.layout import friendly_errors, require_photo, setup_page
from ui.text import md_escape
from ui.state import apply_refine_settings, background_choice, refine_key, refine_settings

segmenter = setup_page("Refinement tuning", ":material/tune:")
photo = require_photo()


def reset_defaults() -> None:
    apply_refine_settings(RefineSettings())


def load_preset() -> None:
    upload = st.session_state.get("preset_upload")
    if upload is None:
        return
    try:
        apply_refine_settings(RefineSettings.from_dict(json.loads(upload.getvalue())))
        st.session_state["preset_message"] = ("success", f"Loaded preset {upload.name}.")
    except (ValueError, PortraitStudioError) as exc:  # JSONDecodeError is a ValueError
        st.session_state["preset_message"] = ("error", f"{upload.name} is not a Portrait Studio preset: {exc}")


for spec in field_specs():  # widgets below take their value from these keys, defaults first time
    st.session_state.setdefault(refine_key(spec.name), spec.default)

top = st.columns([1, 1, 2])
top[0].button("Reset to defaults", on_click=reset_defaults, icon=":material/restart_alt:", key="reset")
with top[2]:
    st.file_uploader("Load a preset (.json)", type=["json"], key="preset_upload", on_change=load_preset)
message = st.session_state.pop("preset_message", None)
if message:
    getattr(st, message[0])(md_escape(message[1]))


@st.fragment
def tuning(analysis) -> None:
    """Widgets and preview: a change here reruns only this fragment, never the network."""
    controls, preview = st.columns([1, 2])
    with controls:
        for group, specs in groupby(field_specs(), key=lambda s: s.group):
            with st.container(border=True):
                for spec in specs:
                    key = refine_key(spec.name)
                    if spec.type is bool:
                        st.toggle(spec.label, key=key, help=spec.help, persist_state="session")
                    else:
                        st.slider(spec.label, float(spec.min), float(spec.max), step=float(spec.step),
                                  key=key, help=spec.help, persist_state="session")
    settings = refine_settings()
    timer = StageTimer()
    start = time.perf_counter()
    raw, refined = analysis.preview_alphas(settings, timer)
    elapsed = time.perf_counter() - start
    with preview:
        image = analysis.preview_image
        result = render(image, refined, "composite", background_choice())
        left, right = st.columns(2)
        left.image(mask_image(refined), caption="Refined mask (preview)", width="stretch")
        right.image(over_checkerboard(result) if result.shape[2] == 4 else result, caption="Result (preview)", width="stretch")
        st.metric("Refinement time for this update", f"{timer.seconds['refine'] * 1000:.0f} ms",
                  help=f"On the preview copy ({image.shape[1]}×{image.shape[0]}, long side ≤ {PREVIEW_SIDE} px); "
                  f"resize + refine took {elapsed * 1000:.0f} ms. Downloads are made at full resolution.")
        full = analysis.image
        buttons = st.columns(3)
        buttons[0].download_button(
            "Mask, full resolution (PNG)", data=lambda: encode_image(mask_image(analysis.alphas(settings)[1]), "png"),
            file_name="mask.png", mime="image/png", on_click="ignore", key="tuning_mask", icon=":material/download:",
        )
        buttons[1].download_button(
            "Cut-out, full resolution (PNG)", data=lambda: encode_image(render(full, analysis.alphas(settings)[1], "cutout"), "png"),
            file_name="cutout.png", mime="image/png", on_click="ignore", key="tuning_cutout", icon=":material/download:",
        )
        buttons[2].download_button(
            "Save these settings (.json)", data=json.dumps(settings.to_dict(), indent=2), file_name="portrait-studio-preset.json",
            mime="application/json", on_click="ignore", key="save_preset", icon=":material/save:",
        )


with friendly_errors():
    tuning(analyse(photo, segmenter))
st.caption("These settings are the ones the Replace page uses.")

"""Mask inspector: before/after comparisons, the uncertain band, the alpha histogram and 100 % crops."""

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from core.composite import mask_image, over_checkerboard, parse_color
from core.inspection import alpha_histogram, mark_region, mask_overlay, uncertain_fraction, uncertainty_heatmap, zoom_crop
from core.finishing import FinishSettings
from core.pipeline import render
from core.refine import STEPS, RefineSettings
from core.segmentation import InferenceSettings
from ui.compare import image_comparison
from core.inspection import resize_alpha
from core.weights import DEFAULT_MODEL
from ui.engine import analyse, shared_segmenter
from ui.text import md_escape
from ui.layout import friendly_errors, require_photo, setup_page
from ui.state import SETTINGS_PREFIXES, background_choice, current_edits, finish_settings, inference_settings, refine_settings

COMPARISONS = {
    "result": "Original ↔ result",
    "overlay": "Original ↔ mask overlay",
    "masks": "Raw ↔ refined mask",
    "option": "One setting off ↔ on",
    "networks": "Compare networks",
}


def switch_specs(cls) -> dict:
    """The on/off fields of a settings class: for the refinement, one per step of core.refine.STEPS, in order."""
    specs = {spec.name: spec for spec in cls.field_specs()}
    names = [step.name for step in STEPS] if cls is RefineSettings else [n for n, spec in specs.items() if spec.type is bool]
    return {name: specs[name] for name in names}


SWITCHES = {  # every on/off setting of the mask and its edge colour, for the "off ↔ on" comparison
    f"{SETTINGS_PREFIXES[cls]}.{name}": (cls, spec)
    for cls in (InferenceSettings, RefineSettings, FinishSettings) for name, spec in switch_specs(cls).items()
}


def network_views(pair, combined, shape: tuple[int, int], settings: RefineSettings) -> dict[str, np.ndarray]:
    """Each network's raw output (run now if the combination did not need it) and the combination's refined
    mask, as grey uint8 images of `shape`."""
    parts = {member.spec.name: combined.parts.get(member.spec.name) for member in (pair.salient, pair.portrait)}
    for name, part in parts.items():
        if part is None:
            parts[name] = analyse(photo, pair.members[name]).prediction
    views = {f"{name} (raw)": mask_image(resize_alpha(part, shape)) for name, part in parts.items()}
    views[f"{combined.model}: {combined.decision.chosen}, refined"] = mask_image(combined.preview_alphas(settings)[1])
    return views


segmenter = setup_page("Mask inspector")
photo = require_photo()

with friendly_errors():
    analysis = analyse(photo, segmenter, inference_settings(segmenter))
    settings, finishing, background = refine_settings(segmenter), finish_settings(), background_choice()
    image = analysis.preview_image
    edits = current_edits(photo)
    raw, refined = analysis.preview_alphas(settings, edits=edits)

    def shown_result(alpha, finish: FinishSettings):
        result = render(image, alpha, "composite", background, finish)
        return over_checkerboard(result) if result.shape[2] == 4 else result

    result = shown_result(refined, finishing)

    controls, view = st.columns([1, 3])
    with controls:
        mode = st.radio("Compare", list(COMPARISONS), format_func=COMPARISONS.get, key="inspect_mode", persist_state="session")
        color = st.color_picker("Overlay colour", value="#FF0050", key="overlay_color", persist_state="session")
        opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05, key="overlay_opacity", persist_state="session")
        st.caption("The overlay tints what the mask calls background.")
        if mode == "option":
            # a combination has no network-input settings of its own (each network gets its measured best)
            offered = [k for k, (cls, _) in SWITCHES.items() if cls is not InferenceSettings or analysis.inference is not None]
            switch = st.selectbox("Setting", offered, format_func=lambda k: SWITCHES[k][1].label,
                                  key="inspect_switch", persist_state="session")
        if mode == "networks":
            pair = segmenter if analysis.parts is not None else shared_segmenter(DEFAULT_MODEL)
            combined = analysis if analysis.parts is not None else analyse(photo, pair)
            views = network_views(pair, combined, image.shape[:2], refine_settings(pair))
            names = list(views)
            left_view = st.selectbox("Left", names, index=0, key="inspect_net_left", persist_state="session")
            right_view = st.selectbox("Right", names, index=len(names) - 1, key="inspect_net_right", persist_state="session")
    with view:
        if mode == "result":
            before, after, labels = image, result, ("Original", "Result")
        elif mode == "overlay":
            before, after, labels = image, mask_overlay(image, refined, parse_color(color), opacity), ("Original", "Mask overlay")
        elif mode == "masks":
            before, after, labels = mask_image(raw), mask_image(refined), ("Raw network mask", "Refined mask")
        elif mode == "networks":
            before, after, labels = views[left_view], views[right_view], (left_view, right_view)
        else:
            cls, spec = SWITCHES[switch]
            variants = []
            for on in (False, True):
                if cls is InferenceSettings:  # another network pass (cached like the first)
                    variant = analyse(photo, segmenter, replace(analysis.inference, **{spec.name: on}))
                    variants.append(shown_result(variant.preview_alphas(settings, edits=edits)[1], finishing))
                elif cls is RefineSettings:
                    alpha = analysis.preview_alphas(replace(settings, **{spec.name: on}), edits=edits)[1]
                    variants.append(shown_result(alpha, finishing))
                else:
                    variants.append(shown_result(refined, replace(finishing, **{spec.name: on})))
            before, after, labels = variants[0], variants[1], (f"{spec.label}: off", f"{spec.label}: on")
        image_comparison(before, after, before_label=labels[0], after_label=labels[1])
        if mode == "networks":
            st.info(f"**For this photo, {pair.spec.name} uses {combined.decision.chosen}.** "
                    f"{md_escape(combined.decision.reason)}", icon=":material/rule:")

    st.subheader("Where the mask is unsure")
    band, histogram = st.columns(2)
    with band:
        st.image(uncertainty_heatmap(image, refined), width="stretch",
                 caption="Heat-map of the uncertain band (0.05 < alpha < 0.95) over the greyed photo")
        st.metric("Uncertain pixels (refined / raw)", f"{uncertain_fraction(refined):.2%}",
                  delta=f"{uncertain_fraction(refined) - uncertain_fraction(raw):+.2%} vs raw", delta_color="off")
    with histogram:
        counts, edges = alpha_histogram(refined, bins=50)
        centres = np.round((edges[:-1] + edges[1:]) / 2, 2)
        st.caption("Alpha histogram of the refined mask (log scale: log10(1 + count))")
        st.bar_chart(pd.DataFrame({"log10(1 + pixels)": np.log10(1 + counts)}, index=pd.Index(centres, name="alpha")))

    st.subheader("Zoom at 100 %")
    pick, crops = st.columns([1, 3])
    with pick:
        fx = st.slider("Horizontal position", 0.0, 1.0, 0.5, 0.01, key="zoom_x", persist_state="session")
        fy = st.slider("Vertical position", 0.0, 1.0, 0.25, 0.01, key="zoom_y", persist_state="session")
        size = st.select_slider("Crop size (pixels)", [128, 192, 256, 384, 512], value=256, key="zoom_size", persist_state="session")
    full_raw, full_refined = analysis.alphas(settings, edits=edits)
    full_result = render(analysis.image, full_refined, "composite", background, finishing)
    if full_result.shape[2] == 4:
        full_result = over_checkerboard(full_result)
    crop, box = zoom_crop(analysis.image, (fy, fx), size)
    with pick:
        scale = image.shape[0] / analysis.image.shape[0]
        st.image(mark_region(image, tuple(int(round(v * scale)) for v in box)), caption="Where the crop is", width="stretch")
    with crops:  # two by two, each at its own pixel size (four in a row were drawn at 170 px in a 1440 px window)
        shown = {
            "Original": crop,
            "Raw mask": mask_image(zoom_crop(full_raw, (fy, fx), size)[0]),
            "Refined mask": mask_image(zoom_crop(full_refined, (fy, fx), size)[0]),
            "Result": zoom_crop(full_result, (fy, fx), size)[0],
        }
        for row in (list(shown.items())[:2], list(shown.items())[2:]):
            for column, (caption, picture) in zip(st.columns(2), row):
                column.image(picture, caption=caption, width="content")

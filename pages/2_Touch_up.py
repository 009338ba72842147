"""Touch-up: erase and restore brushes that snap to the photo's edges, region clicks, undo/redo, edit files."""

import streamlit as st

from core.composite import Background, over_checkerboard
from core.inspection import mask_overlay, view_crop
from core.pipeline import render
from ui.engine import analyse
from ui.layout import friendly_errors, require_photo, setup_page
from ui.state import (
    TOUCHUP_CANVAS, TOUCHUP_DEFAULT_SIZE, TOUCHUP_MESSAGE, TOUCHUP_SIZE, TOUCHUP_SIZE_RANGE, TOUCHUP_SNAP, TOUCHUP_TOOL,
    TOUCHUP_TOOLS, TOUCHUP_VIEW, edit_history, edits_file, finish_settings, inference_settings, load_edits_file, record_stroke,
    refine_settings, run_command,
)
from ui.text import md_escape
from ui.touchup_canvas import SHORTCUTS, canvas_view, touchup_canvas

VIEWS = {"overlay": "Mask overlay", "result": "Cut-out on checkerboard"}

segmenter = setup_page("Touch-up")
photo = require_photo()
history = edit_history(photo)

with friendly_errors():
    analysis = analyse(photo, segmenter, inference_settings(segmenter))
    controls, canvas = st.columns([1, 3])
    with controls:
        tool = st.radio(
            "Tool", list(TOUCHUP_TOOLS), format_func=TOUCHUP_TOOLS.get, index=1, key=TOUCHUP_TOOL,
            persist_state="session", help="Shortcuts:  \n" + SHORTCUTS,
        )
        low, high, step = TOUCHUP_SIZE_RANGE
        size = st.slider(
            "Brush size (% of the long side)", low, high, TOUCHUP_DEFAULT_SIZE, step, key=TOUCHUP_SIZE,
            persist_state="session", format="%g", help="The brush's radius; the dashed circle under the pointer shows it.",
        )
        snap = st.toggle(
            "Snap to edges", value=True, key=TOUCHUP_SNAP, persist_state="session",
            help="The outer half of a stroke follows the photo's own edges (matting), so a rough stroke over hair "
                 "leaves soft, clean strands. Off: a plain soft brush.",
        )
        view = st.radio("Show", list(VIEWS), format_func=VIEWS.get, key=TOUCHUP_VIEW, persist_state="session")
        with st.container(horizontal=True):
            st.button("Undo", on_click=history.undo, disabled=not history.past, key="touchup_undo",
                      icon=":material/undo:", help="Ctrl+Z")
            st.button("Redo", on_click=history.redo, disabled=not history.future, key="touchup_redo",
                      icon=":material/redo:", help="Ctrl+Shift+Z or Ctrl+Y")
            st.button("Clear", on_click=history.change, args=((),), disabled=not history.edits, key="touchup_clear",
                      icon=":material/delete:", help="Remove every edit (undo brings them back)")
        st.caption(f"{len(history.edits)} edit{'s' if len(history.edits) != 1 else ''} on {md_escape(photo.name)}; "
                   "every page and download uses them.")
        stem = photo.name.rsplit(".", 1)[0] or "portrait"
        st.download_button(
            "Save edits (.json)", data=edits_file(history), file_name=f"{stem}-edits.json",
            mime="application/json", on_click="ignore", key="touchup_save", icon=":material/save:",
            help="Use them again here, or on the command line: python -m core cutout PHOTO -o OUT --edits FILE.json",
        )
        st.file_uploader("Load edits (.json)", type=["json"], key="touchup_load", max_upload_size=16,
                         on_change=load_edits_file, args=(photo, "touchup_load"))
        message = st.session_state.pop(TOUCHUP_MESSAGE, None)
        if message:
            getattr(st, message[0])(md_escape(message[1]))

    settings, finishing = refine_settings(segmenter), finish_settings()

    def shown(image, alpha):
        if view == "overlay":
            return mask_overlay(image, alpha, (255, 0, 80), 0.55)
        return over_checkerboard(render(image, alpha, "composite", Background(kind="transparent"), finishing))

    picture = shown(analysis.preview_image, analysis.preview_alphas(settings, edits=history.edits)[1])
    zoomed = canvas_view(TOUCHUP_CANVAS)
    detail = None
    if zoomed is not None and analysis.image.shape[:2] != analysis.preview_image.shape[:2]:
        # zoomed in past the preview's pixels: the visible part of the full-size photo, at most screen-sized
        full_alpha = analysis.alphas(settings, edits=history.edits)[1]
        crop, box = view_crop(analysis.image, full_alpha, *zoomed)
        detail = (shown(*crop), box)
    with canvas:
        touchup_canvas(
            picture, full_size=analysis.image.shape[:2], detail=detail, tool=tool, label=TOUCHUP_TOOLS[tool] + (" · snaps to edges" if snap and "region" not in tool else ""),
            radius=size / 100, snap=snap, revision=history.version, key=TOUCHUP_CANVAS,
            on_stroke=lambda: record_stroke(photo), on_command=lambda: run_command(photo),
        )
        st.caption("Paint over what is wrong: the tint marks what the mask calls background. Zoom with the wheel "
                   "(or pinch), pan with Space+drag. Hover **Tool** for every shortcut.")

"""Portrait Studio: home page with a one-click demo (run with `streamlit run Home.py`)."""

import streamlit as st

from core.composite import Background, over_checkerboard
from core.inspection import preview_copy
from core.pipeline import render
from ui.engine import analyse
from ui.layout import friendly_errors, setup_page
from ui.state import current_edits, current_photo, finish_settings, inference_settings, load_sample, refine_settings, set_photo
from ui.text import md_escape

segmenter = setup_page("Portrait Studio")
st.markdown(
    "Portrait Studio separates the person in a photo from its background with two neural networks (MODNet and U²-Net) "
    "and puts them onto a new background, a colour, a blur or transparency. "
    "Everything runs on your own machine: your photos are never uploaded anywhere."
)

st.page_link("pages/1_Replace_background.py", label="Replace a background", icon=":material/wallpaper:")
st.page_link("pages/2_Touch_up.py", label="Touch up the mask by hand", icon=":material/brush:")
st.page_link("pages/3_Mask_inspector.py", label="Inspect the mask", icon=":material/compare:")
st.page_link("pages/4_Refinement_tuning.py", label="Tune the edges", icon=":material/tune:")
st.page_link("pages/5_Batch.py", label="Process many photos at once", icon=":material/photo_library:")

st.subheader("Try it")
if st.button("Run the demo on a sample portrait", type="primary", icon=":material/play_arrow:", key="demo"):
    set_photo(load_sample())
    st.session_state["demo_ran"] = True

photo = current_photo()
if st.session_state.get("demo_ran") and photo is not None:
    with friendly_errors(), st.spinner("Cutting out…", show_time=True):
        analysis = analyse(photo, segmenter, inference_settings(segmenter))
        _, alpha = analysis.alphas(refine_settings(segmenter), edits=current_edits(photo))
        cutout = render(analysis.image, alpha, "composite", Background(kind="transparent"), finish_settings())
        left, right = st.columns(2)
        left.image(analysis.preview_image, caption=f"Original: {md_escape(photo.name)}", width="stretch")
        right.image(over_checkerboard(preview_copy(cutout)), caption="Cut out (transparent background)", width="stretch")
        st.success("Open **Replace a background** to choose a new background and download the result.")

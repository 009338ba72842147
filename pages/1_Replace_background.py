"""Replace background: upload a portrait, choose a background, download the result."""

import streamlit as st

import dataclasses

from core.compose import OutputSettings, compose
from core.composite import Background, BlurSettings, mask_image, over_checkerboard
from core.framing import FrameSettings
from core.imageio import AVIF_SUPPORTED, MIME_TYPES
from core.inspection import preview_copy
from core.pipeline import STAGES, StageTimer
from core.shadow import ShadowSettings
from ui.engine import analyse, download_bytes
from ui.layout import friendly_errors, settings_widgets, setup_page
from ui.text import md_escape
from ui.state import (
    BACKGROUND_COLOR, BACKGROUND_ERROR, BACKGROUND_IMAGE, BACKGROUND_KIND, BACKGROUND_KINDS, DEFAULT_COLOR,
    MAX_UPLOAD_MB, UPLOAD_TYPES, Upload, background_choice, check_upload_size, current_edits, current_photo, load_sample,
    current_settings, finish_settings, follow_id_background, inference_settings, refine_settings, set_photo,
    store_background_upload,
)

segmenter = setup_page("Replace background")

upload_column, background_column = st.columns(2)
with upload_column, friendly_errors() as upload_outcome:
    uploaded = st.file_uploader(
        f"Portrait (JPEG, PNG, HEIC, WebP, BMP, TIFF or GIF, up to {MAX_UPLOAD_MB} MB)", type=UPLOAD_TYPES, key="photo_upload",
        max_upload_size=MAX_UPLOAD_MB, help="The photo stays on this machine; it is processed in memory.",
    )
    if uploaded is not None:
        check_upload_size(uploaded.getvalue())
        upload = Upload.from_bytes(uploaded.name, uploaded.getvalue())
        if current_photo() is None or current_photo().digest != upload.digest:
            set_photo(upload)
    if current_photo() is None:
        st.button("Use the sample portrait", key="use_sample", on_click=lambda: set_photo(load_sample()))

with background_column, friendly_errors():
    kind = st.radio(
        "New background", list(BACKGROUND_KINDS), format_func=BACKGROUND_KINDS.get, horizontal=True,
        key=BACKGROUND_KIND, persist_state="session",
    )
    if kind == "color":
        st.color_picker("Colour", value=DEFAULT_COLOR, key=BACKGROUND_COLOR, persist_state="session")
    elif kind == "image":
        st.file_uploader(
            f"Background image (cover-fitted, never stretched; up to {MAX_UPLOAD_MB} MB)", type=UPLOAD_TYPES,
            key="background_upload", max_upload_size=MAX_UPLOAD_MB,
            on_change=store_background_upload, args=("background_upload",),
        )
        if BACKGROUND_ERROR in st.session_state:
            st.error(md_escape(st.session_state.pop(BACKGROUND_ERROR)), icon=":material/error:")
        if st.session_state.get(BACKGROUND_IMAGE) is None:
            st.caption("Upload an image to use it as the background; white until then.")
        else:
            st.caption(f"Background: {md_escape(st.session_state[BACKGROUND_IMAGE].name)}")
    elif kind == "blur":
        settings_widgets(BlurSettings, which="basic")

frame, shadow = current_settings(FrameSettings), current_settings(ShadowSettings)
with st.expander("Framing, ID photo and shadow", expanded=frame.frame or frame.id_photo != "none" or shadow.shadow):
    framing_column, shadow_column = st.columns(2)
    with framing_column, friendly_errors():
        settings_widgets(FrameSettings, which="basic", then={"id_photo": follow_id_background})
    with shadow_column, friendly_errors():
        settings_widgets(ShadowSettings, which="basic")
frame, shadow = current_settings(FrameSettings), current_settings(ShadowSettings)

photo = current_photo()
if upload_outcome.failed:
    st.stop()  # the message above says what was wrong; the previous photo stays for the other pages
if photo is None:
    st.info("Upload a portrait above, or use the sample portrait, to begin.")
    st.stop()

with friendly_errors():
    with st.status(f"Cutting out {md_escape(photo.name)}…", expanded=False) as status:
        timer = StageTimer()
        inference, settings = inference_settings(segmenter), refine_settings(segmenter)
        analysis = analyse(photo, segmenter, inference)
        edits = current_edits(photo)
        raw, alpha = analysis.alphas(settings, timer, edits)
        finishing = finish_settings()
        background = background_choice()
        with timer.stage("composite"):
            picture = compose(analysis.image, alpha, "composite", background, finishing, frame, shadow, analysis.decoded.dpi)
            result = picture.pixels
        status.update(label=f"Done: {md_escape(photo.name)}", state="complete")

    for note in (*analysis.decoded.notes, *picture.notes):
        st.caption(f"Note: {md_escape(note)}")
    dpi = picture.dpi[0] if isinstance(picture.dpi, tuple) else picture.dpi
    st.caption(f"Result: {result.shape[1]} × {result.shape[0]} px" + (f" at {dpi:g} DPI" if dpi else ""))
    if edits:
        st.caption(f"With {len(edits)} touch-up edit{'s' if len(edits) != 1 else ''} from the Touch-up page.")
    columns = st.columns(3)
    # Shown at preview size: the page is narrower than that, and a full-size 95 MP array would be encoded whole.
    columns[0].image(analysis.preview_image, caption="Original", width="stretch")
    columns[1].image(mask_image(preview_copy(alpha)), caption="Mask", width="stretch")
    shown = preview_copy(result)
    columns[2].image(over_checkerboard(shown) if shown.shape[2] == 4 else shown, caption="Result", width="stretch")

    with st.expander("Timings per stage"):
        now = {**({} if not analysis.computed_now else analysis.timings), **timer.seconds}
        earlier = analysis.earlier_timings

        def cell(seconds: dict[str, float], stage: str) -> str:
            return f"{seconds[stage] * 1000:.0f} ms" if stage in seconds else "–"

        rows = [f"| {stage} | {cell(now, stage)} | {cell(earlier, stage)} |" for stage in STAGES if stage in now or stage in earlier]
        st.markdown("| stage | this run | earlier run (cached result reused) |\n|---|---|---|\n" + "\n".join(rows))
        st.caption(
            f"Model {segmenter.spec.name} on {segmenter.device}. A stage whose result was cached did not run now: its "
            f"time is the earlier run's. Encoding runs when you click a download."
        )

    stem = photo.name.rsplit(".", 1)[0] or "portrait"
    on_white = Background(kind="color") if background.kind == "transparent" else background

    output = current_settings(OutputSettings)
    single = dataclasses.replace(frame, print_sheet=False)  # the cut-out and mask: one photo, framed like the result

    def encoded(kind, fmt, behind=None):
        framing = frame if kind == "composite" else single
        return download_bytes(photo, segmenter, inference, settings, finishing, kind, fmt, behind, edits, framing, shadow, output)

    downloads = st.columns(4)
    downloads[0].download_button(
        "Result (PNG)", data=encoded("composite", "png", background), file_name=f"{stem}-result.png",
        mime="image/png", on_click="ignore", key="download_png", icon=":material/download:",
    )
    downloads[1].download_button(
        "Result (JPEG)", data=encoded("composite", "jpeg", on_white), file_name=f"{stem}-result.jpg",
        mime="image/jpeg", on_click="ignore", key="download_jpeg", icon=":material/download:",
        help="JPEG has no transparency: a transparent result is put on white.",
    )
    downloads[2].download_button(
        "Cut-out (transparent PNG)", data=encoded("cutout", "png"),
        file_name=f"{stem}-cutout.png", mime="image/png", on_click="ignore", key="download_cutout", icon=":material/download:",
    )
    downloads[3].download_button(
        "Mask (PNG)", data=encoded("mask", "png"),
        file_name=f"{stem}-mask.png", mime="image/png", on_click="ignore", key="download_mask", icon=":material/download:",
    )

    with st.expander("Output file: quality, WebP" + (", AVIF" if AVIF_SUPPORTED else "")):
        settings_widgets(OutputSettings, which="basic")
        st.caption("AVIF: this Pillow build writes it." if AVIF_SUPPORTED else
                   "AVIF: not offered, this Pillow build cannot write it (PIL.features.check('avif') is False).")
        extra = [fmt for fmt in MIME_TYPES if fmt not in ("png", "jpeg")]
        for column, fmt in zip(st.columns(len(extra)), extra):
            column.download_button(
                f"Result ({fmt.upper() if fmt == 'avif' else 'WebP'})", data=encoded("composite", fmt, background),
                file_name=f"{stem}-result.{fmt}", mime=MIME_TYPES[fmt], on_click="ignore", key=f"download_{fmt}",
                icon=":material/download:",
            )

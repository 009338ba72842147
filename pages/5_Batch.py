"""Batch: many photos (and ZIPs of photos) through the current recipe; the ones that need a look first; one ZIP."""

import time

import streamlit as st

from core.batch import OUTPUT_KINDS, Recipe
from core.framing import FrameSettings
from core.shadow import ShadowSettings
from ui.batch import ROUTE_SERVED, ZIP_NAME, batch_session, download_url
from ui.engine import Upload
from ui.layout import friendly_errors, setup_page
from ui.state import (
    UPLOAD_TYPES, background_choice, current_settings, finish_settings, inference_settings, refine_settings, set_photo,
)
from ui.text import md_escape

KIND_LABELS = {"result": "Results", "cutout": "Cut-outs (transparent PNG)", "mask": "Masks"}
#: From this needs-a-look score on, a photo gets the badge (about the worst tenth of the dev sets' cuts).
BADGE_FROM = 0.5
COLUMNS = 3

segmenter = setup_page("Batch")
session = batch_session()
batch = session.batch


def uploader_key() -> str:
    return f"batch_upload_{st.session_state.get('batch_upload_round', 0)}"


def add_files() -> None:
    """Store what was dropped in the upload box on disk, then give the page a new, empty box: Streamlit frees the
    old box's files, so the uploads do not stay in memory however many portions are added."""
    batch.add_uploads((file.name, file.getvalue()) for file in st.session_state.get(uploader_key()) or [])
    st.session_state["batch_upload_round"] = st.session_state.get("batch_upload_round", 0) + 1


def start() -> None:
    session.running, session.started, session.done_at_start = True, time.perf_counter(), len(batch.items) - len(batch.pending)


def cancel() -> None:
    session.running = False


def open_photo(index: int, page: str) -> None:
    item = batch.items[index]
    set_photo(Upload.from_bytes(item.name.rsplit("/", 1)[-1], item.source.read_bytes()))
    st.session_state["batch_open"] = page


with friendly_errors():
    st.file_uploader(
        "Photos, or ZIP archives of photos", type=[*UPLOAD_TYPES, "zip"], accept_multiple_files=True,
        key=uploader_key(), on_change=add_files, max_upload_size=2048,
        help="They stay on this machine, in a temporary folder of this session that is deleted when the session ends.",
    )
    pending = batch.pending
    done = [i for i in batch.items if i.status == "done"]
    failed = [i for i in batch.items if i.status == "failed"]
    finishing = sum(item.status == "running" for item in batch.items)
    st.caption(f"{len(batch.items)} in the batch: {len(done)} done, {len(failed)} could not be used, {len(pending)} to go"
               + (f", {finishing} being finished" if finishing and not session.running else "") + ". "
               "Each photo goes through the current recipe: the model, the Tuning page's settings and the Replace "
               "page's background, framing (or ID photo) and shadow.")
    controls = st.columns([1, 1, 4])
    controls[0].button("Start" if not done else "Go on", on_click=start, disabled=not pending or session.running,
                       type="primary", key="batch_start", icon=":material/play_arrow:")
    controls[1].button("Cancel", on_click=cancel, disabled=not session.running, key="batch_cancel",
                       icon=":material/stop:", help="Stops after the photo being processed; what is done is kept.")

    if session.running and pending:
        recipe = Recipe(refine_settings(segmenter), finish_settings(), background_choice(), inference_settings(segmenter),
                        current_settings(FrameSettings), current_settings(ShadowSettings))
        bar = st.progress(0.0)
        total = len(batch.items)
        with session.lock:
            while session.running and (pending := batch.pending):
                finished = total - len(pending)
                ran = finished - session.done_at_start
                per_photo = (time.perf_counter() - session.started) / ran if ran else None
                left = f"about {per_photo * len(pending):.0f} s left" if per_photo else "estimating the time left"
                bar.progress(finished / total, text=f"{finished} of {total} · now {md_escape(pending[0].name)} · {left}")
                batch.process_next(segmenter, recipe)  # no st call inside: Cancel takes effect after this photo
        session.running = False
        bar.progress(1.0, text=f"{total} of {total} done")
        st.rerun()

    if batch.items:
        st.subheader("Results, the ones that need a look first")
        shown = batch.worst_first()
        for row_start in range(0, len(shown), COLUMNS):
            for column, item in zip(st.columns(COLUMNS), shown[row_start:row_start + COLUMNS]):
                index = batch.items.index(item)
                with column.container(border=True):
                    st.markdown(f"**{md_escape(item.name)}**")
                    if item.status == "failed":
                        st.error(f"Could not be used: {md_escape(item.error)}", icon=":material/error:")
                        continue
                    if item.status in ("pending", "running"):
                        st.caption("Waiting." if item.status == "pending" else
                                   "Being finished (it was running when you cancelled): shown on the next update.")
                        continue
                    pictures = st.columns(2)
                    pictures[0].image(str(item.thumbnails["result"]), caption="Result", width="stretch")
                    pictures[1].image(str(item.thumbnails["mask"]), caption="Mask", width="stretch")
                    badge = " :orange-badge[Needs a look]" if item.needs_a_look >= BADGE_FROM else ""
                    st.markdown(f"Needs-a-look score **{item.needs_a_look:.2f}**{badge} · {item.seconds:.1f} s")
                    buttons = st.columns(2)
                    buttons[0].button("Touch up", key=f"batch_touch_{index}", on_click=open_photo, args=(index, "touchup"),
                                      icon=":material/brush:", type="primary" if badge else "secondary")
                    buttons[1].button("Replace", key=f"batch_replace_{index}", on_click=open_photo, args=(index, "replace"),
                                      icon=":material/wallpaper:")

    if done:
        st.subheader("Download all")
        kinds = st.multiselect("What goes in the ZIP", list(OUTPUT_KINDS), default=list(OUTPUT_KINDS),
                               format_func=KIND_LABELS.get, key="batch_kinds", persist_state="session")
        if st.button("Make the ZIP", key="batch_zip", icon=":material/folder_zip:", disabled=not kinds):
            with st.spinner("Writing the ZIP…", show_time=True):
                path = batch.write_zip(kinds)
            st.session_state["batch_zip_ready"] = path.stat().st_size
        if "batch_zip_ready" in st.session_state and (batch.folder / ZIP_NAME).is_file():
            size = st.session_state["batch_zip_ready"] / 2**20
            if ROUTE_SERVED:
                st.link_button(f"Download {ZIP_NAME} ({size:.0f} MB)", download_url(session), icon=":material/download:")
            else:
                st.download_button(
                    f"Download {ZIP_NAME} ({size:.0f} MB)", data=(batch.folder / ZIP_NAME).read_bytes, file_name=ZIP_NAME,
                    mime="application/zip", on_click="ignore", key="batch_download", icon=":material/download:",
                )
                st.caption("Started with `streamlit run Home.py`, the ZIP passes through memory; `streamlit run app.py` "
                           "streams it from disk.")

target = st.session_state.pop("batch_open", None)
if target:
    st.switch_page("pages/2_Touch_up.py" if target == "touchup" else "pages/1_Replace_background.py")

"""The Touch-up page's drawing canvas: a Streamlit custom component v2 (inline HTML/CSS/JS, no iframe, no CDN).

The browser draws the picture Python sends and the stroke being painted; on pointer release it sends the
finished stroke (`on_stroke`, one rerun per stroke, never one per mouse move). Keyboard shortcuts and the
size/tool keys arrive as commands (`on_command`). Zoom and pan stay in the browser.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from core.imageio import encode_image

#: The shortcuts, as shown in the page's tooltip (the keys are handled in touchup_canvas.js).
SHORTCUTS = (
    "**R** restore brush · **E** erase brush · **A** add a region · **D** drop a region · **S** snap on/off  \n"
    "**[** / **]** smaller / larger brush · **Ctrl+Z** undo · **Ctrl+Shift+Z** or **Ctrl+Y** redo  \n"
    "Mouse wheel or pinch: zoom · **Space**+drag, right or middle drag, two fingers: pan · **0** fit · **1** 100 %"
)

_HTML = """
<div class="ps-touchup" tabindex="0" data-testid="touchup-canvas">
  <div class="ps-bar">
    <span class="ps-tool"></span>
    <span class="ps-spacer"></span>
    <button type="button" data-view="out" title="Zoom out (-)">−</button>
    <span class="ps-zoom">100 %</span>
    <button type="button" data-view="in" title="Zoom in (+)">+</button>
    <button type="button" data-view="actual" title="Preview pixels at 100 % (1)">100 %</button>
    <button type="button" data-view="fit" title="Fit the photo (0)">Fit</button>
  </div>
  <canvas class="ps-canvas"></canvas>
</div>
"""

_CSS = """
.ps-touchup { display: flex; flex-direction: column; gap: 6px; outline: none; font-family: sans-serif; }
.ps-bar { display: flex; align-items: center; gap: 6px; font-size: 14px; color: var(--st-text-color, #31333f); }
.ps-spacer { flex: 1; }
.ps-bar button { border: 1px solid rgba(128, 128, 128, 0.5); background: transparent; color: inherit;
  border-radius: 6px; padding: 2px 10px; cursor: pointer; font-size: 14px; }
.ps-bar button:hover { border-color: #ff4b4b; color: #ff4b4b; }
.ps-zoom { min-width: 56px; text-align: center; font-variant-numeric: tabular-nums; }
.ps-canvas { touch-action: none; cursor: none; border-radius: 6px; display: block; }
"""

_COMPONENT = st.components.v2.component(
    "portrait_studio.touchup_canvas", html=_HTML, css=_CSS,
    js=(Path(__file__).with_name("touchup_canvas.js")).read_text(encoding="utf-8"),
)


def picture_url(picture: np.ndarray, quality: int = 90) -> str:
    """uint8 HxWx3 RGB → a JPEG data URL (the canvas's picture; a few hundred kB at 1280 px)."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_image(picture, "jpeg", quality=quality)).decode("ascii")


def canvas_view(key: str) -> tuple[tuple[float, float, float, float], tuple[int, int]] | None:
    """The part of the photo the canvas shows zoomed in past the preview's pixels: (box (x0, y0, x1, y1) as
    fractions of the width and height, its size on screen in device pixels (w, h)); None when not zoomed in."""
    view = (st.session_state.get(key) or {}).get("view")
    try:
        box = tuple(float(v) for v in view["box"])
        pixels = tuple(int(v) for v in view["pixels"])
    except (TypeError, KeyError, ValueError):
        return None
    if len(box) != 4 or len(pixels) != 2 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        return None
    return box, (max(1, min(pixels[0], 8192)), max(1, min(pixels[1], 8192)))


def touchup_canvas(
    picture: np.ndarray,
    *,
    full_size: tuple[int, int],
    detail: tuple[np.ndarray, tuple[float, float, float, float]] | None = None,
    tool: str,
    label: str,
    radius: float,
    snap: bool,
    revision: int,
    key: str,
    on_stroke: Callable[[], None],
    on_command: Callable[[], None],
) -> Any:
    """Mount the canvas over `picture` (uint8 HxWx3, the preview of a photo of `full_size` (H, W)) with the
    current tool, brush radius (fraction of the long side) and snapping; `detail` is (a uint8 picture, its box as
    fractions) of the full-size photo, drawn over the preview where `canvas_view` asked for it; `revision`
    changes whenever the edits do. The callbacks read the finished stroke from st.session_state[key]["stroke"]
    and the command from st.session_state[key]["command"]."""
    data = {
        "image": picture_url(picture), "width": int(picture.shape[1]), "height": int(picture.shape[0]),
        "fullWidth": int(full_size[1]), "fullHeight": int(full_size[0]),
        "tool": tool, "label": label, "radius": float(radius), "snap": bool(snap), "revision": int(revision),
        "view": (st.session_state.get(key) or {}).get("view"),
        "detail": None if detail is None else {"image": picture_url(detail[0]), "box": list(detail[1])},
    }
    return _COMPONENT(data=data, key=key, on_stroke_change=on_stroke, on_command_change=on_command,
                      on_view_change=lambda: None)

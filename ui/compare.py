"""Self-contained before/after comparison slider (no CDN, lossless PNG, transparency kept)."""

from __future__ import annotations

import base64
import html
import math
import re

import numpy as np

from core.imageio import PNG_COMPRESS_LEVEL
from core.png import encode_png

_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>
html,body{margin:0;padding:0;background:transparent}
.cmp{position:relative;display:block;width:__W__px;max-width:100%;overflow:hidden;user-select:none;
  font:600 13px/1.2 system-ui,sans-serif}
.cmp img{display:block;width:100%;height:auto}
.checker{background:repeating-conic-gradient(#c8c8c8 0 25%,#fff 0 50%) 0 0/16px 16px}
.after{position:absolute;inset:0;clip-path:inset(0 0 0 __P__%)}
.handle{position:absolute;top:0;bottom:0;left:__P__%;width:3px;margin-left:-1.5px;background:#fff;
  box-shadow:0 0 0 1px rgba(0,0,0,.45);pointer-events:none}
.handle::after{content:"\\2194";position:absolute;top:50%;left:50%;transform:translate(-50%,-50%);
  width:28px;height:28px;border-radius:50%;background:#fff;color:#333;font-size:16px;line-height:28px;
  text-align:center;box-shadow:0 1px 4px rgba(0,0,0,.5)}
.label{position:absolute;top:8px;padding:3px 8px;border-radius:4px;background:rgba(0,0,0,.6);color:#fff;
  pointer-events:none;max-width:40%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.label.l{left:8px}.label.r{right:8px}
#compare-range{position:absolute;inset:0;width:100%;height:100%;margin:0;opacity:0;cursor:ew-resize;
  -webkit-appearance:none;appearance:none;background:transparent}
#compare-range::-webkit-slider-thumb{-webkit-appearance:none;width:1px;height:100%}
#compare-range:focus-visible~.handle{background:#4a90ff}
</style></head><body>
<div class="cmp checker" id="compare" data-position="__P__">
<img class="before" src="__B__" width="__W__" height="__H__" alt="__BL__" draggable="false">
<div class="after checker"><img src="__A__" width="__W__" height="__H__" alt="__AL__" draggable="false"></div>
<span class="label l">__BL__</span><span class="label r">__AL__</span>
<input type="range" id="compare-range" min="0" max="100" step="0.1" value="__P__"
  aria-label="Comparison split position: left shows __BL__, right shows __AL__">
<div class="handle"></div>
</div>
<script>
(function(){
  var root=document.getElementById("compare"), r=document.getElementById("compare-range");
  var after=root.querySelector(".after"), handle=root.querySelector(".handle");
  function update(){
    var v=r.value;
    root.setAttribute("data-position",v);
    after.style.clipPath="inset(0 0 0 "+v+"%)";
    handle.style.left=v+"%";
  }
  r.addEventListener("input",update);
  r.addEventListener("change",update);
  update();
})();
</script>
</body></html>
"""


def _as_uint8_image(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} must be a uint8 array, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"{name} must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return np.ascontiguousarray(arr)


def png_data_uri(image: np.ndarray) -> str:
    """Encode a uint8 grey/RGB/RGBA array as a lossless ``data:image/png;base64,...`` URI."""
    arr = _as_uint8_image(image, "image")
    return "data:image/png;base64," + base64.b64encode(encode_png(arr, PNG_COMPRESS_LEVEL)).decode("ascii")


def comparison_html(
    before: np.ndarray,
    after: np.ndarray,
    *,
    before_label: str = "Before",
    after_label: str = "After",
    start: float = 50.0,
) -> str:
    """A complete offline HTML document: ``before`` on the left of the handle, ``after`` on the right."""
    b = _as_uint8_image(before, "before")
    a = _as_uint8_image(after, "after")
    if b.shape[:2] != a.shape[:2]:
        raise ValueError(
            "before and after must have the same size: "
            f"before is {b.shape[1]}x{b.shape[0]}, after is {a.shape[1]}x{a.shape[0]} (width x height)"
        )
    start = float(start)
    if not math.isfinite(start):
        raise ValueError(f"start must be a finite percentage, got {start}")
    pos = f"{round(min(max(start, 0.0), 100.0), 1):g}"
    h, w = b.shape[:2]
    # Only numbers and base64 go into the markup unescaped; labels are escaped and never reach the JS.
    subs = {
        "__B__": png_data_uri(b), "__A__": png_data_uri(a),
        "__BL__": html.escape(str(before_label)), "__AL__": html.escape(str(after_label)),
        "__W__": str(w), "__H__": str(h), "__P__": pos,
    }
    # One pass, so text substituted for a placeholder is never scanned again.
    return re.sub(r"__(?:BL|AL|B|A|W|H|P)__", lambda m: subs[m.group(0)], _TEMPLATE)


def image_comparison(
    before: np.ndarray,
    after: np.ndarray,
    *,
    before_label: str = "Before",
    after_label: str = "After",
    start: float = 50.0,
    height: int | None = None,
) -> None:
    """Render the comparison slider in Streamlit; by default the iframe sizes itself to its content."""
    import streamlit as st

    doc = comparison_html(before, after, before_label=before_label, after_label=after_label, start=start)
    st.iframe(doc, width="stretch", height="content" if height is None else int(height),
              alt=f"{before_label} / {after_label} comparison")

// Touch-up canvas (Streamlit custom component v2, no build step): draws the picture Python sends, lets the
// user paint strokes or click regions on it, and sends each finished stroke to Python on pointer release
// (setTriggerValue("stroke", ...)); tool, size and undo/redo keys go to Python as commands. Zoom and pan are
// local to the browser. Everything shown is redrawn from `data`, so undo and page switches are exact.

const KEYS = {
  e: ["tool", "erase"], r: ["tool", "restore"], a: ["tool", "add_region"], d: ["tool", "remove_region"],
  s: ["snap", null], "[": ["size", -1], "]": ["size", 1],
};
const COLOURS = { erase: "255, 70, 70", restore: "40, 200, 120", add_region: "40, 200, 120", remove_region: "255, 70, 70" };

function setup(root) {
  const canvas = root.querySelector("canvas");
  const view = { scale: 1, ox: 0, oy: 0, fitted: false };
  const st = {
    root, canvas, view, data: null, image: null, imageSrc: null, pointer: null, stroke: null, pending: null,
    pan: null, pointers: new Map(), pinch: null, spaceDown: false, send: null, nonce: 0,
    detail: null, detailSrc: null, viewTimer: null, sentView: "", setState: null,
  };

  const imagePoint = (x, y) => [(x - view.ox) / view.scale, (y - view.oy) / view.scale];
  const local = (e) => {
    const box = canvas.getBoundingClientRect();
    return [e.clientX - box.left, e.clientY - box.top];
  };
  const radiusPx = () => st.data.radius * Math.max(st.data.width, st.data.height);
  const isRegion = () => st.data.tool === "add_region" || st.data.tool === "remove_region";

  st.command = (name, value) => { st.nonce += 1; st.send && st.send("command", { name, value, nonce: st.nonce }); };

  st.zoomAt = (factor, x, y) => {
    const scale = Math.min(Math.max(view.scale * factor, 0.05), 16);
    view.ox = x - ((x - view.ox) * scale) / view.scale;
    view.oy = y - ((y - view.oy) * scale) / view.scale;
    view.scale = scale;
    st.draw();
    st.scheduleView();
  };
  st.fit = () => {
    if (!st.data) return;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    view.scale = Math.min(w / st.data.width, h / st.data.height);
    view.ox = (w - st.data.width * view.scale) / 2;
    view.oy = (h - st.data.height * view.scale) / 2;
    st.draw();
    st.scheduleView();
  };
  // Screen pixels per pixel of the full-size photo (the preview is smaller than the photo above 1280 px).
  const fullScale = () => view.scale * st.data.width / st.data.fullWidth;
  st.actual = () => {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    const [cx, cy] = st.pointer || [w / 2, h / 2];
    st.zoomAt(1 / fullScale(), cx, cy);
  };
  // Zoomed in past the preview's own pixels, ask Python (once the view settles) for the visible part of the
  // full-size photo, so hair can be worked on at the photo's 100 %.
  st.scheduleView = () => {
    clearTimeout(st.viewTimer);
    st.viewTimer = setTimeout(() => {
      if (!st.data || !st.setState) return;
      let wanted = null;
      if (st.data.fullWidth > st.data.width && view.scale > 1.05) {
        const dpr = window.devicePixelRatio || 1;
        const { width, height } = st.data;
        const x0 = Math.max(0, -view.ox / view.scale), y0 = Math.max(0, -view.oy / view.scale);
        const x1 = Math.min(width, (canvas.clientWidth - view.ox) / view.scale);
        const y1 = Math.min(height, (canvas.clientHeight - view.oy) / view.scale);
        if (x1 > x0 && y1 > y0) {
          const r = (v) => Math.round(v * 1e5) / 1e5;
          wanted = { box: [r(x0 / width), r(y0 / height), r(x1 / width), r(y1 / height)],
                     pixels: [Math.round((x1 - x0) * view.scale * dpr), Math.round((y1 - y0) * view.scale * dpr)] };
        }
      }
      const key = JSON.stringify(wanted);
      if (key !== st.sentView) {
        st.sentView = key;
        st.setState("view", wanted);
      }
    }, 300);
  };

  st.resize = () => {
    const width = Math.max(200, root.clientWidth);
    const aspect = st.data ? st.data.height / st.data.width : 0.75;
    const height = Math.round(Math.min(Math.max(width * aspect, 240), window.innerHeight * 0.7));
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
      return true;
    }
    return false;
  };

  st.draw = () => {
    const ctx = canvas.getContext("2d");
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#26272e";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!st.data) return;
    ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.ox, dpr * view.oy);
    ctx.imageSmoothingEnabled = fullScale() < 2;  // pixels stay pixels when zoomed in
    if (st.image && st.image.complete) ctx.drawImage(st.image, 0, 0, st.data.width, st.data.height);
    const detail = st.data.detail;
    if (detail && st.detail && st.detail.complete && st.detailSrc === detail.image) {
      const [x0, y0, x1, y1] = detail.box;
      const { width, height } = st.data;
      ctx.drawImage(st.detail, x0 * width, y0 * height, (x1 - x0) * width, (y1 - y0) * height);
    }
    for (const stroke of [st.pending, st.stroke]) {
      if (!stroke || stroke.region) continue;
      const colour = COLOURS[stroke.mode];
      ctx.lineCap = ctx.lineJoin = "round";
      for (const [width, alpha] of [[2 * stroke.radius, 0.25], [stroke.radius, 0.45]]) {
        ctx.strokeStyle = `rgba(${colour}, ${alpha})`;
        ctx.lineWidth = width;
        ctx.beginPath();
        stroke.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        if (stroke.points.length === 1) ctx.lineTo(stroke.points[0][0] + 0.01, stroke.points[0][1]);
        ctx.stroke();
      }
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (st.pointer && !st.pan && !st.pinch) {  // the brush outline (or a crosshair for a region click)
      const [x, y] = st.pointer;
      ctx.lineWidth = 1.5;
      for (const [colour, dash] of [["rgba(0,0,0,0.8)", []], ["rgba(255,255,255,0.95)", [4, 4]]]) {
        ctx.strokeStyle = colour;
        ctx.setLineDash(dash);
        ctx.beginPath();
        if (isRegion()) {
          ctx.moveTo(x - 9, y); ctx.lineTo(x + 9, y); ctx.moveTo(x, y - 9); ctx.lineTo(x, y + 9);
        } else {
          ctx.arc(x, y, Math.max(radiusPx() * view.scale, 1), 0, 2 * Math.PI);
        }
        ctx.stroke();
      }
      ctx.setLineDash([]);
    }
    root.querySelector(".ps-zoom").textContent = `${Math.round(fullScale() * 100)} %`;
  };

  const finishStroke = () => {
    const stroke = st.stroke;
    st.stroke = null;
    if (!stroke) return;
    const { width, height } = st.data;
    const round = (v) => Math.round(v * 1e5) / 1e5;
    const points = stroke.points.map(([x, y]) => [round(x / width), round(y / height)]);
    let payload;
    if (stroke.region) {
      payload = { mode: stroke.mode === "add_region" ? "restore" : "erase", region: true, points: [points[points.length - 1]] };
    } else {
      payload = { mode: stroke.mode, radius: st.data.radius, points, snap: st.data.snap };
    }
    st.pending = stroke;  // drawn until Python's redraw arrives
    st.pendingRevision = st.data.revision;
    st.nonce += 1;
    st.send && st.send("stroke", { ...payload, nonce: st.nonce });
    st.draw();
  };

  canvas.addEventListener("pointerdown", (e) => {
    if (!st.data) return;
    canvas.setPointerCapture(e.pointerId);
    root.focus({ preventScroll: true });
    const [x, y] = local(e);
    st.pointers.set(e.pointerId, [x, y]);
    if (st.pointers.size === 2) {  // two fingers: pinch to zoom and pan; no stroke
      st.stroke = null;
      const [a, b] = [...st.pointers.values()];
      st.pinch = { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
      return;
    }
    if (e.button === 1 || e.button === 2 || st.spaceDown) {
      st.pan = { x, y, ox: view.ox, oy: view.oy };
      e.preventDefault();
      return;
    }
    if (e.button !== 0) return;
    const region = isRegion();
    st.stroke = { mode: st.data.tool, region, radius: radiusPx(), points: [imagePoint(x, y)], last: [x, y] };
    st.draw();
  });
  canvas.addEventListener("pointermove", (e) => {
    const [x, y] = local(e);
    st.pointer = [x, y];
    if (st.pointers.has(e.pointerId)) st.pointers.set(e.pointerId, [x, y]);
    if (st.pinch && st.pointers.size === 2) {
      const [a, b] = [...st.pointers.values()];
      const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      view.ox += mid[0] - st.pinch.mid[0];
      view.oy += mid[1] - st.pinch.mid[1];
      st.pinch.mid = mid;
      if (st.pinch.distance > 0) st.zoomAt(distance / st.pinch.distance, mid[0], mid[1]);
      st.pinch.distance = distance;
      return;
    }
    if (st.pan) {
      view.ox = st.pan.ox + x - st.pan.x;
      view.oy = st.pan.oy + y - st.pan.y;
    } else if (st.stroke && !st.stroke.region) {
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
      for (const event of events) {
        const [ex, ey] = local(event);
        if (Math.hypot(ex - st.stroke.last[0], ey - st.stroke.last[1]) >= 2) {
          st.stroke.points.push(imagePoint(ex, ey));
          st.stroke.last = [ex, ey];
        }
      }
    }
    st.draw();
  });
  const release = (e) => {
    st.pointers.delete(e.pointerId);
    if (st.pinch) {
      if (st.pointers.size === 0) {
        st.pinch = null;
        st.scheduleView();
      }
      return;
    }
    if (st.pan) {
      st.pan = null;
      st.scheduleView();
      return;
    }
    if (e.type === "pointercancel") {
      st.stroke = null;
      st.draw();
      return;
    }
    if (st.stroke) {
      const [x, y] = local(e);
      if (!st.stroke.region && Math.hypot(x - st.stroke.last[0], y - st.stroke.last[1]) > 0) {
        st.stroke.points.push(imagePoint(x, y));
      }
      finishStroke();
    }
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("pointerleave", () => { st.pointer = null; st.draw(); });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [x, y] = local(e);
    st.zoomAt(Math.pow(1.0015, -e.deltaY), x, y);
  }, { passive: false });
  root.querySelectorAll("button[data-view]").forEach((button) => {
    button.addEventListener("click", () => {
      const action = button.dataset.view;
      if (action === "fit") st.fit();
      else if (action === "actual") st.actual();
      else st.zoomAt(action === "in" ? 1.5 : 1 / 1.5, canvas.clientWidth / 2, canvas.clientHeight / 2);
    });
  });
  new ResizeObserver(() => { if (st.resize()) st.fit(); }).observe(root);
  return st;
}

function onKey(e) {
  const st = window.__portraitStudioTouchup;
  if (!st || !st.root.isConnected) return;
  const target = e.target;
  if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
  if (e.type === "keyup") {
    if (e.key === " ") st.spaceDown = false;
    return;
  }
  const key = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && key === "z") {
    st.command(e.shiftKey ? "redo" : "undo", null);
  } else if ((e.ctrlKey || e.metaKey) && key === "y") {
    st.command("redo", null);
  } else if (e.ctrlKey || e.metaKey || e.altKey) {
    return;
  } else if (key === " ") {
    st.spaceDown = true;
  } else if (key === "0") {
    st.fit();
  } else if (key === "1") {
    st.actual();
  } else if (key === "+" || key === "=") {
    st.zoomAt(1.5, st.canvas.clientWidth / 2, st.canvas.clientHeight / 2);
  } else if (key === "-") {
    st.zoomAt(1 / 1.5, st.canvas.clientWidth / 2, st.canvas.clientHeight / 2);
  } else if (KEYS[key]) {
    const [name, value] = KEYS[key];
    if (name === "tool" && st.data) {  // at once, so a click right after the key already uses the new tool
      st.data = { ...st.data, tool: value };
      st.draw();
    }
    st.command(name, value);
  } else {
    return;
  }
  e.preventDefault();
}

export default function (component) {
  const { parentElement, data, setTriggerValue, setStateValue } = component;
  const root = parentElement.querySelector(".ps-touchup");
  if (!root.__state) root.__state = setup(root);
  const st = root.__state;
  st.send = setTriggerValue;
  st.setState = setStateValue;
  window.__portraitStudioTouchup = st;
  if (!window.__portraitStudioTouchupKeys) {
    window.__portraitStudioTouchupKeys = true;
    window.addEventListener("keydown", onKey);
    window.addEventListener("keyup", onKey);
  }
  const first = !st.data;
  if (first) st.sentView = JSON.stringify(data.view ?? null);  // what Python already has
  const sizeChanged = !first && (st.data.width !== data.width || st.data.height !== data.height);
  st.data = data;
  root.dataset.revision = String(data.revision);
  root.querySelector(".ps-tool").textContent = data.label;
  if (st.pending && st.pendingRevision !== data.revision) st.pending = null;
  if (st.imageSrc !== data.image) {
    st.imageSrc = data.image;
    const image = new Image();
    image.onload = () => {
      st.image = image;
      st.pending = st.pendingRevision !== st.data.revision ? null : st.pending;
      root.dataset.drawn = String(st.data.revision);
      st.draw();
    };
    image.src = data.image;
  }
  if (data.detail && st.detailSrc !== data.detail.image) {
    st.detailSrc = data.detail.image;
    const detail = new Image();
    detail.onload = () => { st.detail = detail; root.dataset.detail = String(data.revision); st.draw(); };
    detail.src = data.detail.image;
  }
  if (st.resize() || first || sizeChanged) st.fit();
  st.draw();
}

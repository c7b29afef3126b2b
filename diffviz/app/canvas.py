"""A drawing canvas of our own on Streamlit's components v2 (HTML, CSS and JS strings; no build step).

Mouse, pen and finger (pointer events, ``touch-action: none``), a thick round brush, Undo and Clear
buttons (real buttons: Tab and Enter/Space work), and for a colour model a few colour swatches.
On pointer-up the canvas reduces its picture to the model's size (the mean of each cell), at 4 bits
per value, and sends it as one hex digit per value with a message id (``setStateValue("drawing",
{hex, id})``). Python hands a grid back in ``data`` to show (a drawing from a link); the canvas
repaints only when that differs from what it holds, so a rerun never wipes a stroke in progress.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from diffviz.data import drawing
from diffviz.figures import palette

CELL = 10                      # canvas pixels per model pixel: 280×280 for a digit, 320×320 for a scene
COLOURS = palette.INK            # the shapes' colours

HTML = """
<div class="dv-wrap">
  <canvas class="dv-canvas" role="img" tabindex="0"
          aria-label="Drawing canvas: draw with the mouse, a pen or a finger"></canvas>
  <div class="dv-tools" role="toolbar" aria-label="Drawing tools">
    <button type="button" class="dv-undo" aria-label="Undo the last stroke">↶ Undo</button>
    <button type="button" class="dv-clear" aria-label="Clear the canvas">✕ Clear</button>
    <span class="dv-swatches" role="group" aria-label="Brush colour"></span>
  </div>
</div>
"""

CSS = """
.dv-wrap { display: flex; flex-direction: column; gap: 0.5rem; align-items: flex-start; }
.dv-canvas { width: 280px; height: 280px; background: #000; border-radius: 6px; cursor: crosshair;
             touch-action: none; border: 1px solid var(--st-border-color, #888); }
.dv-canvas:focus-visible, .dv-tools button:focus-visible { outline: 3px solid var(--st-primary-color, #f63); }
.dv-tools { display: flex; gap: 0.4rem; align-items: center; flex-wrap: wrap; }
.dv-tools button { font: inherit; font-size: 0.9rem; padding: 0.25rem 0.7rem; border-radius: 6px; cursor: pointer;
                   border: 1px solid var(--st-border-color, #888); background: var(--st-secondary-background-color, #eee);
                   color: var(--st-text-color, #222); }
.dv-swatches { display: inline-flex; gap: 0.3rem; }
.dv-swatches button { width: 2rem; height: 2rem; padding: 0; border-radius: 50%; }
.dv-swatches button[aria-pressed="true"] { outline: 3px solid var(--st-primary-color, #f63); outline-offset: 1px; }
"""

JS = """
export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const canvas = parentElement.querySelector('.dv-canvas');
  const size = data.size, channels = data.channels, cell = data.cell, W = size * cell;
  let s = canvas.__dv;
  if (!s || s.W !== W || s.channels !== channels) {
    canvas.width = W; canvas.height = W;
    s = canvas.__dv = { W, channels, undo: [], shown: null, drawing: false, last: null, sent: 0,
                        nonce: Math.random().toString(36).slice(2, 10), colour: data.colours ? Object.values(data.colours)[0] : '__INK__' };
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    s.ctx = ctx;
    ctx.fillStyle = '__BACKGROUND__'; ctx.fillRect(0, 0, W, W);
    const at = (e) => { const r = canvas.getBoundingClientRect();
                        return [(e.clientX - r.left) * W / r.width, (e.clientY - r.top) * W / r.height]; };
    const brush = () => { ctx.strokeStyle = s.colour; ctx.fillStyle = s.colour; ctx.lineCap = 'round';
                          ctx.lineJoin = 'round'; ctx.lineWidth = data.brush; };
    const snapshot = () => { s.undo.push(ctx.getImageData(0, 0, W, W)); if (s.undo.length > 40) s.undo.shift(); };
    const send = () => {
      const img = ctx.getImageData(0, 0, W, W).data, n = size * size, out = new Array(channels * n);
      for (let c = 0; c < channels; c++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        let sum = 0;
        for (let dy = 0; dy < cell; dy++) for (let dx = 0; dx < cell; dx++) {
          const p = ((y * cell + dy) * W + x * cell + dx) * 4;
          sum += channels === 1 ? Math.max(img[p], img[p + 1], img[p + 2]) : img[p + c];
        }
        out[c * n + y * size + x] = Math.min(15, Math.round(sum / (cell * cell) / 255 * 15)).toString(16);
      }
      s.shown = out.join('');
      s.sent += 1;
      s.set('drawing', { hex: s.shown, id: s.nonce + ':' + s.sent });
    };
    s.send = send;
    canvas.addEventListener('pointerdown', (e) => {
      e.preventDefault(); snapshot(); brush(); s.drawing = true; s.last = at(e);
      canvas.setPointerCapture(e.pointerId);
      ctx.beginPath(); ctx.arc(s.last[0], s.last[1], data.brush / 2, 0, 2 * Math.PI); ctx.fill();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!s.drawing) return;
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
      for (const ev of (events.length ? events : [e])) {
        const p = at(ev); ctx.beginPath(); ctx.moveTo(s.last[0], s.last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke(); s.last = p;
      }
    });
    const up = () => { if (!s.drawing) return; s.drawing = false; send(); };
    canvas.addEventListener('pointerup', up);
    canvas.addEventListener('pointercancel', up);
    parentElement.querySelector('.dv-undo').addEventListener('click', () => {
      if (!s.undo.length) return; ctx.putImageData(s.undo.pop(), 0, 0); send(); });
    parentElement.querySelector('.dv-clear').addEventListener('click', () => {
      snapshot(); ctx.fillStyle = '__BACKGROUND__'; ctx.fillRect(0, 0, W, W); send(); });
    const sw = parentElement.querySelector('.dv-swatches');
    sw.innerHTML = '';
    for (const [name, col] of Object.entries(data.colours || {})) {
      const b = document.createElement('button');
      b.type = 'button'; b.style.background = col; b.title = name;
      b.setAttribute('aria-label', 'Brush colour ' + name);
      b.setAttribute('aria-pressed', String(col === s.colour));
      b.addEventListener('click', () => { s.colour = col;
        for (const o of sw.children) o.setAttribute('aria-pressed', String(o === b)); });
      sw.appendChild(b);
    }
  }
  s.set = setStateValue;
  if (typeof data.hex === 'string' && data.hex !== s.shown && !s.drawing) {
    const ctx = s.ctx, n = size * size;                         // a drawing from Python (a link): paint its cells
    ctx.fillStyle = '__BACKGROUND__'; ctx.fillRect(0, 0, W, W);
    if (data.hex.length === channels * n) {
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        const v = [0, 1, 2].map(c => Math.round(parseInt(data.hex[(channels === 1 ? 0 : c) * n + y * size + x], 16) * 17));
        if (v[0] + v[1] + v[2] === 0) continue;
        ctx.fillStyle = `rgb(${v[0]}, ${v[1]}, ${v[2]})`; ctx.fillRect(x * cell, y * cell, cell, cell);
      }
    }
    s.shown = data.hex; s.undo = [];
  }
}
"""

JS = JS.replace("__INK__", palette.CANVAS_INK).replace("__BACKGROUND__", palette.CANVAS_BACKGROUND)
_COMPONENT = st.components.v2.component("diffviz_canvas", html=HTML, css=CSS, js=JS)


def canvas(key: str, channels: int, size: int, grid: np.ndarray | None = None) -> dict | None:
    """Mount the canvas showing ``grid`` ((C, S, S) 0..15, or blank); return the canvas's last message.

    The message is ``{"hex": ..., "id": ...}`` (a new id for every stroke, undo or clear) or None when
    nothing was drawn on this mount yet.
    """
    shown = drawing.to_hex(grid) if grid is not None else ""
    data = {"size": size, "channels": channels, "cell": CELL, "hex": shown,
            "brush": 24 if channels == 1 else 30, "colours": COLOURS if channels == 3 else None}
    result = _COMPONENT(key=key, data=data, default={"drawing": None}, on_drawing_change=lambda: None,
                        width="content")
    return _message(result)


def pending(key: str) -> dict | None:
    """The canvas's last message as it stands before the canvas is mounted in this run (or None).

    Read it first and mount the canvas with the drawing it makes: mounted with the previous drawing,
    the canvas would paint that over the stroke just made.
    """
    return _message(st.session_state.get(key))


def _message(state) -> dict | None:
    msg = getattr(state, "drawing", None) if state is not None else None
    if msg is None and isinstance(state, dict):
        msg = state.get("drawing")
    return msg if isinstance(msg, dict) else None

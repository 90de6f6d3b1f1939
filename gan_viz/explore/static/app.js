// gan-viz explore: the page. Plain JavaScript, no build step, nothing from the network.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) e.append(kid);
  return e;
};
const pct = (x) => (x == null ? "n/a" : (100 * x).toFixed(1) + "%");

const state = {
  info: null,
  pins: [],              // [{id, origin}]
  editLayer: null,       // "G.relu3"
  viewLayer: null,       // the layer the units table shows (G or D)
  ablate: new Set(),     // units of editLayer ablated everywhere
  brush: new Set(),      // units the brush paints
  strokes: {},           // pin id -> {remove: Float32Array, insert: Float32Array}
  concept: null,
  table: null,
  lastRender: null,
  arithY: null,
};

// --- requests ------------------------------------------------------------------------------

let busy = 0;
function status(text, isError = false) {
  const s = $("#status");
  s.textContent = text || "";
  s.classList.toggle("error", isError);
}

async function api(path, opts = {}) {
  const init = { method: opts.method || (opts.body ? "POST" : "GET"), signal: opts.signal };
  if (opts.body) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(opts.body);
  }
  busy++;
  if (!opts.quiet) status("computing\u2026");
  try {
    const r = await fetch(path, init);
    const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (r.status === 409 && data.superseded) return null;      // a newer request replaced it
    if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
    if (busy === 1) status("");
    return data;
  } catch (e) {
    if (e.name === "AbortError") return null;
    status(e.message, true);
    throw e;
  } finally {
    busy--;
  }
}

// A channel sends one request at a time and keeps only the latest one waiting: requests made
// while one is in flight replace each other, and answers older than the latest are ignored. One
// at a time, because an aborted fetch may still reach the server after a newer one and, taking
// the newer arrival ticket there, have the newest request dropped as superseded.
function channel(path) {
  let seq = 0, running = false, waiting = null;
  async function pump() {
    running = true;
    while (waiting) {
      const job = waiting;
      waiting = null;
      const data = await api(path, { body: job.body, quiet: job.quiet }).catch(() => null);
      job.resolve(data && data.seq === job.seq && job.seq === seq ? data : null);
    }
    running = false;
  }
  return (body, quiet = false) => new Promise((resolve) => {
    const mine = ++seq;
    if (waiting) waiting.resolve(null);  // replaced before it was sent
    waiting = { body: { ...body, seq: mine }, seq: mine, quiet, resolve };
    if (!running) pump();
  });
}
const editChannel = channel("/api/edit");
const walkChannel = channel("/api/walk");
const dirChannel = channel("/api/direction");

// --- samples and pins ----------------------------------------------------------------------

async function drawGrid() {
  const seed = parseInt($("#seed").value || "0", 10), n = parseInt($("#n").value || "16", 10);
  const data = await api("/api/samples", { body: { seed, n } });
  const grid = $("#grid");
  grid.dataset.seed = seed;
  grid.replaceChildren(...data.images.map((src, i) =>
    el("img", { src, class: "thumb", title: `seed ${seed} #${i}: click to pin`, "data-index": i,
                onclick: () => pinGrid(i) })));
  markGrid();
}

function markGrid() {
  const seed = $("#grid").dataset.seed;
  for (const img of document.querySelectorAll("#grid img")) {
    img.classList.toggle("pinned", state.pins.some((p) => p.origin === `seed ${seed} #${img.dataset.index}`));
  }
}

async function pinGrid(i) {
  const data = await api("/api/pins", { body: { grid: i } });
  setPins(data.state.pins);
  await sendEdit(true);
}

async function pinZ(z) {
  const data = await api("/api/pins", { body: { z } });
  setPins(data.state.pins);
  await sendEdit(true);
}

async function unpin(id) {
  const data = await api(`/api/pins/${id}`, { method: "DELETE" });
  delete state.strokes[id];
  setPins(data.state.pins);
  await sendEdit(true);
}

function setPins(pins) {
  state.pins = pins;
  const [H, W] = state.info.image_shape.slice(1);
  for (const p of pins) {
    if (!state.strokes[p.id]) state.strokes[p.id] = { remove: new Float32Array(H * W), insert: new Float32Array(H * W) };
  }
  buildPinCards();
  fillPinSelects();
  markGrid();
  refreshDirections();
}

function buildPinCards() {
  const box = $("#pins");
  box.replaceChildren(...state.pins.map((p) => {
    const after = el("img", { class: "after", alt: `pinned ${p.id}`, "data-pin": p.id });
    const overlay = el("canvas", { class: "overlay", "data-pin": p.id });
    const [H, W] = state.info.image_shape.slice(1);
    overlay.width = W; overlay.height = H;
    attachBrush(overlay, p.id);
    return el("figure", { class: "pin", "data-pin": p.id },
      el("div", { class: "paint" }, after, overlay),
      el("figcaption", {},
        el("img", { class: "before", alt: "before the edit", title: "before the edit" }),
        el("span", { class: "origin", text: `#${p.id} ${p.origin}` }),
        el("span", { class: "pin-measure" }),
        el("a", { href: `/api/pins/${p.id}/z.npy`, download: `z_pin${p.id}.npy`, text: "z" }),
        el("button", { type: "button", class: "unpin", title: "unpin", text: "\u00d7", onclick: () => unpin(p.id) })));
  }));
  for (const p of state.pins) drawOverlay(p.id);
}

// --- painting ------------------------------------------------------------------------------

function brushMode() { return document.querySelector("input[name=brush]:checked").value; }

function drawOverlay(id) {
  const c = document.querySelector(`canvas.overlay[data-pin="${id}"]`);
  if (!c) return;
  const ctx = c.getContext("2d"), s = state.strokes[id], img = ctx.createImageData(c.width, c.height);
  for (let i = 0; i < s.remove.length; i++) {
    const r = s.remove[i], a = s.insert[i];
    if (r > 0) img.data.set([230, 30, 30, Math.round(80 * r)], 4 * i);
    else if (a > 0) img.data.set([30, 210, 80, Math.round(80 * a)], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

function paintAt(id, x, y) {
  const [H, W] = state.info.image_shape.slice(1);
  const rad = parseInt($("#brush-size").value, 10) * W / 64, mode = brushMode(), s = state.strokes[id];
  for (let yy = Math.max(0, Math.floor(y - rad)); yy <= Math.min(H - 1, Math.ceil(y + rad)); yy++) {
    for (let xx = Math.max(0, Math.floor(x - rad)); xx <= Math.min(W - 1, Math.ceil(x + rad)); xx++) {
      if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 > rad * rad) continue;
      const i = yy * W + xx;
      if (mode === "remove") { s.remove[i] = 1; s.insert[i] = 0; }
      else if (mode === "insert") { s.insert[i] = 1; s.remove[i] = 0; }
      else { s.remove[i] = 0; s.insert[i] = 0; }
    }
  }
  drawOverlay(id);
}

function attachBrush(canvas, id) {
  let down = false;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) / r.width * canvas.width, (ev.clientY - r.top) / r.height * canvas.height];
  };
  canvas.addEventListener("pointerdown", (ev) => {
    if (mode_needs_units()) return;
    down = true; canvas.setPointerCapture(ev.pointerId);
    paintAt(id, ...at(ev)); sendEdit(false, true);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!down) return;
    paintAt(id, ...at(ev)); sendEdit(false, true);
  });
  const up = () => { if (down) { down = false; sendEdit(true); } };
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
}

function mode_needs_units() {
  if (state.brush.size === 0 && brushMode() !== "erase") {
    status("choose the brush units first (Pick units, or tick units in the brush column)", true);
    return true;
  }
  return false;
}

// --- the edit ------------------------------------------------------------------------------

function editBody(measure) {
  const strokes = {};
  for (const p of state.pins) {
    const s = state.strokes[p.id];
    const anyR = s.remove.some((v) => v > 0), anyI = s.insert.some((v) => v > 0);
    if (anyR || anyI) strokes[p.id] = { remove: anyR ? Array.from(s.remove) : null, insert: anyI ? Array.from(s.insert) : null };
  }
  return { layer: state.editLayer, ablate: [...state.ablate], units: [...state.brush], strokes,
           concept: state.concept, measure };
}

async function sendEdit(measure = true, quiet = false) {
  if (!state.info.has_G) return;
  const data = await editChannel(editBody(measure), quiet).catch(() => null);
  if (data) showRender(data);
}

function showRender(data) {
  state.lastRender = data;
  data.pins.forEach((p, i) => {
    const card = document.querySelector(`figure.pin[data-pin="${p.id}"]`);
    if (!card) return;
    card.querySelector("img.after").src = data.after[i];
    card.querySelector("img.before").src = data.before[i];
  });
  if (data.measure) showMeasure(data.measure);
  const t = data.timing_ms;
  $("#edit-layer").textContent = `edit layer ${state.editLayer} \u00b7 ${t.generate.toFixed(0)} ms to regenerate`;
}

function showMeasure(m) {
  const box = $("#measure");
  if (m.absent) { box.replaceChildren(el("p", { class: "muted", text: `No measure: ${m.absent}.` })); return; }
  box.dataset.before = m.before; box.dataset.after = m.after;
  box.dataset.inMaskBefore = m.in_mask_before ?? ""; box.dataset.inMaskAfter = m.in_mask_after ?? "";
  const delta = m.before > 0 ? ` (${m.after >= m.before ? "+" : ""}${(100 * (m.after - m.before) / m.before).toFixed(0)}%)` : "";
  const line = el("p", { class: "big-measure" },
    el("b", { text: `${m.concept} pixels` }), ` ${pct(m.before)} \u2192 ${pct(m.after)}${delta}`,
    el("span", { class: "muted", text: ` on ${m.per_pin.length} pinned samples, by ${m.instrument}${m.forced ? " (FORCED)" : ""}` }));
  const kids = [line];
  if (m.in_mask_before != null) kids.push(el("p", {}, "in the painted region: ", `${pct(m.in_mask_before)} \u2192 ${pct(m.in_mask_after)}`));
  const bars = el("div", { class: "bars compact" });
  m.classes.forEach((c, i) => bars.append(barRow(c, m.fractions_before[i], m.fractions_after[i], c === m.concept)));
  kids.push(bars);
  box.replaceChildren(...kids);
  for (const p of m.per_pin) {
    const card = document.querySelector(`figure.pin[data-pin="${p.id}"] .pin-measure`);
    if (card) {
      card.textContent = `${pct(p.before)}\u2192${pct(p.after)}`;
      card.dataset.before = p.before; card.dataset.after = p.after;
    }
  }
}

function barRow(name, a, b, strong) {
  const w = (x) => `${Math.min(100, 100 * x * 2).toFixed(1)}%`;
  return el("div", { class: "bar-row" + (strong ? " strong" : "") },
    el("span", { class: "bar-name", text: name }),
    el("span", { class: "bar-track" }, el("span", { class: "bar before", style: `width:${w(a)}` }),
      b == null ? null : el("span", { class: "bar after", style: `width:${w(b)}` })),
    el("span", { class: "bar-val", text: b == null ? pct(a) : `${pct(a)} \u2192 ${pct(b)}` }));
}

// --- units ---------------------------------------------------------------------------------

async function loadUnits(layer) {
  state.viewLayer = layer;
  const t = await api(`/api/units?layer=${encodeURIComponent(layer)}`);
  if (state.viewLayer !== layer) return;
  state.table = t;
  const editable = t.editable;
  if (editable && layer !== state.editLayer) {
    state.editLayer = layer; state.ablate.clear(); state.brush.clear(); updateBrushUnits();
    sendEdit(true);
  }
  if (editable) { $("#k").value = Math.max(1, Math.floor(t.shape[0] / 4)); $("#k").max = t.shape[0]; }
  renderTable();
  $("#unit-detail").replaceChildren(el("p", { class: "hint", text: `${t.layer}: ${t.shape[0]} units, measured on ${t.scan} samples` +
    (t.instrument ? `; labels by dissection with ${t.instrument} (IoU \u2265 ${t.iou_threshold})` : `; no labels (${t.absent})`) + ". Click a unit." }));
}

function renderTable() {
  const t = state.table;
  if (!t) return;
  const cid = t.classes ? t.classes.indexOf(state.concept) : -1;
  let rows = t.units.slice();
  const sort = $("#sort").value;
  if (sort === "concept" && cid >= 0) rows.sort((a, b) => t.iou_rows[b.unit][cid] - t.iou_rows[a.unit][cid]);
  else if (sort === "iou") rows.sort((a, b) => (b.iou ?? 0) - (a.iou ?? 0));
  const g = t.editable;
  $("#units tbody").replaceChildren(...rows.map((u) => {
    const tr = el("tr", { "data-unit": u.unit, class: u.dead ? "dead" : "", onclick: (ev) => {
      if (ev.target.tagName !== "INPUT") showUnit(t.layer, u.unit);
    } });
    const label = u.label ? el("b", { text: u.label }) : el("span", { class: "muted", text: u.best ?? "" });
    const iou = cid >= 0 && sort === "concept" ? t.iou_rows[u.unit][cid] : u.iou;
    tr.append(el("td", { text: u.unit }), el("td", {}, label), el("td", { text: iou == null ? "" : iou.toFixed(3) }),
      el("td", { text: u.max.toFixed(2) }));
    for (const [set, cls] of [[state.ablate, "ablate"], [state.brush, "brush"]]) {
      const box = el("input", { type: "checkbox", class: cls, title: g ? cls : "D units cannot be edited" });
      box.checked = g && set.has(u.unit); box.disabled = !g;
      box.addEventListener("change", () => {
        box.checked ? set.add(u.unit) : set.delete(u.unit);
        updateBrushUnits();
        if (cls === "ablate" || hasPaint()) sendEdit(true);
      });
      tr.append(el("td", {}, box));
    }
    return tr;
  }));
}

function hasPaint() {
  return Object.values(state.strokes).some((s) => s.remove.some((v) => v > 0) || s.insert.some((v) => v > 0));
}

function updateBrushUnits() {
  $("#brush-units").textContent = state.brush.size ? [...state.brush].sort((a, b) => a - b).join(", ") : "none";
}

async function showUnit(layer, unit) {
  for (const tr of document.querySelectorAll("#units tbody tr")) tr.classList.toggle("sel", +tr.dataset.unit === unit);
  const d = await api(`/api/unit?layer=${encodeURIComponent(layer)}&unit=${unit}`);
  const r = d.row;
  const head = el("p", {}, el("b", { text: `${d.layer} unit ${unit}` }),
    r.label ? ` \u2014 ${r.label} (IoU ${r.iou.toFixed(3)})` : (r.best ? ` \u2014 no label (best: ${r.best}, IoU ${r.iou.toFixed(3)})` : ""));
  const kids = [head];
  if (d.top_classes) kids.push(el("p", { class: "muted", text: "IoU: " + d.top_classes.map((c) => `${c.class} ${c.iou.toFixed(3)}`).join(", ") }));
  const strip = (title, srcs) => el("div", { class: "strip-row" }, el("span", { class: "strip-title", text: title }),
    ...srcs.map((s) => el("img", { src: s, class: "thumb small" })));
  kids.push(strip("top images", d.images), strip("activation", d.heat));
  if (d.gbp_maps) kids.push(strip("guided backprop", d.gbp_maps));
  if (d.gbp_absent) kids.push(el("p", { class: "muted", text: `No guided backprop: ${d.gbp_absent}` }));
  $("#unit-detail").replaceChildren(...kids);
}

async function pickConcept() {
  const layer = state.editLayer, k = parseInt($("#k").value, 10), rank = $("#rank").value;
  const d = await api(`/api/concept?layer=${encodeURIComponent(layer)}&concept=${encodeURIComponent(state.concept)}&rank=${rank}&k=${k}`);
  state.brush = new Set(d.units);
  updateBrushUnits();
  if (state.viewLayer === layer) renderTable();
  status(`${d.units.length} ${d.concept} units by ${d.how}`);
  if (hasPaint()) sendEdit(true);
}

function ablateBrush() {
  for (const u of state.brush) state.ablate.add(u);
  if (state.viewLayer === state.editLayer) renderTable();
  sendEdit(true);
}

// --- walk and arithmetic -------------------------------------------------------------------

function fillPinSelects() {
  for (const [sel, k] of [["#walk-a", 0], ["#walk-b", 1]]) {
    const s = $(sel), old = s.value;
    s.replaceChildren(...state.pins.map((p) => el("option", { value: p.id, text: `#${p.id}` })));
    if (state.pins.some((p) => String(p.id) === old)) s.value = old;
    else if (state.pins[k]) s.value = state.pins[k].id;
  }
  const terms = $("#arith-terms");
  terms.replaceChildren(...["a", "b", "c"].map((term, ti) => el("div", { class: "term" },
    el("b", { text: term.toUpperCase() }),
    ...state.pins.map((p, i) => {
      const box = el("input", { type: "checkbox", "data-term": term, value: p.id });
      box.checked = i % 3 === ti && i < 6;
      return el("label", {}, box, `#${p.id}`);
    }))));
  if (state.pins.length >= 2) walk();
}

let walkZ = null;
async function walk() {
  const a = parseInt($("#walk-a").value, 10), b = parseInt($("#walk-b").value, 10);
  if (Number.isNaN(a) || Number.isNaN(b)) return;
  const t = parseInt($("#walk-t").value, 10) / 100;
  const d = await walkChannel({ a, b, t, interp: $("#interp").value }, true).catch(() => null);
  if (!d) return;
  walkZ = d.z;
  $("#walk-frame").src = d.frame;
  $("#walk-frame").dataset.t = d.t;
  const bars = $("#walk-fractions");
  if (d.fractions) {
    const f = d.fractions[0];
    const order = d.classes.map((c, i) => i).sort((i, j) => f[j] - f[i]).slice(0, 6);
    if (!order.includes(d.classes.indexOf(state.concept)) && state.concept) order.push(d.classes.indexOf(state.concept));
    bars.replaceChildren(...order.map((i) => barRow(d.classes[i], f[i], null, d.classes[i] === state.concept)));
    bars.dataset.concept = f[d.classes.indexOf(state.concept)];
  } else bars.replaceChildren(el("p", { class: "muted", text: "no instrument: no class fractions" }));
  $("#walk-strip").replaceChildren(...d.strip.map((s, i) => el("img", {
    src: s, class: "thumb small" + (Math.abs(d.strip_t[i] - d.t) < 0.0626 ? " sel" : ""), title: `t = ${d.strip_t[i]}`,
    onclick: () => { $("#walk-t").value = Math.round(100 * d.strip_t[i]); walk(); } })));
  drawWalkChart(d);
}

function drawWalkChart(d) {
  const c = $("#walk-chart"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  if (!d.strip_fractions || !state.concept) return;
  const cid = d.classes.indexOf(state.concept);
  const ys = d.strip_fractions.map((f) => f[cid]), top = Math.max(0.05, ...ys);
  const X = (i) => 8 + i / (ys.length - 1) * (c.width - 16), Y = (v) => c.height - 6 - v / top * (c.height - 24);
  ctx.strokeStyle = "#999"; ctx.beginPath(); ctx.moveTo(8, Y(0)); ctx.lineTo(c.width - 8, Y(0)); ctx.stroke();
  ctx.strokeStyle = "#2a6fdb"; ctx.lineWidth = 2; ctx.beginPath();
  ys.forEach((v, i) => (i ? ctx.lineTo(X(i), Y(v)) : ctx.moveTo(X(i), Y(v)))); ctx.stroke();
  const tx = 8 + d.t * (c.width - 16);
  ctx.strokeStyle = "#d33"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(tx, 16); ctx.lineTo(tx, c.height - 4); ctx.stroke();
  ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
  ctx.fillText(`${state.concept} share along the walk (max ${pct(top)})`, 10, 12);
}

async function arithmetic() {
  const ids = (term) => [...document.querySelectorAll(`#arith-terms input[data-term=${term}]:checked`)].map((b) => +b.value);
  const d = await api("/api/arithmetic", { body: { a: ids("a"), b: ids("b"), c: ids("c") } });
  state.arithY = d.y;
  $("#arith-pin").disabled = false;
  const cid = d.classes ? d.classes.indexOf(state.concept) : -1;
  const cap = (name, frac) => el("figcaption", { text: cid >= 0 && frac ? `${name}: ${state.concept} ${pct(frac[cid])}` : name });
  const fig = (src, name, frac) => el("figure", {}, el("img", { src, class: "thumb" }), cap(name, frac));
  const f = d.fractions || {};
  $("#arith-out").replaceChildren(el("div", { class: "arith-row" },
    fig(d.means[0], "mean A", f.means && f.means[0]), el("span", { class: "op", text: "\u2212" }),
    fig(d.means[1], "mean B", f.means && f.means[1]), el("span", { class: "op", text: "+" }),
    fig(d.means[2], "mean C", f.means && f.means[2]), el("span", { class: "op", text: "=" }),
    el("figure", { class: "result" }, el("img", { src: d.result, class: "thumb", id: "arith-result" }), cap("Y", f.results && f.results[0])),
    fig(d.pixel, "pixels A\u2212B+C", f.pixel && f.pixel[0])),
    el("div", { class: "strip-row" }, el("span", { class: "strip-title", text: "Y + noise" }),
      ...d.noisy.map((s) => el("img", { src: s, class: "thumb small" }))));
}

// --- directions: one slider each, the pinned samples at z + alpha v, judged ----------------------

const dirs = { list: [], t: null, key: null };

async function loadDirections() {
  const d = await api("/api/directions", { quiet: true }).catch(() => null);
  if (!d || !d.directions.length) return;
  Object.assign(dirs, { list: d.directions, t: d.t });
  $("#directions-panel").classList.remove("hidden");
  $("#dir-note").textContent = `\u03b1 from \u2212${d.t.toFixed(2)} to +${d.t.toFixed(2)} \u00b7 ` +
    (d.judge ? `judged by ${d.judge.name}` : `no class fractions: ${d.absent}`);
  const step = (2 * d.t / 100).toFixed(4);
  $("#dir-sliders").replaceChildren(...d.directions.map((r) => {
    const weak = r.above_random === false;
    const slope = r.slope == null ? "" : `, judged slope ${r.slope.toFixed(4)}`;
    const input = el("input", { type: "range", min: -d.t, max: d.t, step, value: 0, "data-key": r.key,
      "aria-label": `alpha along ${r.key}` });
    input.addEventListener("input", () => moveDirection(r.key, +input.value));
    return el("div", { class: "dir-row" + (weak ? " weak" : ""), "data-key": r.key,
      title: `${r.key}${slope}${r.above_random == null ? "" : weak ? " (not above random)" : " (above random)"}` },
      el("span", { class: "dir-name", text: `${r.concept ?? "unnamed"} \u00b7 ${r.method}` }), input,
      el("span", { class: "dir-alpha", text: "0.00" }));
  }));
  dirs.key = d.directions[0].key;
  await refreshDirections();
}

async function refreshDirections() {  // the pins changed: alpha 0 is the new baseline
  if (!dirs.list.length) return;
  const input = document.querySelector(`#dir-sliders input[data-key="${CSS.escape(dirs.key)}"]`);
  await moveDirection(dirs.key, input ? +input.value : 0);
}

async function moveDirection(key, alpha) {
  for (const row of document.querySelectorAll("#dir-sliders .dir-row")) {
    const mine = row.dataset.key === key, input = row.querySelector("input");
    if (!mine) input.value = 0;  // one direction at a time
    row.classList.toggle("active", mine);
    row.querySelector(".dir-alpha").textContent = (mine ? alpha : 0).toFixed(2);
  }
  dirs.key = key;
  const d = await dirChannel({ key, alpha }, true).catch(() => null);
  if (!d) return;
  const imgs = $("#dir-images");
  imgs.replaceChildren(...d.images.map((src, i) => el("img", { src, class: "thumb", title: `pin #${d.pins[i]}, \u03b1 = ${d.alpha}` })));
  imgs.dataset.alpha = d.alpha; imgs.dataset.key = d.key;
  const bars = $("#dir-fractions");
  if (!d.fractions) { bars.replaceChildren(el("p", { class: "muted", text: `no class fractions: ${d.absent}` })); return; }
  const f = d.fractions, base = d.fractions_base;
  const order = d.classes.map((c, i) => i).sort((i, j) => f[j] - f[i]).slice(0, 8);
  if (d.concept_index != null && !order.includes(d.concept_index)) order.push(d.concept_index);
  bars.replaceChildren(el("p", { class: "muted", text: `mean class shares of the pinned samples, \u03b1 = 0 \u2192 ${d.alpha.toFixed(2)} (${d.judge})` }),
    ...order.map((i) => barRow(d.classes[i], base[i], f[i], i === d.concept_index)));
  bars.dataset.concept = d.concept_index == null ? "" : f[d.concept_index];
  bars.dataset.alpha = d.alpha;
}

// --- start ---------------------------------------------------------------------------------

async function start() {
  const info = await api("/api/info");
  state.info = info;
  $("#subject").textContent = `${info.where} \u00b7 ${info.image_shape.join("x")} \u00b7 nz ${info.nz ?? "-"}`;
  $("#instrument").textContent = info.instrument
    ? `measured by ${info.instrument.name}${info.instrument.forced ? " (FORCED: " + info.instrument.note + ")" : ""}`
    : `no instrument: ${info.absent}`;
  const layers = $("#layer");
  layers.replaceChildren(...info.layers.map((l) => el("option", { value: l.name, text: `${l.name} ${l.shape.join("x")}` })));
  const classes = info.instrument ? info.instrument.classes : [];
  $("#concept").replaceChildren(...classes.map((c) => el("option", { value: c, text: c })));
  state.concept = info.state.edit.concept;
  if (state.concept) $("#concept").value = state.concept;
  for (const id of ["#concept", "#rank", "#k", "#pick-concept", "#sort"]) $(id).disabled = !info.instrument;
  state.editLayer = info.default_layer;
  if (info.has_G) {
    $("#seed").value = info.state.grid.seed; $("#n").value = info.state.grid.n;
    setPins(info.state.pins);
    await drawGrid();
    await sendEdit(true);
  } else {
    for (const id of ["#samples-panel", "#edit-panel", "#walk-panel"]) $(id).classList.add("hidden");
  }
  const first = info.default_layer || (info.layers[0] && info.layers[0].name);
  if (first) { layers.value = first; await loadUnits(first); }
  if (info.has_G) await loadDirections();
  document.body.dataset.ready = "1";
}

function wire() {
  $("#new-grid").addEventListener("click", drawGrid);
  $("#layer").addEventListener("change", () => loadUnits($("#layer").value));
  $("#sort").addEventListener("change", renderTable);
  $("#concept").addEventListener("change", () => { state.concept = $("#concept").value; renderTable(); sendEdit(true); walk(); });
  $("#pick-concept").addEventListener("click", pickConcept);
  $("#ablate-brush").addEventListener("click", ablateBrush);
  $("#clear-paint").addEventListener("click", () => {
    for (const s of Object.values(state.strokes)) { s.remove.fill(0); s.insert.fill(0); }
    for (const p of state.pins) drawOverlay(p.id);
    sendEdit(true);
  });
  $("#reset-edit").addEventListener("click", () => {
    state.ablate.clear();
    for (const s of Object.values(state.strokes)) { s.remove.fill(0); s.insert.fill(0); }
    for (const p of state.pins) drawOverlay(p.id);
    renderTable(); sendEdit(true);
  });
  $("#walk-t").addEventListener("input", walk);
  for (const id of ["#walk-a", "#walk-b", "#interp"]) $(id).addEventListener("change", walk);
  $("#walk-pin").addEventListener("click", () => walkZ && pinZ(walkZ));
  $("#arith-go").addEventListener("click", arithmetic);
  $("#arith-pin").addEventListener("click", () => state.arithY && pinZ(state.arithY));
}

wire();
start().catch((e) => status(`could not start: ${e.message}`, true));

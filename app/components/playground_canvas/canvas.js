// The live Playground canvas (Streamlit components v2). Streamlit calls the default export with every new
// message from the server (player.py); the state that must outlive a message (frames queued and recorded,
// pending clicks, the play loop) lives on the root element. One request is in flight at a time: it asks for
// enough frames to cover a round trip, so frames keep coming while the last answer plays.

const BLUE = [33, 102, 172], RED = [178, 24, 43];  // class 0, class 1 (markers), as app/plots/playground.py
const FIELD = [[127, 178, 224], [247, 247, 247], [236, 138, 138]];  // p(red) 0, 1/2, 1
const FPS = 20, SLOW_FPS = 4, HISTORY = 400, MIN_PANEL = 300, MAX_PANEL = 460, GAP = 14, HEAD = 46;
const SPEEDS = [1, 2, 5, 10, 20, 50];

function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function decodePoints(p) {
  return {n: p.n, xy: new Float32Array(bytes(p.xy).buffer), label: bytes(p.label), kind: bytes(p.kind), bounds: p.bounds};
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function build(root, S) {
  root.innerHTML = "";
  const bar = el("div", "pgc-bar", root);
  S.playBtn = el("button", "pgc-btn pgc-play", bar, "▶ Play");
  S.stepBtn = el("button", "pgc-btn pgc-step", bar, "Step ▸");
  S.resetBtn = el("button", "pgc-btn pgc-reset", bar, "⟲ Reset");
  const speed = el("label", "pgc-field", bar, "Steps per frame ");
  S.speed = el("select", "pgc-speed", speed);
  for (const v of SPEEDS) { const o = el("option", "", S.speed, String(v)); o.value = v; if (v === 5) o.selected = true; }
  const slow = el("label", "pgc-field", bar);
  S.slow = el("input", "pgc-slow", slow); S.slow.type = "checkbox";
  slow.appendChild(document.createTextNode(" Slow motion"));
  const mode = el("div", "pgc-mode", bar);
  el("span", "pgc-mode-label", mode, "Click adds:");
  S.modes = {};
  for (const [value, text] of [["1", "● red"], ["0", "● blue"], ["outlier", "◆ outlier"]]) {
    const b = el("button", "pgc-btn pgc-mode-" + (value === "outlier" ? "outlier" : value === "1" ? "red" : "blue"), mode, text);
    b.dataset.mode = value;
    b.onclick = () => { S.mode = value; for (const m of Object.values(S.modes)) m.classList.toggle("pgc-on", m === b); };
    S.modes[value] = b;
  }
  S.mode = "1"; S.modes["1"].classList.add("pgc-on");
  S.canvas = el("canvas", "pgc-canvas", root);
  const scrub = el("div", "pgc-scrub", root);
  S.scrubLabel = el("span", "pgc-scrub-label", scrub, "step 0");
  S.scrub = el("input", "pgc-range", scrub); S.scrub.type = "range"; S.scrub.min = 0; S.scrub.max = 0; S.scrub.value = 0;
  S.scrub.setAttribute("aria-label", "Recorded frames");
  S.status = el("div", "pgc-status", root);
  S.key = el("div", "pgc-key", root);
  for (const [cls, text] of [["pgc-k-red", "label red"], ["pgc-k-blue", "label blue"], ["pgc-k-flip", "× label flipped"],
                             ["pgc-k-out", "◆ outlier (far, wrong label)"], ["pgc-k-line", "50% boundary"],
                             ["pgc-k-size", "bigger = pushes its network harder"]]) {
    el("span", "pgc-key-item " + cls, S.key, text);
  }
  S.playBtn.onclick = () => (S.playing ? pause(S) : play(S));
  S.stepBtn.onclick = () => {  // one frame forward: a frame already trained, else a new one
    pause(S);
    if (S.queue.length) show(S); else { S.stepWanted = true; request(S); }
  };
  S.resetBtn.onclick = () => { S.resetId += 1; S.queue = []; request(S, true); };
  S.slow.onchange = () => { S.queue = S.queue.slice(0, 1); };
  S.scrub.oninput = () => { pause(S); S.viewing = Number(S.scrub.value); draw(S, S.history[S.viewing]); };
  S.canvas.addEventListener("click", (e) => click(S, e));
  S.resize = new ResizeObserver(() => { layout(S); if (S.shown) draw(S, S.shown); });
  S.resize.observe(root);
  S.onVisible = () => { if (!document.hidden) request(S); };
  document.addEventListener("visibilitychange", S.onVisible);
  window.addEventListener("pgc-steered", () => request(S, true));  // k or lr changed in the page
}

function play(S) {
  S.playing = true;
  S.note = null;
  if (S.viewing !== null) { S.viewing = null; if (S.history.length) draw(S, S.history[S.history.length - 1]); }
  if (S.stopAt && S.shown && S.shown.frame.step >= S.stopAt) S.stopAt = 0;  // pressed Play after the stop: go on
  S.playBtn.textContent = "❚❚ Pause";
  request(S);
}

function pause(S) {
  S.playing = false;
  S.playBtn.textContent = "▶ Play";
}

function spf(S) { return S.slow.checked ? 1 : Number(S.speed.value); }
function interval(S) { return 1000 / (S.slow.checked ? SLOW_FPS : FPS); }

// ---------------------------------------------------------------- talking to the server
function request(S, urgent = false) {
  if (!S.alive) return;
  // one at a time (a lost one is resent); a click or a change of k goes at once: the answer in flight is stale
  if (S.inflight && !urgent && performance.now() - S.inflight < Math.max(1000, 3 * S.rtt)) return;
  if (document.hidden) return;  // a hidden tab trains nothing
  let want = 0;
  const last = S.queue.length ? S.queue[S.queue.length - 1].frame.step : (S.shown ? S.shown.frame.step : 0);
  if (S.stepWanted) { want = 1; S.stepWanted = false; S.stepPending = true; }
  else if (urgent) want = S.playing ? 1 : 0;  // answer a click or a change of k fast; more frames follow
  else if (S.playing) {
    want = Math.max(2, Math.min(8, lowWater(S) + 1));
  }
  if (!urgent && !want && !S.edits.length && S.resetId <= S.ackReset) return;
  S.seq += 1;
  S.inflight = performance.now();
  S.sentSeq = S.seq;
  const until = S.stopAt && last < S.stopAt ? S.stopAt : 0;  // the server ends its frames exactly there
  S.setTriggerValue("req", {seq: S.seq, gen: S.gen, want, spf: spf(S), edits: S.edits, reset: S.resetId, until});
}

function lowWater(S) { return Math.ceil((S.rtt + 60) / interval(S)); }  // frames that last one round trip

function receive(S, data) {
  if (!data.seq) S.inflight = 0;  // a page run's message: a request in flight may have been dropped by the rerun
  if (data.seq && data.seq === S.sentSeq) {
    const rtt = performance.now() - S.inflight;
    S.rtt = 0.7 * S.rtt + 0.3 * rtt;
    S.rtts.push(Math.round(rtt)); if (S.rtts.length > 200) S.rtts.shift();  // read by benchmarks
    S.inflight = 0;
  }
  if (data.gen !== S.gen) {  // reset, or new data or network: start the record afresh
    S.gen = data.gen; S.history = []; S.queue = []; S.shown = null; S.viewing = null; S.stopAt = data.stop_at;
  }
  if (data.stop_at !== S.serverStop) { S.serverStop = data.stop_at; S.stopAt = data.stop_at; }
  S.edits = S.edits.filter((e) => e.id > data.ack_edit);
  S.ackReset = data.ack_reset;
  const changed = data.ver !== S.ver || S.shown === null;
  if (data.ver !== S.ver) { S.ver = data.ver; S.queue = []; }  // k, lr or data changed: show the new frames now
  S.titles = data.titles; S.seeds = data.seeds; S.grid = data.grid; S.lr = data.lr;
  const points = decodePoints(data.points);
  const last = S.queue.length ? S.queue[S.queue.length - 1].frame.step : (S.shown ? S.shown.frame.step : -1);
  for (const f of data.frames) {
    if (f.step > last || !S.shown) {
      S.queue.push({frame: f, prob: bytes(f.prob), push: bytes(f.push), points, titles: data.titles, seeds: data.seeds});
    } else if (f.step === (S.shown && S.shown.frame.step)) {  // same step, new data or k: redraw in place
      const item = {frame: f, prob: bytes(f.prob), push: bytes(f.push), points, titles: data.titles, seeds: data.seeds};
      S.history[S.history.length - 1] = item;
      if (S.viewing === null) draw(S, item);
    }
  }
  if (data.play && S.gen !== S.autoplayed) { S.autoplayed = S.gen; play(S); }
  if (data.notice) S.note = data.notice;  // after play(), which clears the last note
  if (data.error) S.note = "Not applied: " + data.error;
  if (!S.playing && S.queue.length && (changed || S.stepPending)) {  // paused: a step or an edit shows at once
    S.stepPending = false;
    show(S);
  }
}

function show(S) {
  const item = S.queue.shift();
  S.history.push(item);
  if (S.history.length > HISTORY) S.history.shift();
  S.lastShown = performance.now();
  if (S.viewing === null) draw(S, item);
  if (S.stopAt && item.frame.step >= S.stopAt && S.playing) {
    pause(S);
    S.note = `Paused at step ${item.frame.step} (the “Stop at step” setting): press Play to go on.`;
    draw(S, item);
  }
}

function loop(S, now) {
  if (!S.alive) return;
  if (S.playing && S.queue.length && now - S.lastShown >= interval(S) - 4) show(S);
  if (S.playing && S.queue.length <= lowWater(S)) request(S);
  else if (S.edits.length || S.resetId > S.ackReset) request(S);
  S.raf = requestAnimationFrame((t) => loop(S, t));
}

// ---------------------------------------------------------------- layout and drawing
function layout(S) {
  const k = (S.titles || [""]).length;
  const width = Math.max(200, S.root.clientWidth);
  const maxPerRow = Math.max(1, Math.floor((width + GAP) / (MIN_PANEL + GAP)));
  const rows = Math.ceil(k / Math.min(k, maxPerRow));
  const perRow = Math.ceil(k / rows);
  // one row fits a 900 px screen under the page's top; several rows fit the screen once scrolled to
  const tall = Math.max(MIN_PANEL, rows === 1 ? window.innerHeight - 460 : (window.innerHeight - 120) / rows - HEAD - GAP);
  const fit = (width - GAP * (perRow - 1)) / perRow;
  const size = Math.floor(Math.min(MAX_PANEL, perRow === 1 ? fit : Math.min(tall, fit)));  // a phone scrolls anyway
  const dpr = window.devicePixelRatio || 1;
  S.geom = {k, rows, perRow, size, width};
  const height = rows * (HEAD + size) + (rows - 1) * GAP;
  S.canvas.style.width = (perRow * size + (perRow - 1) * GAP) + "px";
  S.canvas.style.height = height + "px";
  S.canvas.width = Math.round((perRow * size + (perRow - 1) * GAP) * dpr);
  S.canvas.height = Math.round(height * dpr);
  S.dpr = dpr;
}

function panelOrigin(S, j) {
  const {perRow, size} = S.geom;
  return [(j % perRow) * (size + GAP), Math.floor(j / perRow) * (HEAD + size + GAP)];
}

function fieldImage(S, prob, j, g) {
  if (!S.off || S.off.width !== g) { S.off = document.createElement("canvas"); S.off.width = S.off.height = g; }
  const ctx = S.off.getContext("2d"), img = ctx.createImageData(g, g);
  for (let i = 0; i < g; i++) {
    for (let c = 0; c < g; c++) {
      const p = prob[j * g * g + i * g + c] / 255, o = ((g - 1 - i) * g + c) * 4;  // rows bottom first
      const [a, b, t] = p < 0.5 ? [FIELD[0], FIELD[1], p * 2] : [FIELD[1], FIELD[2], p * 2 - 1];
      img.data[o] = a[0] + (b[0] - a[0]) * t; img.data[o + 1] = a[1] + (b[1] - a[1]) * t;
      img.data[o + 2] = a[2] + (b[2] - a[2]) * t; img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return S.off;
}

function contour(ctx, prob, j, g, x0, y0, size) {
  // marching squares at p = 1/2 (byte 127.5); grid point (i, c) sits at (c / (g-1), 1 - i / (g-1)) of the panel
  const v = (i, c) => prob[j * g * g + i * g + c] - 127.5;
  const px = (c) => x0 + (c / (g - 1)) * size, py = (i) => y0 + size - (i / (g - 1)) * size;
  ctx.beginPath();
  for (let i = 0; i < g - 1; i++) {
    for (let c = 0; c < g - 1; c++) {
      const a = v(i, c), b = v(i, c + 1), d = v(i + 1, c), e = v(i + 1, c + 1), pts = [];
      if ((a < 0) !== (b < 0)) pts.push([px(c + a / (a - b)), py(i)]);
      if ((b < 0) !== (e < 0)) pts.push([px(c + 1), py(i + b / (b - e))]);
      if ((d < 0) !== (e < 0)) pts.push([px(c + d / (d - e)), py(i + 1)]);
      if ((a < 0) !== (d < 0)) pts.push([px(c), py(i + a / (a - d))]);
      for (let q = 0; q + 1 < pts.length; q += 2) { ctx.moveTo(...pts[q]); ctx.lineTo(...pts[q + 1]); }
    }
  }
  ctx.strokeStyle = "#151515"; ctx.lineWidth = 2.5; ctx.stroke();
}

function radius(q) { return Math.min(15, Math.max(4.5, 2.5 + 2.6 * (q / 32))); }  // push as size, never invisible

function toPixel(S, points, n, x0, y0) {
  const [bx0, bx1, by0, by1] = points.bounds, size = S.geom.size;
  return [x0 + ((points.xy[2 * n] - bx0) / (bx1 - bx0)) * size, y0 + size - ((points.xy[2 * n + 1] - by0) / (by1 - by0)) * size];
}

function drawPoints(S, ctx, item, j, x0, y0) {
  const {points, push} = item;
  const order = Array.from({length: points.n}, (_, n) => n);
  order.sort((a, b) => push[j * points.n + a] - push[j * points.n + b]);  // the biggest on top
  for (const n of order) {
    const [x, y] = toPixel(S, points, n, x0, y0), r = radius(push[j * points.n + n]);
    const color = points.label[n] ? RED : BLUE, fill = `rgb(${color})`, kind = points.kind[n];
    ctx.lineWidth = 1.5; ctx.strokeStyle = "#fff";
    if (kind === 1) {  // flipped: a thick x with a dark edge
      for (const [w, s] of [[5.5, "#111"], [3, fill]]) {
        ctx.beginPath(); ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x - r, y + r); ctx.lineTo(x + r, y - r);
        ctx.lineWidth = w; ctx.strokeStyle = s; ctx.lineCap = "round"; ctx.stroke();
      }
      continue;
    }
    ctx.beginPath();
    if (kind === 2) {  // outlier: a diamond
      const d = r * 1.35;
      ctx.moveTo(x, y - d); ctx.lineTo(x + d, y); ctx.lineTo(x, y + d); ctx.lineTo(x - d, y); ctx.closePath();
    }
    else ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = fill; ctx.fill();
    ctx.lineWidth = 1.6; ctx.strokeStyle = "#fff"; ctx.stroke();
    ctx.lineWidth = 0.8; ctx.strokeStyle = "rgba(0,0,0,0.8)"; ctx.stroke();
  }
}

function spread(seeds, lo, hi) { return seeds > 1 ? ` (${lo.toFixed(1)}–${hi.toFixed(1)})` : ""; }

function draw(S, item) {
  if (!item) return;
  if (!S.geom || S.geom.k !== item.titles.length || S.geom.width !== Math.max(200, S.root.clientWidth)) layout(S);
  S.shown = item;
  const ctx = S.canvas.getContext("2d"), g = Math.round(Math.sqrt(item.prob.length / item.titles.length));
  ctx.setTransform(S.dpr, 0, 0, S.dpr, 0, 0);
  ctx.clearRect(0, 0, S.canvas.width, S.canvas.height);
  const f = item.frame, size = S.geom.size;
  for (let j = 0; j < item.titles.length; j++) {
    const [x0, top] = panelOrigin(S, j), y0 = top + HEAD;
    ctx.fillStyle = "#111"; ctx.font = "bold 17px sans-serif"; ctx.textBaseline = "top";
    ctx.fillText(item.titles[j], x0 + 2, top + 2);
    ctx.font = "14px sans-serif"; ctx.fillStyle = "#333";
    const s = item.seeds;
    const train = `train ${f.acc[j].toFixed(1)}%${spread(s, f.acc_lo[j], f.acc_hi[j])}`;
    const test = `test ${f.test[j].toFixed(1)}%${spread(s, f.test_lo[j], f.test_hi[j])}`;
    ctx.fillText(`${train} · ${test}`, x0 + 2, top + 24, size - 4);
    ctx.save();
    ctx.beginPath(); ctx.rect(x0, y0, size, size); ctx.clip();
    ctx.imageSmoothingEnabled = true;
    const cell = size / (g - 1);
    ctx.drawImage(fieldImage(S, item.prob, j, g), x0 - cell / 2, y0 - cell / 2, size + cell, size + cell);
    contour(ctx, item.prob, j, g, x0, y0, size);
    drawPoints(S, ctx, item, j, x0, y0);
    ctx.restore();
    ctx.strokeStyle = "#888"; ctx.lineWidth = 1; ctx.strokeRect(x0 + 0.5, y0 + 0.5, size - 1, size - 1);
  }
  S.scrub.max = Math.max(0, S.history.length - 1);
  if (S.viewing === null) S.scrub.value = S.scrub.max;
  S.scrubLabel.textContent = `step ${f.step}` + (S.viewing !== null ? " (recorded)" : "");
  S.root.dataset.step = f.step;
  S.root.dataset.n = item.points.n;
  S.root.dataset.titles = item.titles.join("|");
  S.frames = (S.frames || 0) + 1;
  S.root.dataset.frames = S.frames;
  const parts = [];
  if (item.seeds > 1) {
    parts.push(`Accuracy: mean over ${item.seeds} starting points, (lowest–highest) in brackets; the boundary and `
               + "sizes are the median start's.");
  }
  else parts.push("One starting point: an unlucky start can make any k look bad (try 3 or 5 seeds).");
  if (S.note) parts.unshift(S.note);
  S.status.textContent = parts.join(" ");
}

// ---------------------------------------------------------------- clicks
function click(S, e) {
  if (!S.shown || !S.geom) return;
  const rect = S.canvas.getBoundingClientRect(), cx = e.clientX - rect.left, cy = e.clientY - rect.top;
  const {size, perRow} = S.geom;
  const col = Math.floor(cx / (size + GAP)), row = Math.floor(cy / (HEAD + size + GAP));
  const j = row * perRow + col;
  if (col >= perRow || j >= S.shown.titles.length) return;
  const [x0, top] = panelOrigin(S, j), y0 = top + HEAD;
  if (cx < x0 || cx > x0 + size || cy < y0 || cy > y0 + size) return;
  const {points, push} = S.shown;
  let best = -1, bestD = Infinity;
  for (let n = 0; n < points.n; n++) {
    const [x, y] = toPixel(S, points, n, x0, y0), d = Math.hypot(x - cx, y - cy);
    if (d <= radius(push[j * points.n + n]) + 3 && d < bestD) { best = n; bestD = d; }
  }
  S.editId += 1;
  if (best >= 0) S.edits.push({id: S.editId, op: "flip", index: best});
  else {
    const [bx0, bx1, by0, by1] = points.bounds;
    const x = bx0 + ((cx - x0) / size) * (bx1 - bx0), y = by0 + (1 - (cy - y0) / size) * (by1 - by0);
    S.edits.push(S.mode === "outlier" ? {id: S.editId, op: "add", x, y, outlier: true}
                                      : {id: S.editId, op: "add", x, y, label: Number(S.mode)});
  }
  request(S, true);
}

export default function (component) {
  const {data, setTriggerValue, parentElement} = component;
  const root = parentElement.querySelector(".pgc-root") || el("div", "pgc-root", parentElement);
  let S = root.__pg;
  if (!S) {
    S = root.__pg = {root, gen: null, ver: null, seq: 0, sentSeq: 0, inflight: 0, rtt: 120, edits: [], editId: 0,
                     resetId: 0, ackReset: 0, queue: [], history: [], rtts: [], shown: null, viewing: null, playing: false,
                     lastShown: 0, stopAt: 0, note: null, alive: true};
    build(root, S);
  }
  S.setTriggerValue = setTriggerValue;
  S.alive = true;
  if (data) receive(S, data);
  if (!S.raf) S.raf = requestAnimationFrame((t) => loop(S, t));
  return () => {  // Streamlit calls this before each new message, and once when the element goes away
    S.alive = false;
    cancelAnimationFrame(S.raf); S.raf = 0;
    setTimeout(() => { if (!S.alive) { S.playing = false; } }, 1500);
  };
}

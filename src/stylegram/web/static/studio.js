// stylegram studio: a small page over the studio's JSON API and its event stream.
// Everything that shows server data uses textContent or attributes, never innerHTML.
"use strict";

const TOKEN = document.querySelector('meta[name="stylegram-token"]').content;
const $ = (id) => document.getElementById(id);
const state = { config: null, sources: { content: null, style: null, gram: null }, jobs: new Map(),
                current: null, previewShown: {}, uploads: 0, lastUpload: null, gram: null,
                choices: { content: 0, style: 0, gram: 0 } };
window.studio = state;  // for the browser tests and the curious

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

async function api(method, url, body, headers = {}) {
  const opts = { method, headers: { ...headers }, credentials: "same-origin" };
  if (method !== "GET") opts.headers["X-Stylegram-Token"] = TOKEN;
  if (body !== undefined) {
    if (body instanceof Blob) opts.body = body;
    else { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  }
  let resp;
  try { resp = await fetch(url, opts); } catch (e) { throw new Error("the studio server is not reachable"); }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) throw new Error((data && data.error) || `request failed (HTTP ${resp.status})`);
  return data;
}

function showError(id, msg) { const e = $(id); e.textContent = msg || ""; e.hidden = !msg; }

// ---- inputs ---------------------------------------------------------------------------------
function setSource(role, src) {
  state.sources[role] = src;
  if (role === "gram") { $("gram-name").textContent = src.name; $("gram-go").disabled = false; return; }
  const img = $(role + "-thumb");
  img.src = src.url; img.hidden = false;
  $(role + "-hint").hidden = true;
  $(role + "-name").textContent = src.name;
}

async function uploadFile(role, file) {
  const errId = role + "-error";
  showError(errId, "");
  if (!file) return;
  const limit = state.config ? state.config.max_upload_bytes : Infinity;
  if (file.size > limit) {
    showError(errId, `${file.name}: ${(file.size / 1048576).toFixed(1)} MB is above the upload limit of ` +
                     `${(limit / 1048576).toFixed(1)} MB; choose a smaller image`);
    state.lastUpload = { role, ok: false, message: $(errId).textContent }; state.uploads += 1;
    return;
  }
  $(role + "-name").dataset.busy = "1";
  // The last choice wins: an upload that finishes after a later upload or example click is dropped.
  const ticket = ++state.choices[role];
  try {
    const meta = await api("POST", "/api/uploads", file, { "X-File-Name": encodeURIComponent(file.name) });
    const latest = ticket === state.choices[role];
    if (latest) setSource(role, { source: meta.source, url: meta.url, name: `${meta.name} (${meta.width} × ${meta.height})` });
    state.lastUpload = { role, ok: true, message: "", superseded: !latest };
  } catch (e) {
    if (ticket === state.choices[role]) showError(errId, e.message);
    state.lastUpload = { role, ok: false, message: e.message };
  } finally {
    state.uploads += 1;
    if (ticket === state.choices[role]) delete $(role + "-name").dataset.busy;
  }
}

function setupPicker(role) {
  const input = $(role + "-file");
  input.addEventListener("change", () => { uploadFile(role, input.files[0]); input.value = ""; });
  const drop = $(role + "-drop");
  if (drop) {
    drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault(); drop.classList.remove("over");
      if (ev.dataTransfer.files.length) uploadFile(role, ev.dataTransfer.files[0]);
    });
  }
  const box = $(role + "-examples");
  for (const ex of state.config.examples) {
    box.append(el("button", { type: "button", "data-source": ex.id, text: ex.name.split(" (")[0],
      onclick: () => {
        state.choices[role] += 1;
        delete $(role + "-name").dataset.busy;
        showError(role + "-error", ""); setSource(role, { source: ex.id, url: ex.url, name: ex.name });
      } }));
  }
}

// ---- options --------------------------------------------------------------------------------
function fillOptions() {
  const f = state.config.form;
  for (const name of Object.keys(f.presets)) $("preset").append(el("option", { value: name, text: name }));
  $("preset").value = f.preset;
  for (const id of ["net", "gram-net"]) {
    for (const n of f.nets) $(id).append(el("option", { value: n, text: n }));
    $(id).value = f.net;
  }
  $("size").min = f.size.min; $("size").max = f.size.max; $("size").value = f.size.default;
  $("iters").min = f.iters.min; $("iters").max = f.iters.max; $("iters").value = f.iters.default;
  $("refine-row").hidden = !f.refine;
  $("dpi-row").hidden = !f.dpi;
  if (f.refine) { $("refine").max = f.refine.max; $("refine").value = f.refine.default; }
  $("preset").addEventListener("change", () => {
    const p = f.presets[$("preset").value];
    $("size").value = p.size; $("iters").value = p.iters;
    if (f.refine) $("refine").value = p.refine;
  });
  const strength = () => Math.pow(10, parseFloat($("strength").value));
  $("strength").addEventListener("input", () => { $("strength-out").textContent = fmt(strength()) + "×"; });
  $("options").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("form-error", "");
    const s = state.sources;
    if (!s.content || !s.style) { showError("form-error", "Choose a content and a style image first."); return; }
    const body = { content: s.content.source, style: s.style.source, preset: $("preset").value, net: $("net").value,
                   size: parseInt($("size").value, 10), iters: parseInt($("iters").value, 10),
                   style_strength: Math.round(strength() * 1000) / 1000, preserve_color: $("preserve-color").checked,
                   seed: parseInt($("seed").value, 10) };
    if (!$("refine-row").hidden) body.refine = parseInt($("refine").value, 10);
    if (!$("dpi-row").hidden && $("dpi").value !== "") body.dpi = parseInt($("dpi").value, 10);
    try { await startJob(body); } catch (e) { showError("form-error", e.message); }
  });
  $("cancel").addEventListener("click", async () => {
    if (!state.current) return;
    try { upsertJob(await api("POST", `/api/jobs/${state.current}/cancel`)); }
    catch (e) { showError("form-error", e.message); }
  });
}

// ---- jobs, live preview, plot -----------------------------------------------------------------
// Submit a job and follow it: the preview, the plot and the status line show it from now on.
async function startJob(body) {
  return followJob(await api("POST", "/api/jobs", body));
}

// Follow a job the server has just queued (a new one, or one run again).
function followJob(job) {
  // the job's events may have come before this reply: clear the old job's preview first, then
  // show the new job as the page knows it
  $("preview").hidden = true; $("preview-hint").hidden = false;
  $("preview-hint").textContent = "Waiting for the first picture…";
  state.current = job.id;
  upsertJob(job);
  drawPlot();
  return job;
}

function fmt(x) { return (x === undefined || x === null) ? "–" : (Math.abs(x) >= 1000 || (Math.abs(x) < 0.01 && x !== 0)) ? x.toExponential(2) : (+x.toPrecision(3)).toString(); }

function describe(job) {
  if (job.status === "queued") return `waiting in the queue, position ${job.position}`;
  if (job.status === "running") {
    // a pyramid's iterations restart on every level: say which level, and its own count
    const where = [job.levels > 1 ? `level ${job.level + 1} of ${job.levels}` : "", job.note ? `(${job.note})` : ""]
      .filter(Boolean).join(" ");
    return `running on ${job.device}: ${where ? where + ", " : ""}iteration ${job.iter} / ${job.level_iters || job.iters}` +
           (job.losses.total !== undefined ? `, loss ${fmt(job.losses.total)}` : "");
  }
  return `${job.status}` + (job.message ? `: ${job.message}` : "");
}

// A job's status only moves forward: queued, running, then one of the final ones. Replies and
// events come over different connections, so a summary can arrive late (the reply to a cancel
// request says "running" and may land after the event saying the job stopped); a late one must
// not bring a job back, since no later event would correct it.
const STAGE = { queued: 0, running: 1 };
const stage = (status) => STAGE[status] ?? 2;

function upsertJob(job) {
  const old = state.jobs.get(job.id);
  if (old && stage(job.status) < stage(old.status)) {
    job = old;  // a late summary: what the page knows is newer
  } else {
    // summaries carry the loss history only while a job runs; keep what the progress events built
    if (old && old.history && (!job.history || job.history.length < old.history.length)) job.history = old.history;
    state.jobs.set(job.id, job);
    renderCard(job);
  }
  if (job.id === state.current) showCurrent(job);
}

function showCurrent(job) {
  $("status").textContent = describe(job);
  $("status").dataset.status = job.status;
  $("cancel").disabled = !(job.status === "queued" || job.status === "running");
  if (job.preview && state.previewShown[job.id] !== job.preview) {
    state.previewShown[job.id] = job.preview;
    const img = $("preview");
    img.src = `/api/jobs/${job.id}/preview.png?v=${job.preview}`;
    img.dataset.version = job.preview;
    img.hidden = false; $("preview-hint").hidden = true;
  }
  drawPlot();
}

function onProgress(ev) {
  const job = state.jobs.get(ev.id);
  if (!job || stage(job.status) > STAGE.running) return;  // a finished job stays as it ended
  job.iter = ev.iter; job.losses = ev.losses; job.preview = ev.preview; job.status = "running";
  job.level = ev.level; job.levels = ev.levels; job.level_iters = ev.iters; job.note = ev.note || "";
  job.history = job.history || [];
  job.history.push({ iter: ev.iter, step: ev.step, level: ev.level, ...ev.losses });
  if (ev.id === state.current) showCurrent(job);
  const card = document.querySelector(`.card[data-id="${ev.id}"] .state`);
  if (card) card.textContent = describe(job);
}

// The loss axis's ticks between 10^lo and 10^hi (lo, hi: log10 of the plotted range), top down:
// every power of ten inside it (every second, third ... beyond five), or, where fewer than two fall
// inside, the two ends and the one power of ten between them (unless it is within a tenth of the
// range of an end): [[log10 value, label]]. The plot gave only its two ends, without saying the
// axis was logarithmic, so a curve's values between them could not be read.
function logTicks(lo, hi) {
  const a = Math.ceil(lo - 1e-9), b = Math.floor(hi + 1e-9);
  const decade = (k) => (k >= -2 && k <= 3) ? String(10 ** k) : `1e${k}`;
  if (b - a < 1) {
    const inside = a === b && a - lo > 0.1 * (hi - lo) && hi - a > 0.1 * (hi - lo) ? [[a, decade(a)]] : [];
    return [[hi, (10 ** hi).toExponential(1)], ...inside, [lo, (10 ** lo).toExponential(1)]];
  }
  const step = Math.ceil((b - a + 1) / 5), ticks = [];
  for (let k = b; k >= a; k -= step) ticks.push([k, decade(k)]);
  return ticks;
}

function drawPlot() {
  const c = $("lossplot"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const job = state.current && state.jobs.get(state.current);
  const hist = (job && job.history) || [];
  const terms = [["total", "#1d1d1f"], ["content", "#3b5ba9"], ["style", "#c0612b"]];
  const pad = { l: 58, r: 8, t: 22, b: 30 }, w = c.width - pad.l - pad.r, h = c.height - pad.t - pad.b;
  g.strokeStyle = "#ccc"; g.strokeRect(pad.l, pad.t, w, h);
  g.fillStyle = "#6b6b70"; g.font = "11px sans-serif";
  const several = hist.some((p) => p.level !== hist[0].level);
  g.textAlign = "center";
  g.fillText(several ? "iteration, levels one after another" : "iteration", pad.l + w / 2, c.height - 4);
  g.textAlign = "left";
  state.plot = null;
  if (hist.length < 2) { g.fillText("the loss curve appears here", pad.l + 10, pad.t + 20); return; }
  let lo = Infinity, hi = -Infinity;
  for (const p of hist) for (const [t] of terms) if (p[t] > 0) { lo = Math.min(lo, Math.log10(p[t])); hi = Math.max(hi, Math.log10(p[t])); }
  if (!isFinite(lo)) return;
  if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; }
  // A pyramid's iterations restart on every level: plot against the run's own step count, and
  // leave a gap (and a dotted mark) where a level starts, since the losses change scale there.
  const at = (p) => p.step ?? p.iter;
  const x0 = at(hist[0]), x1 = Math.max(at(hist[hist.length - 1]), x0 + 1);
  const X = (i) => pad.l + (i - x0) / (x1 - x0) * w, Y = (v) => pad.t + (hi - Math.log10(v)) / (hi - lo) * h;
  // the loss axis: its ticks with faint lines across, and its name (turned) beside them
  const ticks = logTicks(lo, hi);
  g.textAlign = "right"; g.textBaseline = "middle"; g.strokeStyle = "#eee";
  for (const [k, label] of ticks) {
    const y = Y(10 ** k);
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(pad.l + w, y); g.stroke();
    g.fillText(label, pad.l - 4, y);
  }
  g.save(); g.translate(10, pad.t + h / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
  g.fillText("loss (log scale)", 0, 0); g.restore();
  // the iteration axis: its first and last step
  g.textBaseline = "top"; g.textAlign = "left"; g.fillText(String(x0), pad.l, pad.t + h + 3);
  g.textAlign = "right"; g.fillText(String(x1), pad.l + w, pad.t + h + 3);
  g.textAlign = "left"; g.textBaseline = "alphabetic";
  state.plot = { y: ticks.map(([, label]) => label), x: [x0, x1] };
  g.strokeStyle = "#bbb"; g.setLineDash([2, 3]);
  hist.forEach((p, i) => { if (i > 0 && p.level !== hist[i - 1].level) { g.beginPath(); g.moveTo(X(at(p)), pad.t); g.lineTo(X(at(p)), pad.t + h); g.stroke(); } });
  g.setLineDash([]);
  terms.forEach(([t, colour], k) => {
    g.strokeStyle = colour; g.beginPath(); let prev = null;
    for (const p of hist) {
      if (!(p[t] > 0)) { prev = null; continue; }
      const x = X(at(p)), y = Y(p[t]);
      if (prev && prev.level === p.level) g.lineTo(x, y); else g.moveTo(x, y);
      prev = p;
    }
    // the legend above the frame: inside it, it sat on the curves that start low
    g.stroke(); g.fillStyle = colour; g.fillText(t, pad.l + k * 60, pad.t - 8);
  });
}

function renderCard(job) {
  let card = document.querySelector(`.card[data-id="${job.id}"]`);
  const fresh = el("div", { class: `card ${job.status}`, "data-id": job.id, "data-status": job.status });
  const f = job.form;
  if (job.files.result) fresh.append(el("img", { src: `/api/jobs/${job.id}/files/${job.files.result}?t=${job.finished}`, alt: "result" }));
  fresh.append(el("div", { class: "state", text: describe(job) }));
  // a job found without its record (job.json) has no settings: only its files, to download or delete
  const known = f.size !== undefined;
  if (known) {
    fresh.append(el("div", { class: "params", text: `${job.names.content} × ${job.names.style}` }));
    fresh.append(el("div", { class: "params", text: `${f.preset}, ${f.size} px, ${f.iters} it${f.refine ? ` + ${f.refine} refine` : ""}, strength ${fmt(f.style_strength)}, ` +
                             `${f.preserve_color ? "content colours, " : ""}seed ${f.seed}, ${f.net}` }));
  }
  const links = el("div", { class: "links" });
  if (job.files.result) links.append(el("a", { href: `/api/jobs/${job.id}/files/${job.files.result}?download=1`, class: "download", text: "result.png" }));
  if (job.files.report) links.append(el("a", { href: `/api/jobs/${job.id}/files/${job.files.report}?download=1`, text: "report.json" }));
  // a result you like, again at twice the size: the same images, settings and seed, so the
  // small render was its preview; the job's own copies of the images, as "Run again" (its
  // upload may be gone)
  const maxSize = state.config ? state.config.form.size.max : 0;
  if (known && job.status === "done" && f.size < maxSize) {
    const larger = Math.min(2 * f.size, maxSize);
    links.append(el("button", { type: "button", class: "larger", text: `Render at ${larger} px`,
      title: "the same images and settings at a larger size",
      onclick: async () => {
        try { await followJob(await api("POST", `/api/jobs/${job.id}/rerun`, { size: larger })); } catch (e) { alert(e.message); }
      } }));
  }
  // a job that did not finish (cancelled, or the studio stopped while it waited or ran) or failed:
  // the same images and settings again, as a new job (the server keeps copies of the images)
  if (known && ["cancelled", "interrupted", "failed"].includes(job.status)) {
    links.append(el("button", { type: "button", class: "rerun", text: "Run again",
      title: "the same images and settings as a new job",
      onclick: async () => { try { await followJob(await api("POST", `/api/jobs/${job.id}/rerun`)); } catch (e) { alert(e.message); } } }));
  }
  if (job.status === "queued" || job.status === "running") {
    links.append(el("button", { type: "button", class: "cancel", text: "Cancel",
      onclick: async () => { try { upsertJob(await api("POST", `/api/jobs/${job.id}/cancel`)); } catch (e) { alert(e.message); } } }));
  } else {
    links.append(el("button", { type: "button", class: "delete", text: "Delete",
      onclick: async () => { try { await api("DELETE", `/api/jobs/${job.id}`); removeJob(job.id); } catch (e) { alert(e.message); } } }));
  }
  fresh.append(links);
  if (card) card.replaceWith(fresh); else $("gallery").prepend(fresh);
  $("gallery-empty").hidden = state.jobs.size > 0;
}

function removeJob(id) {
  state.jobs.delete(id);
  const card = document.querySelector(`.card[data-id="${id}"]`);
  if (card) card.remove();
  $("gallery-empty").hidden = state.jobs.size > 0;
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { $("conn").textContent = "connected"; });
  es.addEventListener("error", () => { $("conn").textContent = "reconnecting…"; });
  es.addEventListener("snapshot", (m) => {
    const data = JSON.parse(m.data);
    const seen = new Set();
    for (const job of data.jobs) { seen.add(job.id); upsertJob(job); }
    // a page opened while a job runs follows that job
    if (!state.current) {
      const running = data.jobs.find((j) => j.status === "running");
      if (running) { state.current = running.id; showCurrent(running); }
    }
    for (const id of [...state.jobs.keys()]) if (!seen.has(id)) removeJob(id);
  });
  es.addEventListener("job", (m) => upsertJob(JSON.parse(m.data).job));
  es.addEventListener("progress", (m) => onProgress(JSON.parse(m.data)));
  es.addEventListener("deleted", (m) => removeJob(JSON.parse(m.data).id));
}

// ---- explore --------------------------------------------------------------------------------
async function loadExplore() {
  let data;
  try { data = await api("GET", "/api/explore"); } catch (e) { $("explore-message").textContent = e.message; return; }
  $("explore-message").textContent = data.message || `Files of ${data.dir}:`;
  const reports = $("explore-reports"), sheets = $("explore-sheets");
  reports.replaceChildren(); sheets.replaceChildren();
  const htmls = data.files.filter((f) => f.kind === "html");
  for (const f of htmls) {
    const href = "/explore/files/" + f.path.split("/").map(encodeURIComponent).join("/");
    reports.append(el("p", {}, el("a", { href, target: "_blank", rel: "noopener", text: f.path })));
  }
  if (htmls.length) {
    const main = htmls.find((f) => /(^|\/)index\.html?$/.test(f.path)) || htmls[0];
    reports.append(el("iframe", { src: "/explore/files/" + main.path.split("/").map(encodeURIComponent).join("/"),
                                  title: main.path, sandbox: "allow-same-origin allow-popups allow-popups-to-escape-sandbox" }));
  }
  for (const f of data.files.filter((f) => f.kind === "image").slice(0, 200)) {
    const href = "/explore/files/" + f.path.split("/").map(encodeURIComponent).join("/");
    sheets.append(el("figure", {}, el("a", { href, target: "_blank", rel: "noopener" }, el("img", { src: href, alt: f.path, loading: "lazy" })),
                     el("figcaption", { text: f.path })));
  }
}

// One layer's Gram matrix: the server's picture (the map with its colour bar and channel axes, as
// `stylegram explore gram` draws it) at its own size, so that its numbers stay legible, the value
// range beneath, and the channels of the row and column under the pointer (the axes can name only
// every few channels of a large layer).
function gramFigure(l) {
  const hint = "point at the map: the row's and the column's channel";
  const where = el("span", { class: "where", text: hint });
  const img = el("img", { src: l.url, width: l.width, height: l.height,
                          alt: `Gram matrix at ${l.layer}, ${l.channels} channels in seriated order, with its colour bar` });
  img.addEventListener("mousemove", (ev) => {
    const cell = gramCell(l, ev.offsetX * l.width / img.clientWidth, ev.offsetY * l.height / img.clientHeight);
    where.textContent = cell ? `row: ${cell.row}, column: ${cell.col}` : hint;
  });
  img.addEventListener("mouseleave", () => { where.textContent = hint; });
  const colour = (l.signed ? "red-blue by sign, " : "") + `square root, ≥ ${fmt(l.top)} (its ${l.clip}th percentile) in the end colour`;
  return el("figure", { class: "gram", "data-layer": l.layer }, img,
    // the layer and size on one line, the range and the scale on the next ones: no number wraps mid-way
    el("figcaption", {}, `${l.layer}: ${l.channels} × ${l.channels}, G/N from ${fmt(l.min)} to ${fmt(l.max)}`,
       el("br"), `colour: ${colour}`, el("br"), where));
}

// The channels (row, column) drawn at (x, y), in px of the picture, or null off the map, as the
// server draws them (explore.gram.heatmap): px is a multiple of C, pixel i shows channel
// order[floor(i C / px)]; a "binned" map (more channels than pixels) shows at pixel i the mean of
// order[floor(i C / px)] up to, not including, order[ceil((i + 1) C / px)], named by its first
// few ids. (The nearest-neighbour rule floor((i + 0.5) C / px) skipped every second channel of 512.)
function gramCell(l, x, y) {
  const i = Math.floor(y) - l.map.y, j = Math.floor(x) - l.map.x, n = l.order.length, px = l.map.px;
  if (i < 0 || j < 0 || i >= px || j >= px) return null;
  const at = (k) => {
    const a = Math.floor(k * n / px);
    if (!l.map.binned) return `channel ${l.order[a]}`;
    const ids = l.order.slice(a, Math.ceil((k + 1) * n / px));
    return `mean of channels ${ids.slice(0, 3).join(", ")}${ids.length > 3 ? ", …" : ""} (${ids.length})`;
  };
  return { row: at(i), col: at(j) };
}

function setupGram() {
  setupPicker("gram");
  $("gram-go").addEventListener("click", async () => {
    showError("gram-error", "");
    const src = state.sources.gram;
    if (!src) return;
    $("gram-go").disabled = true;
    $("gram-out").replaceChildren(el("p", { class: "hint", text: "computing…" }));
    try {
      const data = await api("POST", "/api/gram", { image: src.source, net: $("gram-net").value, size: 256 });
      state.gram = data;
      $("gram-out").replaceChildren(...data.layers.map(gramFigure));
    } catch (e) { $("gram-out").replaceChildren(); showError("gram-error", e.message); }
    finally { $("gram-go").disabled = false; }
  });
}

function showPage(name) {
  for (const p of ["transfer", "explore"]) {
    $("page-" + p).hidden = p !== name;
    $("tab-" + p).classList.toggle("active", p === name);
  }
  if (name === "explore") loadExplore();
}

async function main() {
  try { state.config = await api("GET", "/api/config"); }
  catch (e) { $("conn").textContent = e.message; return; }
  document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => showPage(t.dataset.page)));
  setupPicker("content"); setupPicker("style"); fillOptions(); setupGram(); drawPlot();
  connect();
  document.body.dataset.ready = "1";
}
main();

// hydratune serve: the page. Every value from the study reaches the DOM as text (textContent,
// attributes) and Plotly as escaped text, never as HTML. Controls post the words
// `hydratune steer` takes; the server answers with the command's own message or error.
"use strict";

const CSRF = document.querySelector('meta[name="csrf"]').content;
const READ_ONLY = document.querySelector('meta[name="read-only"]').content === "true";
const page = { version: 0, rows: new Map(), summary: null, chartsAt: 0, chartTimer: null, drawMs: 0, drawn: "",
  history: null, parallel: "", found: null, schedule: null, scheduleDrawn: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

// Plotly reads a few HTML-like tags in its texts; entities make them plain characters.
const plain = (text) =>
  String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

// A value as Hydra's override grammar reads it back (hydratune.space.format_value).
function fmt(value) {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") {
    if (/^[\w\-./:@]+$/.test(value) && !["null", "true", "false"].includes(value)) return value;
    return "'" + value.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
  }
  return String(value);
}

const short = (v) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v);
const paramsText = (params) =>
  Object.entries(params).map(([k, v]) => `${k}=${fmt(short(v))}`).join(" ");
const valueText = (row) => (row.values ? row.values.map(short).join(", ") : "");

function replaceBody(table, rows) {
  const body = $(table).tBodies[0];
  body.replaceChildren(...rows);
}

// -- the live feed ------------------------------------------------------------------------

// The first state as index.html preloads it (asked for while this script is still on its
// way), then the feed of what changes after it.
async function start() {
  let first = null;
  try {
    const reply = await fetch($("first-state").href);
    if (reply.ok) first = await reply.json();
  } catch {
    // none: the feed sends everything since version 0
  }
  if (first) apply(first);
  connect();
}

function connect() {
  const source = new EventSource(`/api/events?since=${page.version}`);
  source.onmessage = (event) => apply(JSON.parse(event.data));
  source.onopen = () => ($("live").textContent = "live");
  source.onerror = () => {
    $("live").textContent = "reconnecting…";
    source.close();
    setTimeout(connect, 1000);
  };
}

// The rows come as lists in `delta.columns` order, parameters as (name index, value) pairs
// (hydratune.serve.state.encode): a third of the bytes of row objects.
function decode(delta) {
  return delta.trials.map((cells) => {
    const row = {};
    delta.columns.forEach((column, i) => (row[column] = cells[i]));
    const params = {};
    for (let i = 0; i < row.params.length; i += 2) params[delta.params[row.params[i]]] = row.params[i + 1];
    row.params = params;
    return row;
  });
}

function apply(delta) {
  for (const row of decode(delta)) page.rows.set(row.number, row);
  page.version = delta.version;
  page.summary = delta.summary;
  renderText();
  if ("schedule" in delta) { // sent only when it changed
    page.schedule = delta.schedule;
    renderSchedule();
  }
  if (!performance.getEntriesByName("hydratune:first-state").length) {
    performance.mark("hydratune:first-state"); // since navigation: python -m bench.serve reads it
  }
  scheduleCharts();
}

// plotly.js is an async script (index.html): compiled off this thread as it streams in and
// run as soon as it is there, while the server sends the first state.
function plotlyRan() {
  performance.mark("hydratune:plotly"); // read by python -m bench.serve
  if (!page.summary) drawFrame();
  scheduleCharts();
}

function renderText() {
  const s = page.summary;
  $("study").textContent = s.study;
  $("mode").textContent = s.mode;
  const target = s.n_trials ?? "?";
  $("progress").textContent = `${s.finished} of n_trials ${target}`;
  $("bar").max = s.n_trials || 1;
  $("bar").value = s.finished;
  $("counts").textContent = Object.entries(s.counts)
    .filter(([, n]) => n).map(([state, n]) => `${n} ${state}`).join(", ") || "none yet";
  $("eta").textContent = s.eta_s == null ? "–" : duration(s.eta_s);
  const best = s.best == null ? null : page.rows.get(s.best);
  $("best").textContent = best ? `#${best.number} ${valueText(best)}  ${paramsText(best.params)}` : "–";
  if (!READ_ONLY) renderControls(s);
  renderRunning();
  renderTrials();
  replaceBody("failures", [...page.rows.values()]
    .filter((r) => r.state === "fail" || s.failed_by_hand[r.number] !== undefined)
    .slice(-50).reverse()
    .map((r) => el("tr", {}, el("td", {}, `#${r.number}`), el("td", {}, r.state),
      el("td", {}, s.failed_by_hand[r.number] !== undefined
        ? `failed by hand: ${s.failed_by_hand[r.number]}` : r.reason))));
  replaceBody("log", s.log.map((a) => el("tr", {},
    el("td", {}, a.at.replace("T", " ").replace("+00:00", "")), el("td", {}, a.by),
    el("td", {}, `#${a.from_trial}`), el("td", {}, a.action))));
}

function duration(seconds) {
  const m = Math.round(seconds / 60);
  return m < 1 ? `${Math.round(seconds)} s` : m < 60 ? `${m} min` : `${(m / 60).toFixed(1)} h`;
}

function renderRunning() {
  const running = [...page.rows.values()].filter((r) => r.state === "running");
  replaceBody("running", running.map((r) => {
    const last = r.curve && r.curve.length ? short(r.curve[r.curve.length - 1][1]) : "";
    const prune = READ_ONLY ? "" : el("button", { class: "prune", "data-number": r.number,
      onclick: () => steer("prune", [String(r.number)]) }, "prune");
    return el("tr", { "data-number": r.number }, el("td", {}, `#${r.number}`),
      el("td", {}, (r.start || "").slice(11)), el("td", {}, r.worker || ""),
      el("td", {}, paramsText(r.params)), el("td", {}, last), el("td", {}, prune));
  }));
}

function renderTrials() {
  const s = page.summary;
  const latest = [...page.rows.values()].filter((r) => r.state !== "waiting").slice(-50).reverse();
  const best = s.best == null ? null : page.rows.get(s.best);
  const found = page.found == null ? null : page.rows.get(page.found);
  const first = [found, best].filter((r, i, all) => r && all.indexOf(r) === i);
  const shown = [...first, ...latest.filter((r) => !first.includes(r))];
  replaceBody("trials", shown.map((r) => {
    const notes = (s.notes[r.number] || []).map((n) => el("div", { class: "note" }, `${n.by}: ${n.note}`));
    const failed = s.failed_by_hand[r.number];
    const state = failed === undefined ? r.state : `${r.state}, failed by hand: ${failed}`;
    const actions = READ_ONLY ? "" : el("span", {},
      el("button", { class: "near", onclick: () => tryNear(r) }, "try near this"), " ",
      el("button", { class: "pick", onclick: () => ($("trial-number").value = r.number) }, "note / fail"));
    return el("tr", { "data-number": r.number, class: failed === undefined ? "" : "failed-by-hand" },
      el("td", {}, `#${r.number}${r === best ? " (best)" : r === found ? " (found)" : ""}`), el("td", {}, state),
      el("td", {}, r.paused || ""), el("td", {}, valueText(r)), el("td", {}, paramsText(r.params)), el("td", {}, ...notes),
      el("td", {}, actions));
  }));
}

// A trial put at the top of the table (a point clicked on a chart, a number given), so that
// every trial is reachable though the charts draw a selection and the table the latest 50.
function find(number) {
  const n = Number(number);
  $("find-error").textContent = page.rows.has(n) ? "" : `no trial #${String(number).trim()}`;
  if (!page.rows.has(n)) return;
  page.found = n;
  renderTrials();
  $("trials").scrollIntoView({ block: "nearest" });
}

// -- the controls -------------------------------------------------------------------------

let controlsBuiltFor = null;

function renderControls(s) {
  $("controls").hidden = false;
  const keys = Object.keys(s.space);
  if (controlsBuiltFor !== keys.join("\n")) {
    controlsBuiltFor = keys.join("\n");
    replaceBody("params", keys.map((key) => {
      const spec = s.space[key];
      const input = spec.kind === "choice"
        ? el("select", { class: "value", "data-key": key },
          ...spec.choices.map((c) => el("option", { value: fmt(c) }, fmt(c))))
        : el("input", { class: "value", "data-key": key, size: 10 });
      return el("tr", { "data-key": key }, el("td", {}, el("input", { type: "checkbox", class: "use", "data-key": key })),
        el("td", {}, key), el("td", {}, input), el("td", {}, declared(spec)), el("td", { class: "steered" }));
    }));
    const numeric = keys.filter((k) => s.space[k].kind !== "choice");
    $("narrow-key").replaceChildren(...numeric.map((k) => el("option", { value: k }, k)));
    boundNarrow();
  }
  for (const row of $("params").tBodies[0].rows) {
    const key = row.dataset.key;
    const cell = row.querySelector(".steered");
    const fixed = key in s.fixed ? `fixed ${fmt(s.fixed[key])}` : null;
    const narrowed = key in s.narrowed ? `narrowed ${declared(s.narrowed[key])}` : null;
    const what = fixed || narrowed;
    cell.replaceChildren(what ? el("span", {}, what, " ",
      el("button", { class: "unfix", "data-key": key, onclick: () => steer("unfix", [key]) }, "unfix")) : "");
  }
  // the study's n_trials fills the field until a person edits it; their value stays until sent
  if (!$("n-trials").dataset.edited) $("n-trials").value = s.n_trials ?? "";
}

function declared(spec) {
  if (spec.kind === "choice") return `choice(${spec.choices.map(fmt).join(", ")})`;
  return `[${spec.low}, ${spec.high}]${spec.log ? " (log)" : ""}${spec.step && spec.step !== 1 ? ` step ${spec.step}` : ""}`;
}

function boundNarrow() {
  const spec = page.summary && page.summary.space[$("narrow-key").value];
  if (!spec) return;
  for (const id of ["narrow-low", "narrow-high"]) {
    $(id).min = spec.low;
    $(id).max = spec.high;
  }
  $("narrow-low").value = spec.low;
  $("narrow-high").value = spec.high;
}

function tryNear(row) {
  for (const input of document.querySelectorAll("#params .value")) {
    const key = input.dataset.key;
    const box = document.querySelector(`#params .use[data-key="${CSS.escape(key)}"]`);
    box.checked = key in row.params;
    if (key in row.params) input.value = fmt(row.params[key]);
  }
  $("point").scrollIntoView({ block: "nearest" });
}

function checkedWords() {
  return [...document.querySelectorAll("#params .use")].filter((b) => b.checked).map((b) => {
    const input = document.querySelector(`#params .value[data-key="${CSS.escape(b.dataset.key)}"]`);
    return `${b.dataset.key}=${input.value.trim()}`;
  });
}

function number(text, kind) {
  const s = String(text).trim();
  return kind === "float" && /^-?\d+$/.test(s) ? `${s}.0` : s; // an int would narrow an int range
}

function narrowWords() {
  const key = $("narrow-key").value;
  const spec = page.summary.space[key];
  let expr = `interval(${number($("narrow-low").value, spec.kind)}, ${number($("narrow-high").value, spec.kind)})`;
  if (spec.log) expr = `tag(log, ${expr})`;
  return [`${key}=${expr}`];
}

async function steer(verb, words) {
  $("message").textContent = "";
  $("error").textContent = "";
  localStorage.setItem("hydratune-user", $("user").value);
  let body;
  try {
    const reply = await fetch("/api/steer", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Hydratune-Csrf": CSRF },
      body: JSON.stringify({ verb, words, user: $("user").value }),
    });
    body = await reply.json();
  } catch (error) {
    body = { error: `error: the server did not answer (${error})` };
  }
  if (body.error) $("error").textContent = body.error;
  else $("message").textContent = body.message;
  return !body.error;
}

function wireControls() {
  $("user").value = localStorage.getItem("hydratune-user") || "";
  for (const verb of ["pause", "resume", "stop"]) $(verb).onclick = () => steer(verb, []);
  $("n-trials").oninput = $("n-trials").onchange = () => { $("n-trials").dataset.edited = "1"; };
  $("set-n-trials").onclick = async () => {
    if (await steer("n_trials", [$("n-trials").value.trim()])) delete $("n-trials").dataset.edited;
  };
  $("enqueue").onclick = () => steer("enqueue", checkedWords());
  $("fix").onclick = () => steer("fix", checkedWords());
  $("narrow-key").onchange = boundNarrow;
  $("narrow").onclick = () => steer("narrow", narrowWords());
  const trialWords = () => [$("trial-number").value.trim(), ...$("trial-text").value.split(/\s+/).filter(Boolean)];
  $("note").onclick = () => steer("note", trialWords());
  $("fail").onclick = () => steer("fail", trialWords());
}

$("find").onclick = () => find($("find-number").value);
$("slice-key").onchange = drawSlice;
$("slice-go").onclick = drawSlice;
$("contour-go").onclick = drawContour;
$("importance-go").onclick = drawImportance;
if (READ_ONLY) $("controls").remove();
else wireControls();
start();
if (window.Plotly) plotlyRan();
else $("plotly").addEventListener("load", plotlyRan);

// hydratune serve: the page's charts, loaded before app.js (which feeds them: `page`, `$`,
// `el`, `plain`, `paramsText`, `find`). Plotly gets every study value as escaped text.
"use strict";

// -- charts (plotly.js from the installed plotly package) ----------------------------------
// Redrawn when what they show changed, at most every 2 s, or every 3 drawing times when
// drawing takes longer (no GPU): the page stays responsive.
//
// Drawing cost follows what a person can see, not the trial count (issue 27: 10,000 trials
// took 8.6 s to draw): the history shows the best HISTORY_BEST trials, the others whose number
// is a multiple of a stride (a power of two, so a point once shown stays shown until the
// stride doubles) and the best-so-far line as its steps only; parallel coordinates the best
// PARCOORDS_BEST and the others on a stride likewise. A trial that changes neither selection
// is appended (Plotly.extendTraces); otherwise the chart is drawn again (Plotly.react). Every
// trial stays in the table: click a point, or give its number.
const HISTORY_BEST = 200, HISTORY_OTHERS = 600, PARCOORDS_BEST = 300, PARCOORDS_OTHERS = 200;

function scheduleCharts() {
  if (page.chartTimer) return;
  const wait = Math.max(0, page.chartsAt + Math.max(2000, 3 * page.drawMs) - Date.now());
  page.chartTimer = setTimeout(async () => {
    if (!window.Plotly || !page.summary) { // plotly.js's load event schedules again
      page.chartTimer = null;
      return;
    }
    page.chartsAt = Date.now();
    const start = performance.now();
    try {
      await drawCharts();
    } finally {
      page.drawMs = performance.now() - start;
      page.chartTimer = null;
    }
    if (!performance.getEntriesByName("hydratune:charts").length) { // read by python -m bench.serve
      performance.mark("hydratune:charts");
      performance.measure("hydratune:drawing", { start, end: performance.now() }); // the charts alone
      probeWebgl();
    }
  }, wait);
}

// Plotly's parallel coordinates need WebGL, and WebGL drawn in software (no GPU: a VM, a
// remote desktop, headless Chromium) took 4 s for them whatever the number of lines (issue 27,
// SwiftShader on 2 loaded cores). There the lines are SVG paths instead, without brushing.
// History points are SVG always: software WebGL took seconds for 10,000 of them.
// What draws WebGL here ("gpu", "software" or "none") as the last probe in this browser found,
// until this page's own answers; unknown: SVG lines, which every browser draws.
let webgl = localStorage.getItem("hydratune-webgl");

// The probe runs once the first charts are drawn, in a worker (static/webgl.js): the first
// WebGL context starts the GPU process, which in software held the page's thread 0.8-1.6 s
// before the charts (issue 27: headless Chromium, 2 loaded cores). A different answer draws
// the parallel coordinates again.
function probeWebgl() {
  const worker = new Worker("/static/webgl.js");
  worker.onmessage = (event) => {
    worker.terminate();
    const changed = (event.data === "gpu") !== (webgl === "gpu");
    webgl = event.data;
    localStorage.setItem("hydratune-webgl", webgl);
    performance.mark("hydratune:webgl"); // read by tests/serve/test_charts.py
    if (changed) {
      page.drawn = page.parallel = "";
      scheduleCharts();
    }
  };
}
// Tick labels past a chart's edge are left to the chart's clipping: Plotly's default measures
// every label to hide those (a box per label, forcing a layout: a fifth of the drawing).
function layout(extra) {
  const chart = { margin: { l: 60, r: 20, t: 10, b: 40 }, ...extra };
  for (const axis of ["xaxis", "yaxis"]) chart[axis] = { ticklabeloverflow: "allow", ...chart[axis] };
  return chart;
}
const config = { displaylogo: false, responsive: true };

function complete() {
  const failed = page.summary.failed_by_hand;
  return [...page.rows.values()].filter((r) => r.state === "complete" && failed[r.number] === undefined
    && r.values && typeof r.values[0] === "number");
}

// The complete trials best first (ties: the lower number), and the sign that makes lower better.
function ranked(s, done) {
  const sign = s.directions[0] === "maximize" ? -1 : 1;
  return [[...done].sort((a, b) => sign * (a.values[0] - b.values[0]) || a.number - b.number), sign];
}

// The best `best` trials and, of the others, those whose number is a multiple of the smallest
// power of two that keeps them to `others`.
function select(order, best, others) {
  const top = order.slice(0, best);
  const rest = order.slice(best);
  let stride = 1;
  while (rest.filter((r) => r.number % stride === 0).length > others) stride *= 2;
  return { top, rest, stride, sampled: rest.filter((r) => r.number % stride === 0) };
}

// The history and parallel coordinates first, then the rest: Plotly's first chart on a page
// pays for its set-up, and these are what a person comes to see.
function drawCharts() {
  const s = page.summary;
  const done = complete();
  const drawing = [];
  const shown = [done.length, done.length && done[done.length - 1].number, s.log.length, Object.keys(s.space)].join();
  if (shown !== page.drawn) { // else no new complete trial, no new steering mark
    page.drawn = shown;
    const [order, sign] = ranked(s, done);
    const objective = plain((s.metrics && s.metrics[0]) || "value");
    drawing.push(drawHistory(s, done, order, sign, objective), drawParallel(s, order, objective), drawPareto(s, done));
    const keys = Object.keys(s.space);
    fillSelect("slice-key", keys);
    fillSelect("contour-x", keys);
    fillSelect("contour-y", keys, 1);
  }
  const running = [...page.rows.values()].filter((r) => r.state === "running" && r.curve && r.curve.length);
  $("curves").hidden = !running.length;
  drawing.push(Plotly.react("curves", running.map((r) => ({ x: r.curve.map((p) => p[0]), y: r.curve.map((p) => p[1]),
    mode: "lines+markers", name: `#${r.number}` })), layout({ xaxis: { title: { text: "step" } } }), config),
  drawSchedule());
  return Promise.all(drawing);
}

// An empty history frame, drawn when plotly.js has run before the first state came: Plotly's
// first chart on a page pays for its set-up (its drawing code compiled as it first runs), which
// then overlaps the wait. One frame only: a state that comes meanwhile waits for it (a second
// one, for the parallel coordinates, held the first state back 0.3-0.4 s more on later visits).
function drawFrame() {
  Plotly.react("history", [{ x: [], y: [], mode: "markers", type: "scatter" }],
    layout({ xaxis: { title: { text: "trial" } } }), config);
}

const pointText = (r) => plain(`#${r.number} ${paramsText(r.params)}`);

// The history: appended to while the new trials change neither the best HISTORY_BEST, the
// stride, the best-so-far line before them nor the steering marks; drawn again otherwise.
function drawHistory(s, done, order, sign, objective) {
  const h = page.history;
  const fresh = h && h.marks === s.log.length ? done.filter((r) => !h.seen.has(r.number)) : null;
  const last = done.length ? done[done.length - 1].number : 0;
  if (fresh && fresh.every((r) => sign * r.values[0] >= h.cutoff && r.number > h.bestAt)) {
    const add = fresh.filter((r) => r.number % h.stride === 0);
    if (h.shownOthers + add.length <= HISTORY_OTHERS) {
      for (const r of fresh) h.seen.add(r.number);
      h.shownOthers += add.length;
      updateHistoryNote(h, done.length);
      return Plotly.extendTraces("history", { x: [add.map((r) => r.number), [last]],
        y: [add.map((r) => r.values[0]), [h.best * sign]], text: [add.map(pointText), [""]] }, [1, 2]);
    }
  }
  const { top, rest, stride, sampled } = select(order, HISTORY_BEST, HISTORY_OTHERS);
  let best = Infinity, bestAt = -1;
  const steps = { x: [], y: [] };
  for (const r of done) {
    if (sign * r.values[0] < best) {
      best = sign * r.values[0];
      bestAt = r.number;
      steps.x.push(r.number);
      steps.y.push(r.values[0]);
    }
  }
  if (done.length) {
    steps.x.push(last);
    steps.y.push(best * sign);
  }
  const cutoff = top.length < HISTORY_BEST ? Infinity : sign * top[top.length - 1].values[0];
  page.history = { seen: new Set(done.map((r) => r.number)), marks: s.log.length, stride, best, bestAt,
    cutoff, shownOthers: sampled.length, rest: rest.length, top: top.length };
  updateHistoryNote(page.history, done.length);
  const marks = s.log.map((a) => ({ type: "line", x0: a.from_trial, x1: a.from_trial, yref: "paper",
    y0: 0, y1: 1, line: { dash: "dot", width: 1, color: "#999" } }));
  const points = (rows, name, extra) => ({ x: rows.map((r) => r.number), y: rows.map((r) => r.values[0]),
    text: rows.map(pointText), mode: "markers", name, type: "scatter", hoverinfo: "x+y+text", ...extra });
  const drawn = Plotly.react("history", [
    points(top, rest.length ? `${objective}: the best ${top.length}` : objective),
    points(sampled, `${objective}: 1 in ${stride} of the other ${rest.length}`,
      { marker: { color: "#9ab", size: 4 }, showlegend: rest.length > 0 }),
    { x: steps.x, y: steps.y, text: steps.x.map(() => ""), // extendTraces extends text too
      mode: "lines", name: "best so far", line: { shape: "hv" }, hoverinfo: "skip" },
  ], layout({ xaxis: { title: { text: "trial" } }, yaxis: { title: { text: objective } }, shapes: marks }), config);
  return drawn.then((div) => {
    if (!div._hydratuneClick) { // plotly keeps its handlers across react
      div._hydratuneClick = true;
      div.on("plotly_click", (event) => find(event.points[0].x));
    }
  });
}

function updateHistoryNote(h, total) {
  const shown = h.top + h.shownOthers;
  $("history-note").textContent = shown < total
    ? `(${shown} of ${total} points: the best ${h.top}, 1 in ${h.stride} of the rest; every trial is in the table below: click a point or find it by number)`
    : "";
}

// Parallel coordinates: the best PARCOORDS_BEST and a stride of the others, drawn again only
// when that selection changed.
function drawParallel(s, order, objective) {
  const keys = Object.keys(s.space);
  const { top, sampled, stride } = select(order, PARCOORDS_BEST, PARCOORDS_OTHERS);
  const lines = [...top, ...sampled];
  $("parallel-note").textContent = lines.length === order.length ? ""
    : `(the best ${top.length} and 1 in ${stride} of the other ${order.length - top.length} trials)`;
  const chosen = [keys.join("\n"), ...lines.map((r) => r.number)].join();
  if (chosen === page.parallel) return Promise.resolve();
  page.parallel = chosen;
  const dims = keys.map((k) => dimension(k, s.space[k], lines));
  dims.push({ label: objective, values: lines.map((r) => r.values[0]) });
  return drawAxes("parallel", dims, lines, s.directions[0] === "maximize" ? -1 : 1);
}

// One line per trial across `dims`, coloured by its first value: plotly's WebGL parcoords on
// a GPU, SVG lines otherwise.
function drawAxes(div, dims, lines, sign) {
  if (webgl === "gpu") {
    return Plotly.react(div, [{ type: "parcoords", dimensions: dims,
      line: { color: lines.map((r) => r.values[0]), colorscale: "Viridis" } }], layout({ margin: { l: 60, r: 60, t: 40, b: 20 } }), config);
  }
  return drawParallelSvg(div, dims, lines, sign);
}

// Parallel coordinates as SVG lines: each axis scaled to its range, each trial a polyline, in
// six colour bands of Viridis by rank, the best drawn last (on top).
const VIRIDIS = ["#fde725", "#7ad151", "#22a884", "#2a788e", "#414487", "#440154"];
function drawParallelSvg(div, dims, lines, sign) {
  const axes = dims.map((d) => {
    const known = d.values.filter((v) => typeof v === "number" && isFinite(v));
    const low = d.tickvals ? 0 : Math.min(...known), high = d.tickvals ? Math.max(d.tickvals.length - 1, 1) : Math.max(...known);
    return { ...d, low, span: high - low || 1 };
  });
  const at = (axis, v) => (typeof v === "number" && isFinite(v) ? (v - axis.low) / axis.span : null);
  const rank = lines.map((r, i) => i).sort((a, b) => sign * (lines[b].values[0] - lines[a].values[0]));
  const bands = VIRIDIS.map((color) => ({ x: [], y: [], mode: "lines", type: "scatter", hoverinfo: "skip",
    showlegend: false, line: { color, width: 1 } }));
  rank.forEach((line, i) => {
    const band = bands[Math.min(VIRIDIS.length - 1, Math.floor((i * VIRIDIS.length) / rank.length))];
    axes.forEach((axis, k) => { band.x.push(k); band.y.push(at(axis, axis.values[line])); });
    band.x.push(null);
    band.y.push(null);
  });
  const ends = axes.flatMap((axis, k) => (axis.tickvals
    ? axis.tickvals.map((v, j) => [k, at(axis, v), axis.ticktext[j]])
    : [[k, 0, short(axis.low)], [k, 1, short(axis.low + axis.span)]]))
    .map(([x, y, text]) => ({ x, y, text: String(text), showarrow: false, xanchor: "right", xshift: -3, font: { size: 10 } }));
  const rules = axes.map((_, k) => ({ type: "line", x0: k, x1: k, y0: 0, y1: 1, line: { color: "#333", width: 1 } }));
  return Plotly.react(div, bands, layout({ margin: { l: 60, r: 60, t: 10, b: 40 }, annotations: ends, shapes: rules,
    xaxis: { tickvals: axes.map((_, k) => k), ticktext: axes.map((a) => a.label), showgrid: false, zeroline: false, range: [-0.4, axes.length - 0.6] },
    yaxis: { visible: false, range: [-0.05, 1.05] } }), config);
}

function dimension(key, spec, rows) {
  if (spec.kind === "choice") {
    const index = new Map(spec.choices.map((c, i) => [fmt(c), i]));
    return { label: plain(key), values: rows.map((r) => index.get(fmt(r.params[key]))),
      tickvals: spec.choices.map((_, i) => i), ticktext: spec.choices.map((c) => plain(fmt(c))) };
  }
  return { label: plain(key), values: rows.map((r) => (spec.log ? Math.log10(r.params[key]) : r.params[key])) };
}

// The Pareto front of the complete trials not failed by hand: for two objectives every trial
// with the front marked; for more, one axis per objective and a line per trial on the front.
function drawPareto(s, done) {
  const many = s.directions.length;
  $("pareto-box").hidden = many < 2;
  if (many < 2) return Promise.resolve();
  const signs = s.directions.map((d) => (d === "maximize" ? -1 : 1));
  const points = done.filter((r) => r.values.length === many && r.values.every((v) => typeof v === "number"));
  const dominated = (a, b) => signs.every((g, i) => g * b.values[i] <= g * a.values[i])
    && signs.some((g, i) => g * b.values[i] < g * a.values[i]);
  const front = points.filter((a) => !points.some((b) => dominated(a, b)));
  const names = signs.map((_, i) => plain((s.metrics || [])[i] || `objective ${i}`));
  if (many > 2) {
    $("pareto-note").textContent = `(the ${front.length} trials on the front of ${points.length}, one axis per objective)`;
    return drawAxes("pareto", names.map((label, i) => ({ label, values: front.map((r) => r.values[i]) })), front, signs[0]);
  }
  $("pareto-note").textContent = "";
  return Plotly.react("pareto", [
    { x: points.map((r) => r.values[0]), y: points.map((r) => r.values[1]), mode: "markers", name: "trials", type: "scatter" },
    { x: front.map((r) => r.values[0]), y: front.map((r) => r.values[1]), mode: "markers", name: "Pareto front",
      text: front.map((r) => `#${r.number}`), marker: { size: 10, color: "#d62728" } },
  ], layout({ xaxis: { title: { text: names[0] } }, yaxis: { title: { text: names[1] } } }), config);
}

function fillSelect(id, keys, pick = 0) {
  const select = $(id);
  if (select.options.length === keys.length) return;
  select.replaceChildren(...keys.map((k) => el("option", { value: k }, k)));
  if (keys[pick]) select.value = keys[pick];
}

function drawSlice() {
  const key = $("slice-key").value;
  if (!key) return;
  const rows = complete().filter((r) => key in r.params);
  Plotly.react("slice", [{ x: rows.map((r) => (typeof r.params[key] === "string" ? plain(r.params[key]) : r.params[key])),
    y: rows.map((r) => r.values[0]), mode: "markers", type: "scatter", marker: { color: rows.map((r) => r.number) } }],
  layout({ xaxis: { title: { text: plain(key) }, type: page.summary.space[key].log ? "log" : "-" } }), config);
}

function drawContour() {
  const [x, y] = [$("contour-x").value, $("contour-y").value];
  const rows = complete().filter((r) => typeof r.params[x] === "number" && typeof r.params[y] === "number");
  if (!rows.length) {
    $("contour").replaceChildren(el("p", { class: "muted" }, "contour needs two numeric parameters"));
    return;
  }
  $("contour").replaceChildren();
  Plotly.react("contour", [
    { type: "contour", x: rows.map((r) => r.params[x]), y: rows.map((r) => r.params[y]), z: rows.map((r) => r.values[0]) },
    { x: rows.map((r) => r.params[x]), y: rows.map((r) => r.params[y]), mode: "markers", marker: { color: "#fff", size: 4 } },
  ], layout({ xaxis: { title: { text: plain(x) } }, yaxis: { title: { text: plain(y) } } }), config);
}

async function drawImportance() {
  const reply = await (await fetch("/api/importance")).json();
  if (reply.error) {
    $("importance").replaceChildren(el("p", { class: "error" }, reply.error));
    return;
  }
  $("importance").replaceChildren();
  const keys = Object.keys(reply.importance).reverse();
  Plotly.react("importance", [{ type: "bar", orientation: "h", y: keys.map(plain),
    x: keys.map((k) => reply.importance[k]) }], layout({ margin: { l: 200, r: 20, t: 10, b: 40 } }), config);
}

// hydratune serve: the schedule a sweep runs (ASHA's rungs, PBT's lineage), loaded before
// app.js (which feeds it `page.schedule`). The server sends the data the report draws
// (hydratune.schedule.schedule_data) only when it changed; a sweep without a schedule gets
// none and the section stays hidden.
"use strict";

const SCHEDULE_HEADS = {
  asha: ["rung", "epochs", "runs", "paused", "promoted", "best"],
  pbt: ["member", "runs", "continued from another member", "epochs", "latest value"],
};

// The table at once (with the rest of the text); the figure with the other charts.
function renderSchedule() {
  const data = page.schedule;
  $("schedule-box").hidden = !data;
  if (!data) return;
  $("schedule-kind").textContent = `(${data.kind})`;
  const bracketed = (data.rungs || []).some((r) => "bracket" in r); // Hyperband: per bracket
  const head = [...(bracketed ? ["bracket"] : []), ...(SCHEDULE_HEADS[data.kind] || [])];
  $("schedule-table").tHead.replaceChildren(el("tr", {}, ...head.map((h) => el("th", {}, h))));
  const rows = data.rungs
    ? data.rungs.map((r) => [...(bracketed ? [r.bracket] : []), r.rung, r.epochs, r.runs.length,
      r.paused, r.promoted, short(r.best ?? "")])
    : (data.members || []).map((m) => {
      const [, epochs, value] = m.runs[m.runs.length - 1];
      return [m.member, m.runs.length, m.exploits, epochs, short(value ?? "")];
    });
  replaceBody("schedule-table", rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
}

// As the report draws them: ASHA's runs promoted or not, and a PBT member's colour (plotly's
// qualitative.Plotly) for its lines and its runs alike.
const PROMOTED = [[true, "promoted to the next rung", "#d62728"], [false, "not promoted", "#1f77b4"]];
const MEMBER_COLORS = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3",
  "#FF6692", "#B6E880", "#FF97FF", "#FECB52"];

// ASHA: each run's value at its rung's epochs, red when it was promoted; PBT: each run at its
// epochs and a line from the run it continued from (one per resumed_from edge).
function drawSchedule() {
  const data = page.schedule;
  if (!data || data === page.scheduleDrawn) return Promise.resolve();
  page.scheduleDrawn = data;
  const marker = (runs, at) => ({ mode: "markers", type: "scatter", x: runs.map(at.x), y: runs.map(at.y),
    text: runs.map(at.text), hoverinfo: "x+y+text" });
  let traces = [], xaxis = { title: { text: "epoch" } };
  if (data.rungs) {
    xaxis = { title: { text: "epochs (rung)" }, type: "log" };
    const points = data.rungs.flatMap((r) => r.runs.map((run) => ({ epochs: r.epochs, run,
      rung: `${"bracket" in r ? `bracket ${r.bracket} ` : ""}rung ${r.rung}` })));
    traces = PROMOTED.map(([up, name, color]) => {
      const runs = points.filter((p) => Boolean(p.run[2]) === up);
      return { ...marker(runs, { x: (p) => p.epochs, y: (p) => p.run[1],
        text: (p) => `#${p.run[0]}, ${p.rung}` }), name, marker: { color } };
    });
  } else if (data.members) {
    traces = data.members.flatMap((m, i) => {
      const color = MEMBER_COLORS[i % MEMBER_COLORS.length], legendgroup = `member ${m.member}`;
      return [
        { x: m.edges.flatMap(([a, b]) => [a[0], b[0], null]), y: m.edges.flatMap(([a, b]) => [a[1], b[1], null]),
          mode: "lines", type: "scatter", name: `member ${m.member}`, hoverinfo: "skip", legendgroup,
          line: { color } },
        { ...marker(m.runs, { x: (run) => run[1], y: (run) => run[2], text: (run) => `#${run[0]}` }),
          name: `member ${m.member} runs`, showlegend: false, legendgroup, marker: { color } },
      ];
    });
  }
  return Plotly.react("schedule", traces, layout({ xaxis, yaxis: { title: { text: "value" } } }), config);
}

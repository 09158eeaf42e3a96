// Inference: requests/s, latency and batch size over the last minutes, errors by code,
// connections; the loaded models with their sha256, load time and last reload, and the
// reload button where the server has `POST /models/reload`.
import {
  DataTable, adminAction, api, chart, chartBox, chrome, el, facts, fill, fmtInt, fmtNum, fmtTime, generic,
  hasRoute, poll, show, unavailable, markRendered,
} from "./console.js";

chrome("inference.html");

fill(
  "inference-charts",
  chartBox("Requests per second", "chart-rps", ["requests/s", "errors/s"]),
  chartBox("Latency (ms, bucket upper bounds)", "chart-latency", ["p50", "p99"]),
  chartBox("Mean batch size", "chart-batch", ["rows per batch"]),
);

const errorsTable = new DataTable([
  { label: "Code", value: (e) => e.code, cell: (e) => e.code },
  { label: "Since start", value: (e) => e.total, cell: (e) => fmtInt(e.total), className: "num" },
  { label: "Last 5 min", value: (e) => e.recent, cell: (e) => fmtInt(e.recent), className: "num" },
], { id: "errors", sortBy: 1, descending: true, empty: "No errors." });

function reloadOutcome(model, doc) {
  const outcome = model.lastReload ?? model.reload ?? doc.lastReload;
  return outcome === undefined ? "not available on this server" : show(outcome);
}

let modelsTable = null;
const skippedTable = new DataTable([
  { label: "File", value: (s) => s.path, cell: (s) => s.path },
  { label: "Error", value: (s) => s.error, cell: (s) => s.error, className: "error-text" },
], { id: "skipped", empty: "No file was skipped." });

async function showModels() {
  const doc = await api("/models");
  if (!modelsTable) {
    modelsTable = new DataTable([
      { label: "Name", value: (m) => m.name, cell: (m) => `${m.name}${m.name === doc.default ? " (default)" : ""}` },
      { label: "Source", value: (m) => m.source, cell: (m) => m.source },
      { label: "sha256", value: (m) => m.sha256, cell: (m) => el("code", { title: show(m.sha256), text: m.sha256 ? m.sha256.slice(0, 16) : "—" }) },
      { label: "Loaded", value: (m) => m.loadedAt, cell: (m) => fmtTime(m.loadedAt) },
      { label: "Frames", value: (m) => m.frames, cell: (m) => show(m.frames), className: "num" },
      { label: "Heads", value: (m) => m.heads.length, cell: (m) => show(m.heads.length), className: "num" },
      { label: "Last reload", value: (m) => reloadOutcome(m, doc), cell: (m) => reloadOutcome(m, doc) },
    ], { id: "models-table", empty: "No model is loaded." });
    fill("models", modelsTable.element, el("h3", { text: "Skipped files" }), skippedTable.element);
  }
  modelsTable.setRows(doc.models);
  skippedTable.setRows(doc.skipped);
}

async function reloadControls() {
  if (!(await hasRoute("POST", "/models/reload"))) {
    fill("models-actions", unavailable("Reloading models"));
    return;
  }
  const button = el("button", { type: "button", id: "reload", text: "Reload models" });
  button.addEventListener("click", async () => {
    if (await adminAction(button, "Reload models", () => api("/models/reload", { method: "POST" }))) await showModels();
  });
  fill("models-actions", button);
}

reloadControls();

poll(async () => {
  const history = await api("/console/inference-history");
  if (!history.available) {
    fill("inference-now", unavailable(`Inference figures (${history.reason})`));
    fill("inference-per-model", unavailable("Per-model figures"));
  } else {
    const points = history.points;
    const at = (key) => points.map((p) => [p.at, p[key]]);
    chart(document.getElementById("chart-rps"), [{ points: at("requestsPerSecond") }, { points: at("errorsPerSecond") }], { yMin: 0 });
    chart(document.getElementById("chart-latency"), [{ points: at("latencyP50Ms") }, { points: at("latencyP99Ms") }], { yMin: 0 });
    chart(document.getElementById("chart-batch"), [{ points: at("batchMean") }], { yMin: 0 });
    const now = history.current;
    const last = points[points.length - 1];
    fill("inference-now", facts([
      ["Connections", fmtInt(now.connections)],
      ["Queue depth", `${fmtInt(now.queueDepth)} (most ${fmtInt(now.maxQueueDepth)})`],
      ["Requests since start", fmtInt(now.requests)],
      ["Replies since start", fmtInt(now.replies)],
      ["Requests/s now", last ? fmtNum(last.requestsPerSecond) : "—"],
      ["Latency p50 / p99 (since start)", `${fmtNum(now.latencyMs.p50)} / ${fmtNum(now.latencyMs.p99)} ms`],
      ["Sampled every", `${fmtNum(history.intervalSeconds)} s, ${fmtInt(points.length)} of ${fmtInt(history.capacity)} points`],
    ]));
    const since = (last ? last.at : 0) - 300;
    const recent = {};
    for (const p of points) if (p.at > since) for (const [code, n] of Object.entries(p.errors)) recent[code] = (recent[code] || 0) + n;
    errorsTable.setRows(Object.entries(now.errors).map(([code, total]) => ({ code, total, recent: recent[code] || 0 })));
    fill("inference-errors", errorsTable.element);
    fill("inference-per-model", now.models ? generic(now.models) : unavailable("Per-model figures"));
  }
  await showModels();
  markRendered();
});

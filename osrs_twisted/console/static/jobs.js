// Jobs: each job's last run and next run with a run-now button (admin), and the recent
// runs with their durations and the error text of failures.
import { DataTable, adminAction, api, badge, chrome, el, fill, fmtAge, fmtInt, fmtTime, poll, show, markRendered } from "./console.js";

chrome("jobs.html");

const failedOnly = document.getElementById("runs-failed");
let refresh = () => {};

function runNow(job) {
  const button = el("button", { type: "button", className: "run-now", "data-job": job.name, text: "Run now" });
  button.addEventListener("click", async () => {
    if (await adminAction(button, `Run ${job.name}`, () => api(`/tasks/${encodeURIComponent(job.name)}/run`, { method: "POST" }))) {
      refresh();
    }
  });
  return button;
}

function duration(run) {
  return run && typeof run.durationMs === "number" ? `${fmtInt(run.durationMs)} ms` : "—";
}

const jobsTable = new DataTable([
  { label: "Job", value: (j) => j.name, cell: (j) => j.name },
  { label: "Every", value: (j) => j.intervalSeconds, cell: (j) => (j.enabled ? fmtAge(j.intervalSeconds) : "off"), className: "num" },
  { label: "Last run", value: (j) => j.lastRun && j.lastRun.state, cell: (j) => (j.lastRun ? badge(j.lastRun.state) : "never") },
  { label: "Finished", value: (j) => j.lastRun && j.lastRun.finishedAt, cell: (j) => fmtTime(j.lastRun && j.lastRun.finishedAt) },
  { label: "Duration", value: (j) => j.lastRun && j.lastRun.durationMs, cell: (j) => duration(j.lastRun), className: "num" },
  { label: "Error", value: (j) => j.lastRun && j.lastRun.error, cell: (j) => show(j.lastRun && j.lastRun.error), className: "error-text" },
  { label: "Next run", value: (j) => j.nextRunAt, cell: (j) => (j.nextRunAt ? fmtTime(j.nextRunAt) : "—") },
  { label: "", cell: runNow },
], { id: "jobs-table", empty: "No job." });

const runsTable = new DataTable([
  { label: "Run", value: (r) => r.id, cell: (r) => `#${r.id}`, className: "num" },
  { label: "Job", value: (r) => r.job, cell: (r) => r.job },
  { label: "Trigger", value: (r) => r.trigger, cell: (r) => r.trigger },
  { label: "State", value: (r) => r.state, cell: (r) => badge(r.state) },
  { label: "Queued", value: (r) => r.queuedAt, cell: (r) => fmtTime(r.queuedAt) },
  { label: "Duration", value: (r) => r.durationMs, cell: duration, className: "num" },
  { label: "Attempts", value: (r) => r.attempts, cell: (r) => show(r.attempts), className: "num" },
  { label: "Error", value: (r) => r.error, cell: (r) => show(r.error), className: "error-text" },
  { label: "Result", value: (r) => show(r.result), cell: (r) => show(r.result) },
], { id: "runs-table", sortBy: 0, descending: true, empty: "No run yet." });

fill("jobs", jobsTable.element);
fill("runs", runsTable.element);

const poller = poll(async () => {
  const [jobs, runs] = await Promise.all([
    api("/tasks"),
    api(`/tasks/runs?limit=100${failedOnly.checked ? "&state=failed" : ""}`),
  ]);
  jobsTable.setRows(jobs.jobs);
  runsTable.setRows(runs.runs);
  markRendered();
});
refresh = poller.refresh;
failedOnly.addEventListener("change", () => refresh());

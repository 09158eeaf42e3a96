// Overview: the fleet, inference, the jobs and the market at a glance, each linking to its page.
import { api, badge, chrome, el, facts, fill, fmtInt, fmtNum, markRendered, pageLink, poll, show, thresholdQuery } from "./console.js";

chrome("index.html");

poll(async () => {
  const [fleet, history, jobs, flips] = await Promise.all([
    api(`/console/fleet${thresholdQuery()}`),
    api("/console/inference-history"),
    api("/tasks").catch((error) => ({ unavailable: error.message })),
    api("/prices/flips?limit=5").catch((error) => ({ unavailable: error.message })),
  ]);
  const { alive, late, gone } = fleet.counts;
  fill("fleet-summary", facts([
    ["Bots", fmtInt(fleet.bots.length)], ["Alive", fmtInt(alive)], ["Late", fmtInt(late)], ["Gone", fmtInt(gone)],
  ]), pageLink("fleet.html", {}, "The fleet →"));
  if (history.available) {
    const last = history.points[history.points.length - 1];
    fill("inference-summary", facts([
      ["Requests/s", last ? fmtNum(last.requestsPerSecond) : "—"],
      ["Latency p99", last && last.latencyP99Ms !== null ? `${fmtNum(last.latencyP99Ms)} ms` : "—"],
      ["Connections", fmtInt(history.current.connections)],
      ["Errors since start", fmtInt(Object.values(history.current.errors).reduce((a, b) => a + b, 0))],
    ]), pageLink("inference.html", {}, "Inference and models →"));
  } else {
    fill("inference-summary", el("p", { className: "unavailable", text: show(history.reason) }),
      pageLink("inference.html", {}, "Models →"));
  }
  if (jobs.unavailable) {
    fill("jobs-summary", el("p", { className: "unavailable", text: jobs.unavailable }));
  } else {
    fill("jobs-summary", el("ul", { className: "plain" }, ...jobs.jobs.map((job) => el("li", {},
      job.lastRun ? badge(job.lastRun.state) : badge("never"), " ", job.name))), pageLink("jobs.html", {}, "Jobs →"));
  }
  if (flips.unavailable) {
    fill("market-summary", el("p", { className: "unavailable", text: flips.unavailable }));
  } else {
    fill("market-summary", el("ul", { className: "plain" }, ...flips.items.map((item) => el("li", {},
      pageLink("item.html", { id: item.id }, item.name), ` margin ${fmtInt(item.price.margin)}`))),
    pageLink("market.html", {}, "The market →"));
  }
  markRendered();
});

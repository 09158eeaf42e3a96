// Fleet: every bot's newest heartbeat, its liveness and XP per hour; sortable and filterable.
import {
  DataTable, api, badge, chrome, fill, fmtAge, fmtInt, fmtNum, pageLink, param, poll, show, thresholdQuery, markRendered,
} from "./console.js";

chrome("fleet.html");

const search = document.getElementById("fleet-search");
const liveness = document.getElementById("fleet-liveness");
search.value = param("q") || "";
liveness.value = param("status") || "";

function position(state) {
  if (state.x === undefined && state.y === undefined) return null;
  return `${show(state.x)}, ${show(state.y)}${state.plane ? ` (${show(state.plane)})` : ""}`;
}

const columns = [
  { label: "Bot", value: (b) => b.instanceId, cell: (b) => pageLink("bot.html", { id: b.instanceId }, b.instanceId) },
  { label: "Status", value: (b) => ["alive", "late", "gone"].indexOf(b.liveness), cell: (b) => badge(b.liveness) },
  { label: "Last heartbeat", value: (b) => b.ageSeconds, cell: (b) => `${fmtAge(b.ageSeconds)} ago`, className: "num" },
  { label: "Task", value: (b) => show(b.state.task), cell: (b) => show(b.state.task) },
  { label: "Position", value: (b) => position(b.state), cell: (b) => position(b.state) },
  { label: "HP", value: (b) => b.state.hp, cell: (b) => show(b.state.hp), className: "num" },
  { label: "XP/h", value: (b) => b.xpPerHour, cell: (b) => fmtInt(b.xpPerHour), className: "num" },
  { label: "Inventory", value: (b) => b.state.inventoryCount, cell: (b) => show(b.state.inventoryCount), className: "num" },
  { label: "Run energy", value: (b) => b.state.runEnergy, cell: (b) => fmtNum(b.state.runEnergy), className: "num" },
  { label: "In combat", value: (b) => show(b.state.inCombat), cell: (b) => show(b.state.inCombat) },
];
const assignmentColumn = {
  label: "Assignment", value: (b) => show(b.assignment), cell: (b) => show(b.assignment && (b.assignment.task ?? b.assignment)),
};

function wanted(bot) {
  const needle = search.value.trim().toLowerCase();
  if (liveness.value && bot.liveness !== liveness.value) return false;
  if (!needle) return true;
  return bot.instanceId.toLowerCase().includes(needle) || show(bot.state.task).toLowerCase().includes(needle);
}

let table = null;
let withAssignment = false;

function build(assignments) {
  withAssignment = assignments;
  table = new DataTable(assignments ? [...columns, assignmentColumn] : columns, {
    id: "fleet", rowKey: (b) => b.instanceId, filter: wanted, empty: "No bot has sent a heartbeat.", windowed: true,
  });
  fill("fleet-table", table.element);
}

search.addEventListener("input", () => table && table.render());
liveness.addEventListener("change", () => table && table.render());

poll(async () => {
  const fleet = await api(`/console/fleet${thresholdQuery()}`);
  const assignments = fleet.bots.some((b) => b.assignment !== undefined);
  if (!table || assignments !== withAssignment) build(assignments);
  table.setRows(fleet.bots);
  const { alive, late, gone } = fleet.counts;
  fill(
    "fleet-counts",
    `${fmtInt(fleet.bots.length)} bots: ${fmtInt(alive)} alive, ${fmtInt(late)} late, ${fmtInt(gone)} gone `,
    `(late after ${fmtAge(fleet.lateAfter)}, gone after ${fmtAge(fleet.goneAfter)} of silence)`,
  );
  markRendered();
});

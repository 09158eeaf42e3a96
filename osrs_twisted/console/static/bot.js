// One bot: its newest heartbeat in full, the XP chart, its heartbeat history and, where
// the server has bot command, its assignment, buy limits left and the operator's pin.
import {
  DataTable, adminAction, api, badge, chart, chartBox, chrome, el, facts, fill, fmtAge, fmtInt, fmtTime, generic,
  hasRoute, param, poll, show, thresholdQuery, unavailable, ApiError, markRendered,
} from "./console.js";

chrome("fleet.html");
const id = param("id") || "";
document.getElementById("title").textContent = `Bot ${id}`;
document.title = `Bot ${id} · osrs console`;
const path = encodeURIComponent(id);

const KNOWN = ["task", "hp", "x", "y", "plane", "inCombat", "inventoryCount", "runEnergy", "xpGained", "timestamp"];

function summary(bot) {
  const state = bot.heartbeats[0].state;
  const extra = Object.entries(state).filter(([key]) => key !== "instanceId" && !KNOWN.includes(key));
  return facts([
    ["Status", badge(bot.liveness)],
    ["Last heartbeat", `${fmtAge(bot.ageSeconds)} ago (${fmtTime(bot.heartbeats[0].receivedAt)})`],
    ["Task", state.task],
    ["Position", `${show(state.x)}, ${show(state.y)}, plane ${show(state.plane)}`],
    ["HP", state.hp],
    ["XP per hour", fmtInt(bot.xpPerHour)],
    ["XP gained", state.xpGained],
    ["Inventory", state.inventoryCount],
    ["Run energy", state.runEnergy],
    ["In combat", state.inCombat],
    ...extra,
  ]);
}

const xpBox = chartBox("Total XP gained", "xp-chart", ["XP"]);
fill("bot-xp", xpBox);

const history = new DataTable([
  { label: "Received", value: (h) => h.receivedAt, cell: (h) => fmtTime(h.receivedAt) },
  { label: "Task", value: (h) => show(h.state.task), cell: (h) => show(h.state.task) },
  { label: "HP", value: (h) => h.state.hp, cell: (h) => show(h.state.hp), className: "num" },
  { label: "Position", value: (h) => show(h.state.x), cell: (h) => `${show(h.state.x)}, ${show(h.state.y)}` },
  { label: "Inventory", value: (h) => h.state.inventoryCount, cell: (h) => show(h.state.inventoryCount), className: "num" },
  { label: "XP gained", value: (h) => show(h.state.xpGained), cell: (h) => show(h.state.xpGained) },
], { id: "history", sortBy: 0, descending: true });
fill("bot-history", history.element);

async function command(bot) {
  const parts = [];
  const latest = bot.heartbeats[0];
  parts.push(facts([["Assignment", latest.assignment === undefined ? "not available on this server" : show(latest.assignment)]]));
  if (await hasRoute("GET", "/bots/{instanceId}/limits")) {
    try {
      parts.push(el("h3", { text: "Buy limits left" }), generic(await api(`/bots/${path}/limits`)));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      parts.push(el("p", { text: `Buy limits: ${error.message}` }));
    }
  } else {
    parts.push(unavailable("Buy limits left"));
  }
  if (await hasRoute("PUT", "/bots/{instanceId}/task")) {
    const task = el("input", { id: "pin-task", placeholder: "action name", required: true });
    const pin = el("button", { type: "submit", id: "pin", text: "Pin" });
    parts.push(el("form", { className: "controls", onsubmit: (event) => {
      event.preventDefault();
      adminAction(pin, `Pin ${task.value}`, () => api(`/bots/${path}/task`, { method: "PUT", body: { task: task.value } }));
    } }, el("label", { text: "Pin to " }, task), pin));
    if (await hasRoute("DELETE", "/bots/{instanceId}/task")) {
      const unpin = el("button", { type: "button", id: "unpin", text: "Unpin" });
      unpin.addEventListener("click", () => adminAction(unpin, "Unpin", () => api(`/bots/${path}/task`, { method: "DELETE" })));
      parts.push(unpin);
    }
  } else {
    parts.push(unavailable("Pinning a task"));
  }
  fill("bot-command", ...parts);
}

let commandShown = false;

poll(async () => {
  const bot = await api(`/console/bots/${path}${thresholdQuery()}`);
  fill("bot-summary", summary(bot));
  chart(document.getElementById("xp-chart"), [{ label: "XP", points: bot.xp.map((p) => [p.at, p.total]) }]);
  history.setRows(bot.heartbeats);
  if (!commandShown) {
    commandShown = true;
    await command(bot);
  }
  markRendered();
});

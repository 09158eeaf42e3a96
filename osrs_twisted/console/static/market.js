// Market: the best flips, high alchemy, movers against the 24 h average and, where the
// server has actions, their profit per hour. Item names link to the item's page.
import {
  DataTable, api, chrome, fill, fmtInt, fmtPercent, generic, hasRoute, pageLink, poll, unavailable, markRendered,
} from "./console.js";

chrome("market.html");

const sort = document.getElementById("flips-sort");
const name = { label: "Item", value: (i) => i.name, cell: (i) => pageLink("item.html", { id: i.id }, i.name) };
const gp = (label, read) => ({ label, value: read, cell: (i) => fmtInt(read(i)), className: "num" });

const flips = new DataTable([
  name,
  gp("Buy (low)", (i) => i.price.low),
  gp("Sell (high)", (i) => i.price.high),
  gp("Tax", (i) => i.price.tax),
  gp("Margin", (i) => i.price.margin),
  { label: "ROI", value: (i) => i.price.roi, cell: (i) => fmtPercent(i.price.roi), className: "num" },
  gp("Limit", (i) => i.limit),
  gp("Limit profit", (i) => i.price.limitProfit),
  gp("24 h volume", (i) => i.price.volume24h),
], { id: "flips-table", sortBy: -1, empty: "No fresh flip." });

const alchs = new DataTable([
  name,
  gp("Buy (high)", (i) => i.price.high),
  gp("High alch", (i) => i.highalch),
  gp("Profit", (i) => i.price.alchProfit),
  gp("Limit", (i) => i.limit),
], { id: "alchs-table", sortBy: -1, empty: "No alch profit known." });

const moverColumns = [
  name,
  gp("Price", (m) => m.price),
  gp("24 h average", (m) => m.average24h),
  { label: "Change", value: (m) => m.changeRatio, cell: (m) => fmtPercent(m.changeRatio), className: "num" },
  gp("24 h volume", (m) => m.volume24h),
];
const risers = new DataTable(moverColumns, { id: "risers-table", sortBy: -1, empty: "No item rose." });
const fallers = new DataTable(moverColumns, { id: "fallers-table", sortBy: -1, empty: "No item fell." });

fill("flips", flips.element);
fill("alchs", alchs.element);
fill("risers", risers.element);
fill("fallers", fallers.element);

let actionsKnown = null;

const poller = poll(async () => {
  const [flipList, alchList, movers] = await Promise.all([
    api(`/prices/flips?limit=25&sort=${encodeURIComponent(sort.value)}`),
    api("/prices/alchs?limit=15"),
    api("/console/movers?limit=10"),
  ]);
  flips.setRows(flipList.items);
  alchs.setRows(alchList.items);
  risers.setRows(movers.risers);
  fallers.setRows(movers.fallers);
  if (actionsKnown === null) actionsKnown = await hasRoute("GET", "/actions");
  if (actionsKnown) {
    const actions = await api("/actions?sort=profitPerHour");
    fill("actions", generic(actions.actions ?? actions));
  } else {
    fill("actions", unavailable("Actions and their profit per hour"));
  }
  markRendered();
});
sort.addEventListener("change", () => poller.refresh());

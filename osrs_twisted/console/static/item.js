// One item: its facts and latest price, and its price history (5m/1h/6h/24h buckets)
// as a chart of the average high and low prices, with the traded volume below.
import { api, chart, chartBox, chrome, el, facts, fill, fmtInt, fmtPercent, param, poll, show, markRendered } from "./console.js";

chrome("market.html");
const id = param("id") || "";
const TIMESTEPS = ["5m", "1h", "6h", "24h"];
let timestep = TIMESTEPS.includes(param("timestep")) ? param("timestep") : "5m";

fill("item-charts",
  chartBox("Average price", "price-chart", ["instant buy (high)", "instant sell (low)"]),
  chartBox("Volume", "volume-chart", ["items traded"]));

let poller = null;
const buttons = TIMESTEPS.map((step) => el("button", {
  type: "button", className: "timestep", "data-timestep": step, text: step,
  onclick: () => { timestep = step; mark(); poller.refresh(); },
}));
function mark() {
  for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.timestep === timestep));
}
fill("timesteps", ...buttons);
mark();

poller = poll(async () => {
  const path = encodeURIComponent(id);
  const [item, history] = await Promise.all([
    api(`/items/${path}`),
    api(`/items/${path}/prices?timestep=${timestep}&limit=300`),
  ]);
  document.getElementById("title").textContent = item.name;
  document.title = `${item.name} · osrs console`;
  const price = item.price || {};
  fill("item-summary", facts([
    ["Id", item.id], ["Examine", item.examine], ["Members", item.members],
    ["Buy limit", fmtInt(item.limit)], ["High alch", fmtInt(item.highalch)],
    ["Instant buy (high)", fmtInt(price.high)], ["Instant sell (low)", fmtInt(price.low)],
    ["Margin after tax", fmtInt(price.margin)], ["ROI", fmtPercent(price.roi)],
    ["24 h volume", fmtInt(price.volume24h)], ["Stale", show(price.stale)],
  ]));
  const buckets = history.buckets;
  chart(document.getElementById("price-chart"), [
    { points: buckets.map((b) => [b.timestamp, b.avgHighPrice]) },
    { points: buckets.map((b) => [b.timestamp, b.avgLowPrice]) },
  ]);
  chart(document.getElementById("volume-chart"), [
    { kind: "bars", points: buckets.map((b) => [b.timestamp, b.highPriceVolume + b.lowPriceVolume]) },
  ], { yMin: 0 });
  markRendered();
});

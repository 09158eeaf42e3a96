// The console's shared parts: DOM built from data as text only, the API
// client, polling with a connection banner, the admin token, sortable
// tables and SVG charts. No library, no build step (docs/console.md).
//
// Every value from the server (heartbeat fields, item names, error texts) is
// untrusted: it reaches the page through textContent or an attribute value,
// never as markup.

const TOKEN_KEY = "osrs-console-admin-token";
const SVG_NS = "http://www.w3.org/2000/svg";

/** Seconds between two refreshes: `?refresh=SECONDS` on the page's URL, else 5. */
export const REFRESH_MS = (() => {
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  return Number.isFinite(asked) && asked >= 0.2 ? asked * 1000 : 5000;
})();

// ---------------------------------------------------------------- DOM

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An element; `text` sets its textContent, `on<event>` adds a listener, others are attributes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  return append(node, children);
}

/** An SVG element with these attributes. */
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  return append(node, children);
}

/** Replace the children of the element with id `id`. */
export function fill(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren();
  return append(node, children);
}

/** A link to another console page, its query built from `params`. */
export function pageLink(page, params, text) {
  const query = new URLSearchParams(params);
  const refresh = new URLSearchParams(location.search).get("refresh");
  if (refresh) query.set("refresh", refresh);
  return el("a", { href: `${page}?${query}`, text });
}

/** A query parameter of this page's URL. */
export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

/** The liveness thresholds asked for on this page's URL (`lateAfter`, `goneAfter`), as a query for the API. */
export function thresholdQuery(extra = {}) {
  const query = new URLSearchParams(extra);
  for (const name of ["lateAfter", "goneAfter"]) if (param(name)) query.set(name, param(name));
  return query.toString() ? `?${query}` : "";
}

// ---------------------------------------------------------------- formatting

export const DASH = "—";

/** Any untrusted value as short text: null as a dash, objects as JSON. */
export function show(value) {
  if (value === null || value === undefined) return DASH;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function fmtInt(value) {
  return typeof value === "number" && Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : DASH;
}

export function fmtNum(value, digits = 1) {
  return typeof value === "number" && Number.isFinite(value)
    ? value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 })
    : DASH;
}

/** A number in few characters (1.8M), for chart axes. */
export function fmtCompact(value) {
  return typeof value === "number" && Number.isFinite(value)
    ? value.toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 2 })
    : DASH;
}

export function fmtPercent(ratio) {
  return typeof ratio === "number" && Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)}%` : DASH;
}

export function fmtAge(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return DASH;
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export function fmtTime(unix) {
  if (typeof unix !== "number" || !Number.isFinite(unix)) return DASH;
  const date = new Date(unix * 1000);
  return date.toLocaleString("en-GB", { hour12: false });
}

export function fmtClock(unix) {
  return new Date(unix * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

// ---------------------------------------------------------------- connection

const connection = {
  lost: false,
  set(lost, why) {
    this.lost = lost;
    document.body.classList.toggle("disconnected", lost);
    const banner = document.getElementById("disconnected");
    if (banner) {
      banner.hidden = !lost;
      if (lost) banner.textContent = `Disconnected from the server (${why}); the figures below are not current. Retrying…`;
    }
  },
};

/** The server could not be reached at all (or did not answer in time). */
export class Disconnected extends Error {}

/** The server answered with an error status; `message` is its own error text. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function adminToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * Call the JSON API. State-changing methods carry the admin token as a
 * bearer header (never a cookie, so no other site can forge them).
 */
export async function api(path, { method = "GET", body, timeoutMs = 8000 } = {}) {
  const headers = { Accept: "application/json" };
  const token = adminToken();
  if (token && method !== "GET") headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  init.signal = controller.signal;
  let response;
  let text;
  try {
    response = await fetch(path, init);
    text = await response.text();
  } catch (error) {
    connection.set(true, error.name === "AbortError" ? "no answer in time" : "no connection");
    throw new Disconnected(String(error));
  } finally {
    clearTimeout(timer);
  }
  connection.set(false);
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data && (data.error || data.detail)) || response.statusText || "error";
    throw new ApiError(response.status, `${response.status}: ${show(message)}`, data);
  }
  return data;
}

/**
 * Note that the page has rendered, once the browser has laid it out and
 * painted it (tests and the benchmark wait on `body[data-rendered]`).
 */
export function markRendered() {
  requestAnimationFrame(() => setTimeout(() => { document.body.dataset.rendered = String(Date.now()); }, 0));
}

/** A message in the page's notice area (`kind`: "ok" or "error"). */
export function notice(text, kind = "error") {
  const area = document.getElementById("notice");
  if (!area) return;
  area.replaceChildren(el("p", { className: `notice ${kind}`, text, role: kind === "error" ? "alert" : "status" }));
}

/**
 * Run `task` now and again `REFRESH_MS` after each run ends (runs never
 * overlap). An API error is shown as a notice; a lost server shows the banner.
 */
export function poll(task) {
  let timer = null;
  const run = async () => {
    clearTimeout(timer);
    try {
      await task();
    } catch (error) {
      if (!(error instanceof Disconnected)) notice(error.message || String(error));
    } finally {
      timer = setTimeout(run, REFRESH_MS);
    }
  };
  run();
  return { refresh: run };
}

// ---------------------------------------------------------------- features

let documented = null;

/** Whether this server documents `METHOD path` in its /openapi.json (features that landed later). */
export async function hasRoute(method, path) {
  if (documented === null) {
    documented = api("/openapi.json").then((doc) => {
      const routes = new Set();
      for (const [route, operations] of Object.entries(doc.paths || {})) {
        for (const verb of Object.keys(operations)) routes.add(`${verb.toUpperCase()} ${route}`);
      }
      return routes;
    });
  }
  try {
    return (await documented).has(`${method} ${path}`);
  } catch (error) {
    documented = null;
    throw error;
  }
}

/** The honest line for data this server does not provide. */
export function unavailable(what) {
  return el("p", { className: "unavailable", text: `${what}: not available on this server.` });
}

// ---------------------------------------------------------------- page chrome

const PAGES = [
  ["index.html", "Overview"],
  ["fleet.html", "Fleet"],
  ["inference.html", "Inference"],
  ["jobs.html", "Jobs"],
  ["market.html", "Market"],
];

function loginForm() {
  const token = adminToken();
  if (token) {
    return el(
      "form",
      { id: "login", className: "login", onsubmit: (event) => {
        event.preventDefault();
        sessionStorage.removeItem(TOKEN_KEY);
        location.reload();
      } },
      el("span", { className: "admin-on", text: "Admin token set" }),
      el("button", { type: "submit", id: "logout", text: "Sign out" }),
    );
  }
  const input = el("input", {
    type: "password", id: "token", name: "token", placeholder: "admin token", autocomplete: "off", required: true,
  });
  return el(
    "form",
    { id: "login", className: "login", onsubmit: (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      location.reload();
    } },
    input,
    el("button", { type: "submit", id: "signin", text: "Sign in" }),
  );
}

/** The header (navigation, admin sign-in, the disconnected banner) of every page. */
export function chrome(active) {
  const nav = el("nav", {}, ...PAGES.map(([page, label]) => {
    const link = pageLink(page, {}, label);
    if (page === active) link.setAttribute("aria-current", "page");
    return link;
  }));
  const header = document.getElementById("top");
  header.replaceChildren(
    el("div", { className: "bar" }, el("strong", { className: "brand", text: "osrs console" }), nav, loginForm()),
    el("div", { id: "disconnected", className: "banner", role: "alert", hidden: true }),
  );
}

/** Run an admin action from `button`, reporting the outcome as a notice. */
export async function adminAction(button, what, call) {
  button.disabled = true;
  try {
    await call();
    notice(`${what}: done.`, "ok");
    return true;
  } catch (error) {
    const hint = error instanceof ApiError && (error.status === 401 || error.status === 403)
      ? " Sign in with the admin token."
      : "";
    notice(`${what} refused: ${error.message}.${hint}`);
    return false;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- tables

/** Tables with more rows than this, when windowed, keep only the rows in view in the DOM. */
const WINDOW_FROM = 200;
/** Rows drawn beyond each edge of the view. */
const OVERSCAN = 30;

/**
 * A sortable table. `columns`: [{label, value(row) → sort key, cell(row) →
 * Node or text, className}]. Rows are built into a DocumentFragment and
 * swapped in at once. A `windowed` table with thousands of rows draws only
 * those in view (and a margin), between two spacer rows of the right
 * height, and redraws as the page scrolls: the browser lays out tens of
 * rows, not thousands. `data-rows` on the table counts the rows shown.
 */
export class DataTable {
  constructor(columns, {
    empty = "Nothing to show.", rowKey, filter, sortBy = 0, descending = false, id, windowed = false,
  } = {}) {
    this.columns = columns;
    this.empty = empty;
    this.rowKey = rowKey;
    this.filter = filter;
    this.sortBy = sortBy;
    this.descending = descending;
    this.rows = [];
    this.head = el("tr");
    this.body = el("tbody");
    this.element = el("table", { className: windowed ? "data windowed" : "data", id }, el("thead", {}, this.head), this.body);
    this.windowed = windowed;
    this.ordered = [];
    this.rowHeight = 0;
    if (windowed) {
      let pending = false;
      const redraw = () => {
        if (pending || this.ordered.length <= WINDOW_FROM) return;
        pending = true;
        requestAnimationFrame(() => { pending = false; this.draw(); });
      };
      window.addEventListener("scroll", redraw, { passive: true });
      window.addEventListener("resize", redraw, { passive: true });
    }
    columns.forEach((column, index) => {
      const th = el("th", { scope: "col", className: column.className }, el("button", {
        type: "button", text: column.label, onclick: () => this.sortOn(index),
      }));
      this.head.append(th);
    });
  }

  sortOn(index) {
    this.descending = this.sortBy === index ? !this.descending : false;
    this.sortBy = index;
    this.render();
  }

  setRows(rows) {
    this.rows = rows;
    this.render();
  }

  render() {
    const column = this.columns[this.sortBy];
    const direction = this.descending ? -1 : 1;
    const rows = (this.filter ? this.rows.filter(this.filter) : this.rows.slice());
    if (column && column.value) {
      const keyed = rows.map((row) => [column.value(row), row]);
      keyed.sort((a, b) => direction * compare(a[0], b[0]));
      rows.splice(0, rows.length, ...keyed.map((pair) => pair[1]));
    }
    Array.from(this.head.children).forEach((th, index) => {
      th.setAttribute("aria-sort", index === this.sortBy ? (this.descending ? "descending" : "ascending") : "none");
    });
    this.ordered = rows;
    this.element.dataset.rows = String(rows.length);
    this.draw();
  }

  /** Put the ordered rows (or, windowed, those in view) into the DOM. */
  draw() {
    const rows = this.ordered;
    let first = 0;
    let last = rows.length;
    const fragment = document.createDocumentFragment();
    const windowing = this.windowed && rows.length > WINDOW_FROM;
    if (windowing) {
      const height = this.rowHeight || 30;
      const top = this.body.getBoundingClientRect().top;
      first = Math.max(0, Math.floor(-top / height) - OVERSCAN);
      last = Math.min(rows.length, first + Math.ceil(window.innerHeight / height) + 2 * OVERSCAN);
      fragment.append(this.spacer(first * height));
    }
    for (let index = first; index < last; index += 1) fragment.append(this.tr(rows[index]));
    if (windowing) fragment.append(this.spacer((rows.length - last) * (this.rowHeight || 30)));
    if (!rows.length) {
      fragment.append(el("tr", {}, el("td", { colspan: this.columns.length, className: "empty", text: this.empty })));
    }
    this.body.replaceChildren(fragment);
    if (windowing && !this.rowHeight && last > first) {
      this.rowHeight = this.body.children[1].getBoundingClientRect().height || 30;
      this.draw();
    }
  }

  spacer(height) {
    const td = el("td", { colspan: this.columns.length });
    td.style.height = `${height}px`;
    return el("tr", { className: "spacer", "aria-hidden": "true" }, td);
  }

  tr(row) {
    const tr = document.createElement("tr");
    if (this.rowKey) tr.dataset.key = this.rowKey(row);
    for (const col of this.columns) {
      const td = document.createElement("td");
      if (col.className) td.className = col.className;
      const content = col.cell(row);
      if (content instanceof Node) td.append(content);
      else td.textContent = content === null || content === undefined ? DASH : String(content);
      tr.append(td);
    }
    return tr;
  }
}

const collator = new Intl.Collator("en", { numeric: true });

/** Nulls last, numbers by value, everything else as text. */
function compare(a, b) {
  const aMissing = a === null || a === undefined || Number.isNaN(a);
  const bMissing = b === null || b === undefined || Number.isNaN(b);
  if (aMissing || bMissing) return aMissing === bMissing ? 0 : aMissing ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return collator.compare(String(a), String(b));
}

/** A status word as a coloured badge (`kind` picks the colour class). */
export function badge(text, kind = text) {
  return el("span", { className: `badge ${kind}`, text });
}

/** Label/value pairs as a definition list. */
export function facts(pairs) {
  return el("dl", { className: "facts" }, ...pairs.flatMap(([label, value]) => [
    el("dt", { text: label }),
    el("dd", {}, value instanceof Node ? value : show(value)),
  ]));
}

/** Any JSON value from a feature whose shape this page does not know: a table or a list of facts. */
export function generic(value) {
  if (Array.isArray(value) && value.length && value.every((row) => row && typeof row === "object")) {
    const keys = [...new Set(value.flatMap((row) => Object.keys(row)))];
    const table = new DataTable(keys.map((key) => ({ label: key, value: (row) => row[key], cell: (row) => show(row[key]) })));
    table.setRows(value);
    return table.element;
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return facts(Object.entries(value));
  }
  return el("p", { text: show(value) });
}

// ---------------------------------------------------------------- charts

const CHART = { width: 640, height: 200, left: 56, right: 12, top: 12, bottom: 28 };

function niceTicks(low, high, count) {
  if (low === high) {
    const pad = Math.abs(low) * 0.1 || 1;
    if (low !== 0) low -= pad;
    high += pad;
  }
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
  const first = Math.floor(low / step) * step;
  const ticks = [];
  for (let v = first; v <= high + step * 0.5; v += step) ticks.push(v);
  return ticks;
}

/**
 * Draw `series` ([{label, kind: "line"|"bars", className, points: [[x, y]]}],
 * null y values left out) into the <svg> element `target`, x as Unix time.
 * Each line is one <polyline> whose `data-points` is its number of points.
 */
export function chart(target, series, { yFormat = fmtCompact, yMin } = {}) {
  const { width, height, left, right, top, bottom } = CHART;
  target.setAttribute("viewBox", `0 0 ${width} ${height}`);
  target.setAttribute("class", "chart");
  target.setAttribute("preserveAspectRatio", "none");
  const plotted = series.map((s) => ({ ...s, points: s.points.filter((p) => typeof p[1] === "number" && Number.isFinite(p[1])) }));
  const all = plotted.flatMap((s) => s.points);
  target.replaceChildren();
  if (!all.length) {
    target.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "nodata" }, "no data yet"));
    return;
  }
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const ticks = niceTicks(yMin === undefined ? Math.min(...ys) : Math.min(yMin, ...ys), Math.max(...ys), 4);
  const y0 = ticks[0];
  const y1 = ticks[ticks.length - 1];
  const sx = (x) => left + ((x - x0) / (x1 - x0)) * (width - left - right);
  const sy = (y) => top + (1 - (y - y0) / (y1 - y0 || 1)) * (height - top - bottom);
  const grid = svg("g", { class: "grid" });
  for (const tick of ticks) {
    grid.append(svg("line", { x1: left, x2: width - right, y1: sy(tick), y2: sy(tick) }));
    grid.append(svg("text", { x: left - 6, y: sy(tick) + 4, "text-anchor": "end" }, yFormat(tick)));
  }
  grid.append(svg("text", { x: left, y: height - 8, "text-anchor": "start" }, fmtClock(x0)));
  grid.append(svg("text", { x: width - right, y: height - 8, "text-anchor": "end" }, fmtClock(x1)));
  target.append(grid);
  plotted.forEach((s, index) => {
    const className = `series s${index} ${s.className || ""}`.trim();
    if (s.kind === "bars") {
      const group = svg("g", { class: className, "data-points": s.points.length });
      const slot = (width - left - right) / Math.max(s.points.length, 1);
      const barWidth = Math.max(1, slot * 0.7);
      for (const [x, y] of s.points) {
        const yTop = sy(Math.max(y, y0));
        group.append(svg("rect", { x: sx(x) - barWidth / 2, y: yTop, width: barWidth, height: Math.max(0, sy(y0) - yTop) }));
      }
      target.append(group);
    } else {
      target.append(svg("polyline", {
        class: className,
        "data-points": s.points.length,
        points: s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "),
      }));
    }
  });
}

/** A chart with its title and a legend naming each series. */
export function chartBox(title, id, labels) {
  return el(
    "figure",
    { className: "chart-box" },
    el("figcaption", { text: title }),
    svg("svg", { id, class: "chart", role: "img", "aria-label": title }),
    el("ul", { className: "legend" }, ...labels.map((label, index) => el("li", { className: `s${index}`, text: label }))),
  );
}

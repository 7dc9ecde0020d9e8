/* The assessment page (考核): headline figures with the previous period, the ranking, the
 * daily trend (ECharts), the map coloured by any figure (Leaflet), every number a link
 * to the events behind it. All figures come from /api/stats…; nothing is computed here
 * but the order of a ranking and a colour.
 *
 * No inline script: the configuration is the body's data-config attribute.
 */

import { h, api } from "./common.js";

const cfg = JSON.parse(document.body.dataset.config);
const t = cfg.labels;
const $ = (id) => document.getElementById(id);
const AREA_GROUPS = new Set(["township", "community", "grid"]);
const COUNTS = new Set(["received", "open", "closed", "closed_on_time", "closed_late", "overdue", "open_overdue", "merged", "returned", "visited", "responded", "responded_on_time", "satisfied", "assessed"]);
// A rate's events are its numerator's.
const RATE_EVENTS = {
  on_time_rate: "closed_on_time",
  closure_rate: "closed",
  overdue_rate: "overdue",
  response_on_time_rate: "responded_on_time",
  visit_rate: "visited",
  satisfied_rate: "satisfied",
  returned_rate: "returned",
  satisfaction: "visited",
  response_median_hours: "responded",
  handling_median_hours: "closed",
};
// The field work (patrols, household visits): their cells open the patrol or visit
// ledger of the unit (an area) rather than a list of events.
const FIELD = new Set(cfg.field || []);
const FIELD_LEDGER = { patrols: "patrols", patrols_required: "patrols", patrol_days_met: "patrols", patrol_days_required: "patrols", patrol_rate: "patrols", patrol_km: "patrols", household_visits: "visits" };
const S = { answer: null, series: null, chart: null, map: null, areaLayer: null, areas: new Map(), areaLayerName: null };

// ------------------------------------------------------------------ formatting

function isRate(name) {
  return /_rate$/.test(name);
}
function fmt(name, v) {
  if (v === null || v === undefined) return "–";
  if (isRate(name)) return `${(v * 100).toFixed(1)}%`;
  if (/_hours$/.test(name)) return v.toFixed(1);
  if (name === "satisfaction" || name === "patrol_km") return v.toFixed(name === "patrol_km" ? 1 : 2);
  return String(v);
}
function label(name) {
  return t[`m_${name}`] || name;
}

function query(extra) {
  const q = new URLSearchParams();
  const period = $("st-period").value;
  q.set("period", period);
  if (period === "custom") {
    q.set("from", $("st-from").value);
    q.set("to", $("st-to").value);
  }
  if ($("st-area").value) q.set("area", $("st-area").value);
  for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== undefined) q.set(k, v);
  return q;
}

function status(text) {
  $("st-status").textContent = text || "";
}

// ------------------------------------------------------------------ loading

async function refresh() {
  const period = $("st-period").value;
  $("st-custom").hidden = period !== "custom";
  if (period === "custom" && (!$("st-from").value || !$("st-to").value)) return;
  status(t.loading);
  const by = $("st-by").value;
  if (window.L) layerFeatures(AREA_GROUPS.has(by) ? by : "township").catch(() => {});
  try {
    const [answer, series] = await Promise.all([
      api(`/api/stats?${query({ by, compare: "true" })}`),
      api(`/api/stats/series?${query({ interval: "day" })}`),
    ]);
    S.answer = answer;
    S.series = series;
    const p = answer.period;
    $("st-period-text").textContent = p.from ? `${p.from} – ${p.to}` : "";
    drawCards(answer.total);
    // The chart before the tables: ECharts measures the page when it draws, and with a
    // county's 3,900 rows by grid already in it, that forced their layout (~2 s).
    drawChart(series.points);
    drawRanking(answer.rows);
    await drawMap(answer.rows);
    status("");
    document.body.dataset.loaded = String(Date.now());
  } catch (err) {
    status(`${t.error}: ${err.message}`);
  }
  updateExports();
}

// ------------------------------------------------------------------ drill-down

function drillLink(text, figure, by) {
  // Opened by one listener on the page (openDrill): a county's table by grid has ~90,000
  // such links, and a listener each took seconds to attach.
  return h("a", { href: "#", className: "st-num", dataset: { figure, drill: by ? "row" : "total" } }, text);
}

function openDrill(e) {
  const a = e.target.closest("a.st-num[data-drill]");
  if (!a) return;
  e.preventDefault();
  if (a.dataset.drill === "total") {
    drill(a.dataset.figure, null, null, a.textContent);
    return;
  }
  // A row's link: its table's grouping, its row's key ("" for the row of no key).
  const key = a.closest("tr").dataset.key;
  drill(a.dataset.figure, a.closest("table").dataset.by, key === "" ? null : key, a.textContent);
}

function fieldLink(text, figure, by, key) {
  // An area's (or the whole scope's) patrols or visits: that ledger, as a page.
  const area = by && AREA_GROUPS.has(by) ? key : null;
  if (by && !area) return text;
  const q = query({ f: "html", lang: cfg.lang });
  if (area) q.set("area", area);
  return h("a", { href: `/api/ledgers/${FIELD_LEDGER[figure]}?${q}`, target: "_blank", className: "st-num", dataset: { figure } }, text);
}

function cell(name, v, by, key) {
  if (FIELD.has(name)) return fieldLink(fmt(name, v), name, by, key);
  const figure = COUNTS.has(name) ? name : RATE_EVENTS[name];
  return figure ? drillLink(fmt(name, v), figure, by) : fmt(name, v);
}

async function drill(figure, by, key, shown) {
  const extra = { figure, limit: "500" };
  if (by) extra.by = by;
  if (by && key !== null && key !== undefined) extra.key = key;
  const body = await api(`/api/stats/events?${query(extra)}`);
  const who = by ? ` · ${cfg.groups[by]} ${key === null ? t.unplaced : nameOf(by, key)}` : "";
  $("st-drill-title").textContent = `${t.events_behind}: ${label(figure)}${who} (${t.count_total.replace("{n}", body.count)})`;
  const head = h("tr", {}, ["ID", t.received_at, t.category, t.place, t.team, t.status, label("overdue"), label("satisfaction")].map((c) => h("th", {}, c)));
  const rows = body.events.map((e) =>
    h(
      "tr",
      { dataset: { eventId: e.id } },
      h("td", {}, h("a", { href: `/?q=${encodeURIComponent("#" + e.id)}`, title: t.open_in_map }, `#${e.id}`)),
      h("td", {}, e.received_at ? e.received_at.slice(0, 16).replace("T", " ") : ""),
      h("td", {}, e.category_code),
      h("td", {}, e.grid_code || e.community_code || e.township_code || t.unplaced),
      h("td", {}, e.team || ""),
      h("td", {}, e.status),
      h("td", {}, e.overdue ? "⚠" : ""),
      h("td", {}, e.satisfaction === null ? "" : String(e.satisfaction))
    )
  );
  $("st-drill-table").replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
  $("st-drill").hidden = false;
}

function nameOf(by, key) {
  const row = ((S.answer && S.answer.rows) || []).find((r) => r.key === key);
  return (row && row.name) || key;
}

// ------------------------------------------------------------------ cards

function drawCards(total) {
  const names = ["received", "closed", "on_time_rate", "overdue_rate", "open_overdue", "response_median_hours", "handling_median_hours", "satisfaction", "visit_rate", "returned_rate", "merged", "patrols", "patrol_rate", "patrol_km", "household_visits"];
  const cards = names.map((n) => {
    const v = total[n];
    const prev = total.previous ? total.previous[n] : null;
    let shown = cell(n, v, null, null);
    // Patrols against the rule: done / due (一日双巡).
    if (n === "patrols" && total.patrols_required !== null && total.patrols_required !== undefined) shown = h("span", {}, shown, ` / ${fmt("patrols_required", total.patrols_required)}`);
    const value = h("div", { className: "st-card-v" }, shown);
    let delta = null;
    if (prev !== null && prev !== undefined && v !== null && v !== undefined) {
      const d = v - prev;
      const arrow = d > 0 ? "▲" : d < 0 ? "▼" : "＝";
      delta = h("div", { className: "st-card-p" }, `${t.previous} ${fmt(n, prev)} ${arrow}`);
    } else if (total.previous) {
      delta = h("div", { className: "st-card-p" }, `${t.previous} ${fmt(n, prev)}`);
    }
    return h("div", { className: "st-card", dataset: { figure: n } }, value, h("div", { className: "st-card-l" }, label(n)), delta);
  });
  $("st-cards").replaceChildren(...cards);
}

// ------------------------------------------------------------------ ranking

function ranked(rows) {
  const metric = $("st-metric").value;
  const way = cfg.metrics[metric];
  const usable = rows.filter((r) => r.key !== null && r[metric] !== null && r[metric] !== undefined);
  usable.sort((a, b) => (way === "low" ? a[metric] - b[metric] : b[metric] - a[metric]) || (b.received - a.received));
  return usable;
}

const TABLE_COLS = ["received", "closed", "closed_on_time", "on_time_rate", "overdue", "overdue_rate", "open_overdue", "response_median_hours", "response_p90_hours", "handling_median_hours", "handling_p90_hours", "satisfaction", "visit_rate", "returned_rate", "merged"];
const FIELD_COLS = ["patrols", "patrols_required", "patrol_days_met", "patrol_days_required", "patrol_rate", "patrol_km", "household_visits"];

function tableCols(by) {
  return (cfg.fieldGroups || []).includes(by) ? [...TABLE_COLS, ...FIELD_COLS] : TABLE_COLS;
}

function tableRow(r, rank, cols, by) {
  return h(
    "tr",
    { dataset: { key: r.key === null ? "" : r.key } },
    h("td", {}, rank === null ? "" : String(rank)),
    h("td", {}, r.name || r.key || t.unplaced),
    cols.map((c) => h("td", { dataset: { col: c } }, cell(c, r[c], by, r.key)))
  );
}

function table(el, rows, cols, by, start) {
  const head = h("tr", {}, h("th", {}, "#"), h("th", {}, cfg.groups[by]), cols.map((c) => h("th", {}, label(c))));
  el.dataset.by = by;
  el.replaceChildren(h("thead", {}, head), h("tbody", {}, rows.map((r, i) => tableRow(r, start === null ? null : start(i), cols, by))));
}

// The table of all units is drawn ALL_STEP rows at a time, more as it is scrolled: a
// county's 3,900 grids with 22 figures each took the browser ~2.6 s to lay out at once.
const ALL_STEP = 200;

function drawAll(rows, by) {
  S.all = { rows, by, cols: tableCols(by), shown: 0 };
  table($("st-all"), [], S.all.cols, by, null);
  moreOfAll();
}

function moreOfAll() {
  const all = S.all;
  if (!all || all.shown >= all.rows.length) return;
  const next = all.rows.slice(all.shown, all.shown + ALL_STEP);
  $("st-all").tBodies[0].append(...next.map((r) => tableRow(r, null, all.cols, all.by)));
  all.shown += next.length;
  $("st-all").dataset.shown = `${all.shown}/${all.rows.length}`;
  $("st-all-count").textContent = `(${all.rows.length})`;
}

function onAllScroll(e) {
  const box = e.currentTarget;
  if (box.scrollTop + box.clientHeight > box.scrollHeight - 300) moreOfAll();
}

function drawRanking(rows) {
  const by = $("st-by").value;
  const metric = $("st-metric").value;
  const order = ranked(rows);
  const cols = [metric, ...["received", "overdue", "on_time_rate"].filter((c) => c !== metric)];
  const n = Math.min(10, order.length);
  table($("st-best"), order.slice(0, n), cols, by, (i) => i + 1);
  const worst = order.slice(-n).reverse();
  table($("st-worst"), worst, cols, by, (i) => order.length - i);
  drawAll(rows, by);
}

// ------------------------------------------------------------------ trend chart

function drawChart(points) {
  if (!window.echarts) return;
  if (!S.chart) {
    S.chart = window.echarts.init($("st-chart"), null, { renderer: "canvas" });
    window.addEventListener("resize", () => S.chart.resize());
    S.chart.on("click", (p) => {
      // A day's bar: the events received that day (as a one-day custom period).
      const day = points[p.dataIndex] && S.series.points[p.dataIndex].day;
      if (!day) return;
      const figure = { 0: "received", 1: "closed", 2: "closed_on_time", 3: "closed_on_time" }[p.seriesIndex] || "received";
      drillDay(day, figure);
    });
  }
  S.chart.setOption(
    {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { data: [label("received"), label("closed"), label("closed_on_time"), label("on_time_rate")] },
      grid: { left: 40, right: 48, top: 36, bottom: 28 },
      xAxis: { type: "category", data: points.map((p) => p.day.slice(5)) },
      yAxis: [
        { type: "value", minInterval: 1 },
        { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      ],
      series: [
        { name: label("received"), type: "bar", data: points.map((p) => p.received) },
        { name: label("closed"), type: "bar", data: points.map((p) => p.closed) },
        { name: label("closed_on_time"), type: "line", data: points.map((p) => p.closed_on_time) },
        { name: label("on_time_rate"), type: "line", yAxisIndex: 1, data: points.map((p) => (p.on_time_rate === null ? null : Number((p.on_time_rate * 100).toFixed(1)))) },
      ],
    },
    true
  );
  $("st-chart").dataset.points = String(points.length);
}

async function drillDay(day, figure) {
  const saved = [$("st-period").value, $("st-from").value, $("st-to").value];
  $("st-period").value = "custom";
  $("st-from").value = day;
  $("st-to").value = day;
  try {
    await drill(figure, null, null);
  } finally {
    [$("st-period").value, $("st-from").value, $("st-to").value] = saved;
  }
}

// ------------------------------------------------------------------ the map

async function areaFeatures(layer) {
  const features = [];
  let url = `/ogc/collections/${encodeURIComponent(layer)}/items?limit=5000`;
  while (url && features.length < 20000) {
    const fc = await api(url);
    features.push(...((fc && fc.features) || []));
    const next = ((fc && fc.links) || []).find((l) => l.rel === "next");
    url = next ? next.href : null;
  }
  return features;
}

// A layer's polygons, fetched once (the promise kept: refresh starts the fetch beside
// the figures', the map awaits it).
function layerFeatures(layer) {
  if (!S.areas.has(layer)) {
    const fetching = areaFeatures(layer);
    S.areas.set(layer, fetching);
    fetching.catch(() => S.areas.delete(layer));
  }
  return S.areas.get(layer);
}

const COLOURS_GOOD_HIGH = ["#b91c1c", "#f97316", "#facc15", "#84cc16", "#15803d"];

function colourFor(metric, v, lo, hi) {
  if (v === null || v === undefined) return "#cbd5e1";
  const way = cfg.metrics[metric];
  let x = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  if (way === "low") x = 1 - x;
  const scale = way === "none" ? ["#eff6ff", "#bfdbfe", "#60a5fa", "#2563eb", "#1e3a8a"] : COLOURS_GOOD_HIGH;
  return scale[Math.min(4, Math.max(0, Math.floor(x * 5)))];
}

async function drawMap(rows) {
  const by = $("st-by").value;
  const metric = $("st-metric").value;
  $("st-map-metric").textContent = `· ${label(metric)}`;
  if (!window.L) return;
  if (!S.map) {
    S.map = window.L.map("st-map", { zoomControl: true, attributionControl: false });
    if (cfg.tileUrl) window.L.tileLayer(cfg.tileUrl).addTo(S.map);
    S.map.setView([35.8, 112.9], 9);
  }
  const layer = AREA_GROUPS.has(by) ? by : "township";
  if (S.areaLayerName !== layer) {
    const features = await layerFeatures(layer);
    if (S.areaLayer) S.areaLayer.remove();
    S.areaLayer = window.L.geoJSON({ type: "FeatureCollection", features }, { style: { weight: 1, color: "#334155", fillOpacity: 0.7 } }).addTo(S.map);
    S.areaLayerName = layer;
    S.fitted = false;
  }
  // Grouped by something that is not an area: colour the townships by it.
  const byKey = new Map();
  const source = AREA_GROUPS.has(by) ? rows : (S.townshipRows = await townshipRows());
  for (const r of source) if (r.key) byKey.set(r.key, r);
  const values = [...byKey.values()].map((r) => r[metric]).filter((v) => v !== null && v !== undefined);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  let coloured = 0;
  S.areaLayer.eachLayer((l) => {
    const p = l.feature.properties || {};
    const r = byKey.get(p.code);
    const v = r ? r[metric] : null;
    if (v !== null && v !== undefined) coloured += 1;
    l.setStyle({ fillColor: colourFor(metric, v, lo, hi) });
    l.unbindTooltip();
    l.bindTooltip(`${p.name || p.code}: ${fmt(metric, v)}`, { sticky: true });
    l.off("click");
    if (r) l.on("click", () => drill(RATE_EVENTS[metric] || (COUNTS.has(metric) ? metric : "received"), layer, p.code));
  });
  if (!S.fitted) {
    // The units with figures: a township's grids, not the whole county around them.
    const withRows = window.L.latLngBounds([]);
    S.areaLayer.eachLayer((l) => {
      if (byKey.has((l.feature.properties || {}).code)) withRows.extend(l.getBounds());
    });
    const b = withRows.isValid() ? withRows : S.areaLayer.getBounds();
    if (b.isValid()) S.map.fitBounds(b, { padding: [10, 10] });
    S.fitted = true;
  }
  $("st-map").dataset.coloured = String(coloured);
  $("st-legend").replaceChildren(
    values.length ? h("span", {}, `${fmt(metric, lo)} – ${fmt(metric, hi)}`) : h("span", {}, t.no_data)
  );
}

async function townshipRows() {
  const body = await api(`/api/stats?${query({ by: "township" })}`);
  return body.rows;
}

// ------------------------------------------------------------------ areas and exports

async function fillAreas() {
  try {
    const fc = await api("/ogc/collections/township/items?limit=1000");
    const opts = ((fc && fc.features) || [])
      .map((f) => f.properties || {})
      .sort((a, b) => String(a.code).localeCompare(String(b.code)))
      .map((p) => h("option", { value: p.code }, p.name || p.code));
    $("st-area").append(...opts);
  } catch (err) {
    status(`${t.error}: ${err.message}`);
  }
}

function updateExports() {
  for (const a of document.querySelectorAll(".st-export")) {
    const kind = a.dataset.ledger;
    const q = query({ f: a.dataset.format || "html", lang: cfg.lang });
    if (kind === "weekly") q.set("by", $("st-by").value);
    a.href = `/api/ledgers/${kind}?${q}`;
    if (kind === "weekly") a.target = "_blank";
  }
}

function start() {
  const today = new Date().toISOString().slice(0, 10);
  $("st-to").value = today;
  for (const id of ["st-period", "st-area", "st-by"]) $(id).addEventListener("change", refresh);
  $("st-metric").addEventListener("change", async () => {
    if (S.answer) {
      drawRanking(S.answer.rows);
      await drawMap(S.answer.rows);
    }
  });
  $("st-apply").addEventListener("click", refresh);
  for (const id of ["st-cards", "st-best", "st-worst", "st-all"]) $(id).addEventListener("click", openDrill);
  $("st-all").parentElement.addEventListener("scroll", onAllScroll);
  $("st-drill-close").addEventListener("click", () => {
    $("st-drill").hidden = true;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") $("st-drill").hidden = true;
  });
  fillAreas();
  refresh();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();

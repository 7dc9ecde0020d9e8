/* The header counters where the service has no work queues (the queues' answer carries
 * them otherwise: queues.js): /api/stats totals, else counted from the loaded events. */

import { api } from "../common.js";
import { debounce } from "../page.js";
import { OPEN, S, has } from "./state.js";
import { windowStart } from "./events_layer.js";

/** Totals of /api/stats (rows per township, summed): null when it says nothing usable. */
export async function statsTotals(since) {
  const q = since ? `?${new URLSearchParams({ since: since.toISOString() })}` : "";
  const body = await api(`/api/stats${q}`);
  const rows = body && (body.rows || body.items || (Array.isArray(body) ? body : null));
  if (!rows) return null;
  const sum = {};
  for (const n of ["received", "open", "open_overdue", "closed_on_time"]) sum[n] = rows.reduce((acc, r) => acc + (Number(r[n]) || 0), 0);
  return sum;
}

export async function statsCounters() {
  // Received and closed on time count today; open and overdue (still open, past a
  // deadline: what needs attention now) count whenever received.
  const [today, all] = await Promise.all([statsTotals(windowStart("today")), statsTotals(null)]);
  if (!today || !all) return null;
  return { received: today.received, closed_on_time: today.closed_on_time, open: all.open, overdue: all.open_overdue };
}

export function countLocally() {
  const today = windowStart("today");
  const c = { received: 0, open: 0, overdue: 0, closed_on_time: 0 };
  for (const ev of S.events.values()) {
    const p = ev.p;
    const at = new Date(p.received_at || p.reported_at || 0);
    if (at >= today) c.received += 1;
    if (OPEN.has(p.status)) c.open += 1;
    if (p.overdue && OPEN.has(p.status)) c.overdue += 1;
    if ((p.status === "closed" || p.status === "archived") && !p.overdue && p.closed_at && new Date(p.closed_at) >= today) c.closed_on_time += 1;
  }
  return c;
}

export const refreshCounters = debounce(async () => {
  // The work queues' answer carries the counters, under the same filters (queues.js).
  if (has("queues")) return;
  let c = null;
  if (has("stats")) {
    try {
      c = await statsCounters();
    } catch (err) {
      c = null;
    }
  }
  c = c || countLocally();
  for (const node of document.querySelectorAll("[data-counter]")) {
    const v = c[node.dataset.counter];
    node.querySelector(".gm-counter-value").textContent = typeof v === "number" ? String(v) : "–";
  }
}, 400);

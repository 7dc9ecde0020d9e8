/* The work queues (待办) beside the map, and the header counters: one request
 * (GET /api/queues) under the page's filters and the user's jurisdiction, made again
 * whenever the live stream says something changed. Each row is one click from its event
 * (brought into view, its panel opened); an alerted event not yet acknowledged is pinned
 * at the top of its queue. */

import { h, latest, aborted, errorText, fill } from "./common.js";

const QUEUE_ROWS = 50; // rows per queue at first
const QUEUE_ROWS_STEP = 100; // more on request
const QUEUE_ROWS_MAX = 500; // GET /api/queues gives at most this many

export class Queues {
  constructor(view, { alertPriorities, onAlerts }) {
    this.view = view;
    this.cfg = view.config();
    this.t = this.cfg.labels;
    this.alertPriorities = alertPriorities; // () => the priorities that alert
    this.onAlerts = onAlerts; // (alerts) => void
    this.body = null;
    this.open = null; // the queue shown expanded
    this.pinned = new Map(); // event id -> alert row
    this.timer = null;
    this.limit = QUEUE_ROWS; // rows per queue: more on request, up to what the API gives
    this.list = document.getElementById("gm-queue-list");
  }

  /** The last answer, for tests and the other modules. */
  get answer() {
    return this.body;
  }

  query() {
    const f = this.view.filters();
    const now = new Date();
    const q = new URLSearchParams({ limit: String(this.limit) });
    q.set("today", new Date(now.getFullYear(), now.getMonth(), now.getDate()).toISOString());
    if (f.priority) q.set("priority", f.priority);
    if (f.category) q.set("category", f.category);
    if (f.township) q.set("area", f.township);
    q.set("alert", this.alertPriorities().join(","));
    return q;
  }

  /** Reload soon: many messages in a burst make one request. */
  soon(ms = 250) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), ms);
  }

  async load() {
    const request = latest("queues");
    let body = null;
    try {
      body = await request.api(`/api/queues?${this.query()}`);
    } catch (err) {
      if (!aborted(err)) this.view.showToast(`${this.t.queues}: ${errorText(err, this.t)}`, "error");
      return;
    }
    request.done();
    this.body = body;
    this.pinned = new Map((body.alerts || []).map((a) => [String(a.id), a]));
    this.renderCounters(body.counters || {});
    this.render();
    this.onAlerts(body.alerts || []);
    document.getElementById("gm-queues").dataset.loaded = "true";
  }

  renderCounters(counters) {
    for (const node of document.querySelectorAll("[data-counter]")) {
      const v = counters[node.dataset.counter];
      node.querySelector(".gm-counter-value").textContent = typeof v === "number" ? String(v) : "–";
    }
  }

  /** Open queue `name` (a header counter's click): expanded and scrolled into view. */
  show(name) {
    this.open = name;
    this.render();
    const section = this.list.querySelector(`[data-queue="${CSS.escape(name)}"]`);
    if (section) section.scrollIntoView({ block: "nearest" });
  }

  /** More rows in each queue (an event past the first rows is still found from its queue). */
  more() {
    this.limit = Math.min(QUEUE_ROWS_MAX, this.limit + QUEUE_ROWS_STEP);
    this.soon(0);
  }

  /** Forget a pinned alert (acknowledged): its row goes back to its deadline's place. */
  unpin(id) {
    this.pinned.delete(String(id));
    this.render();
  }

  rowsOf(queue) {
    const pinnedHere = [];
    for (const a of this.pinned.values()) {
      // The queue an event's state puts it in, as the server says (cfg.constants).
      const home = a.reason === "overdue" ? "overdue" : this.cfg.constants.stateQueues[a.status];
      if (home === queue.name) pinnedHere.push(a);
    }
    const pinnedIds = new Set(pinnedHere.map((a) => String(a.id)));
    return [...pinnedHere.map((a) => ({ ev: a, pinned: true })), ...queue.events.filter((e) => !pinnedIds.has(String(e.id))).map((ev) => ({ ev, pinned: false }))];
  }

  when(ev) {
    const t = this.t;
    const time = (iso) => new Date(iso).toLocaleString(this.cfg.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
    if (ev.status === "closed" && ev.closed_at) return fill(t.queue_closed, { time: time(ev.closed_at) });
    const awaiting = this.cfg.constants.awaitingResponse.includes(ev.status);
    const due = (awaiting && ev.response_due_at) || ev.due_at;
    if (ev.overdue) return t.queue_overdue_by;
    return due ? fill(t.queue_due, { time: time(due) }) : "";
  }

  row({ ev, pinned }) {
    const t = this.t;
    const go = () => this.view.goToEvent(String(ev.id), ev.lat !== null && ev.lon !== null ? L.latLng(ev.lat, ev.lon) : null);
    return h(
      "li",
      { className: `gm-queue-row${pinned ? " is-pinned" : ""}${ev.overdue ? " is-overdue" : ""}`, dataset: { eventId: String(ev.id), priority: ev.priority } },
      h(
        "button",
        { type: "button", className: "gm-link gm-queue-open", onclick: go, title: pinned ? t.queue_pinned : null },
        h("span", { className: `gm-badge priority-${ev.priority}` }, t[`priority_${ev.priority}`] || ""),
        ` #${ev.id} ${this.view.categoryName(ev.category)}`,
      ),
      h("span", { className: "gm-queue-when" }, this.when(ev)),
      ev.lat === null ? h("span", { className: "gm-muted" }, ` ${t.queue_no_place}`) : null,
    );
  }

  render() {
    if (!this.body) return;
    const t = this.t;
    const queues = this.body.queues || [];
    if (!this.open) {
      const first = queues.find((q) => q.count > 0);
      this.open = first ? first.name : queues.length ? queues[0].name : null;
    }
    this.list.replaceChildren(
      ...queues.map((q) => {
        const expanded = q.name === this.open;
        const rows = expanded ? this.rowsOf(q) : [];
        const more = q.count - q.events.length;
        return h(
          "section",
          { className: `gm-queue${expanded ? " is-open" : ""}${q.count ? "" : " is-empty"}`, dataset: { queue: q.name, count: String(q.count) } },
          h(
            "button",
            { type: "button", className: "gm-queue-head", "aria-expanded": expanded ? "true" : "false", onclick: () => this.show(q.name) },
            h("span", {}, t[`queue_${q.name}`]),
            h("span", { className: "gm-queue-count" }, String(q.count)),
          ),
          expanded
            ? rows.length
              ? h("ol", { className: "gm-queue-rows" }, rows.map((r) => this.row(r)))
              : h("p", { className: "gm-muted" }, t.queue_empty)
            : null,
          expanded && more > 0
            ? h(
                "p",
                { className: "gm-muted gm-queue-more-line" },
                fill(t.queue_more, { n: more }),
                // An event past the rows shown is still one click away: more rows.
                this.limit < QUEUE_ROWS_MAX
                  ? h("button", { type: "button", className: "gm-link gm-queue-more", onclick: () => this.more() }, fill(t.queue_show_more, { n: Math.min(more, QUEUE_ROWS_STEP) }))
                  : null,
              )
            : null,
        );
      }),
    );
  }
}

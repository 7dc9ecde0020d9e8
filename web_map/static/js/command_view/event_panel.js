/* The event's panel: what it is, where, whose, both clocks, photos and timeline, and the
 * actions its state allows (actions.js). */

import { h, api } from "../common.js";
import { $ } from "../page.js";
import { map, cfg, t, S, has, L_, failure, known, categoryName, areaLabel } from "./state.js";
import { pick, maskPhone, fmtTime, fmtDuration } from "./format.js";
import { runAction, actionForm, revealButton, typedInputs, restoreInputs } from "./actions.js";
import { openPanel, row, badge } from "./panel.js";
import { goToEvent } from "./search.js";
import { placeSection } from "./triage.js";

let countdownTimer = null;

/** The panel's clocks stop ticking (it closed). */
export function stopCountdown() {
  clearInterval(countdownTimer);
}

export function chainRows(ev, routing) {
  const r = routing || {};
  return [
    row(L_("grid"), areaLabel(pick(ev, "grid") || pick(r, "grid") || ev.grid_code, "grid")),
    row(L_("community"), areaLabel(pick(ev, "community") || pick(r, "chain.community") || ev.community_code, "community")),
    row(L_("township"), areaLabel(pick(ev, "township") || pick(r, "chain.township") || ev.township_code, "township")),
    row(L_("zone"), areaLabel(pick(ev, "enforcement_zone", "zone") || pick(r, "enforcement_zone") || ev.zone_code, "enforcement_zone")),
    row(L_("dedicated_grid"), areaLabel(pick(ev, "dedicated_grid") || pick(r, "dedicated_grid") || ev.dedicated_code, "dedicated_grid")),
  ];
}

export function teamRows(ev, routing) {
  const r = routing || {};
  const team = pick(ev, "team") || pick(r, "team");
  const deptCode = pick(ev, "department_code");
  const dept = pick(ev, "department") || pick(r, "decision.department") || (deptCode ? S.departments.get(deptCode) || deptCode : null);
  const mode = pick(ev, "handling_mode") || pick(r, "decision.mode");
  return [
    row(L_("team"), team ? (typeof team === "object" ? [team.name, team.code ? ` (${team.code})` : ""].join("") : String(team)) : null),
    row(L_("department"), dept ? (typeof dept === "object" ? dept.name || dept.code : String(dept)) : null),
    row(L_("mode"), mode ? L_(`mode_${mode}`) : null),
    coHandlerRow(ev.co_handlers, ev),
  ];
}

/** A joint dispatch's co-handlers, each marked done (when) or awaited: who the lead
 * waits for. An operator who may record a co-handler's report gets a button on each
 * awaited one: the report is recorded on that team's behalf, with the note typed in the
 * action form (the timeline says on whose behalf). */
export function coHandlerRow(list, ev) {
  if (!Array.isArray(list) || !list.length) return null;
  const mayRecord = ev && has("event_actions") && cfg.mayAct.includes("co_report_back") && Array.isArray(ev.allowed_actions) && ev.allowed_actions.includes("co_report_back");
  const items = list.map((c) =>
    h(
      "li",
      { className: `gm-co ${c.reported_back_at ? "is-done" : "is-pending"}`, dataset: { team: c.team } },
      `${c.name || c.team} (${c.team}) · ${L_(c.reported_back_at ? "co_done" : "co_pending")}`,
      c.reported_back_at ? ` ${fmtTime(c.reported_back_at)}` : null,
      !c.reported_back_at && mayRecord
        ? h(
            "button",
            {
              type: "button",
              className: "gm-co-record",
              dataset: { team: c.team },
              onclick: (e) => runAction(ev, "co_report_back", e.currentTarget, (body) => Object.assign(body, { team: c.team })),
            },
            L_("co_record_for"),
          )
        : null,
    ),
  );
  return row(L_("co_handlers"), h("ul", { className: "gm-co-handlers" }, items));
}

/** Both clocks of an event (the API's `clocks`): a running one counts down to its
 * deadline, a stopped one says how long it took and whether in time; one past its
 * deadline is never shown as time left. */
export function clockRows(ev) {
  const clocks = ev.clocks || {};
  const overdue = Boolean(ev.overdue);
  return ["response", "handling"].map((name) => {
    const c = clocks[name];
    if (!c) return null;
    const state = known(c.state, cfg.constants.clockStates);
    let value;
    if (c.state === "not_started") value = L_("clock_not_started");
    else if (c.stopped_at) value = `${L_(`clock_${state}`)} · ${L_("clock_took")} ${fmtDuration((c.took_s || 0) * 1000)}`;
    else value = countdown(c.due_at, name, overdue);
    return row(L_(`clock_${name}`), h("span", { className: `gm-clock gm-clock-${state}`, dataset: { clock: name, state } }, value));
  });
}

export const countdownTicks = new Map(); // clock name -> its tick, run by one timer

/** A running clock: its deadline and the time left, or how late once past it. An event
 * marked overdue (the other clock missed) shows its time left as a warning, not green. */
export function countdown(dueAt, name, overdue) {
  const node = h("span", { className: "gm-countdown" });
  const tick = () => {
    const ms = new Date(dueAt).getTime() - Date.now();
    node.textContent = ms >= 0 ? `${L_("remaining")} ${fmtDuration(ms)}` : `${L_("overdue_by")} ${fmtDuration(ms)}`;
    node.classList.toggle("is-overdue", ms < 0);
    node.classList.toggle("is-warning", ms >= 0 && Boolean(overdue));
  };
  tick();
  countdownTicks.set(name || "deadline", tick);
  clearInterval(countdownTimer);
  countdownTimer = setInterval(() => countdownTicks.forEach((f) => f()), 1000);
  return h("span", {}, `${fmtTime(dueAt)} · `, node);
}

// The worker's photos before and after: two labelled groups, each only when it has one.
// A photo without a stage (a plain URL) is a picture of the problem as reported.
export const PHOTO_STAGES = [
  ["report", "photos_report"],
  ["after", "photos_after"],
];

export function photoList(photos) {
  const groups = new Map(PHOTO_STAGES.map(([stage]) => [stage, []]));
  for (const ph of photos || []) {
    const url = typeof ph === "string" ? ph : ph && (ph.url || ph.href);
    // Same-origin paths only: no photo may make the wall screen call another host.
    if (typeof url !== "string" || !url.startsWith("/") || url.startsWith("//")) continue;
    const stage = ph && ph.stage === "after" ? "after" : "report";
    const label = L_(stage === "after" ? "photos_after" : "photos_report");
    groups.get(stage).push(h("a", { href: url, target: "_blank", rel: "noopener" }, h("img", { src: url, alt: label, loading: "lazy" })));
  }
  const sections = PHOTO_STAGES.filter(([stage]) => groups.get(stage).length).map(([stage, key]) =>
    h("section", { className: "gm-photo-group", dataset: { stage } }, h("h3", {}, L_(key)), h("div", { className: "gm-photos" }, groups.get(stage))),
  );
  return sections.length ? h("div", { className: "gm-photo-groups" }, sections) : null;
}

export function timeline(entries) {
  if (!entries || !entries.length) return h("p", { className: "gm-muted" }, L_("no_data"));
  return h(
    "ol",
    { className: "gm-timeline" },
    entries.map((e) => {
      const d = e.data || {};
      // A step the system wrote says why as a catalogue code: said in the page's language.
      const coded = typeof d.note_code === "string" && `note_${d.note_code}` in t ? fillParams(t[`note_${d.note_code}`], d.note_params) : null;
      const note = coded || e.note || e.reason || d.note || d.reason || "";
      const action = e.action || e.kind || "";
      const actionLabel = t[`action_${action}`] || e.label || action;
      const extra = [];
      if (d.on_behalf_of) extra.push(fillParams(L_("note_on_behalf"), { team: d.on_behalf_of }));
      if (d.satisfaction) extra.push(fillParams(L_("note_satisfaction"), { score: d.satisfaction }));
      if (action === "escalate" && d.to_level) extra.push(fillParams(L_("note_escalated_to"), { to_level: d.to_level }));
      return h(
        "li",
        { dataset: { action: known(action, cfg.actions) } },
        h("time", {}, fmtTime(e.at || e.created_at)),
        h("strong", {}, ` ${actionLabel} `),
        h("span", { className: "gm-muted gm-actor" }, actorName(e)),
        note ? h("div", { className: "gm-note" }, note) : null,
        extra.length ? h("div", { className: "gm-note gm-note-extra" }, extra.join(cfg.lang === "zh" ? "；" : "; ")) : null,
      );
    }),
  );
}

/** `template` with {name} filled, each value said in the page's language where the
 * catalogue has a word for it (a level, a deadline, a satisfaction score). */
export function fillParams(template, params) {
  const p = params || {};
  return String(template).replace(/\{(\w+)\}/g, (all, key) => {
    if (p[key] === undefined || p[key] === null) return all;
    const v = p[key];
    const one = (x) => t[`param_${key}_${x}`] || String(x);
    return Array.isArray(v) ? v.map(one).join(t.list_sep || ", ") : one(v);
  });
}

/** Who acted, as a person reads it: the server's display name, else a source's name. */
export function actorName(e) {
  if (e.actor_name) return e.actor_name;
  const actor = String(e.actor || "");
  if (actor === "system") return L_("actor_system");
  if (actor.startsWith("source:")) return t[`source_${actor.slice(7)}`] || actor.slice(7);
  return actor.replace(/^(user|token):/, "");
}

export async function openEvent(id, opts) {
  id = String(id);
  S.selected = { kind: "event", id };
  const scroll = $("gm-panel-body").scrollTop;
  const local = S.events.get(id);
  let ev = local ? Object.assign({}, local.p) : { id };
  let log = null;
  if (!opts || !opts.keepScroll) openPanel(h("p", { className: "gm-muted" }, L_("loading")));
  try {
    if (has("event")) ev = Object.assign({}, ev, await api(`/api/events/${encodeURIComponent(id)}`));
    if (has("photos")) {
      const body = await api(`/api/events/${encodeURIComponent(id)}/photos`);
      ev.photos = Array.isArray(body) ? body : (body && (body.photos || body.items)) || [];
    }
    if (has("event_log")) {
      const body = await api(`/api/events/${encodeURIComponent(id)}/log?lang=${cfg.lang === "en" ? "en" : "zh-CN"}`);
      log = Array.isArray(body) ? body : body && (body.entries || body.items || body.log);
    }
  } catch (err) {
    if (!local) {
      openPanel(h("p", { className: "gm-error" }, failure(err)));
      return;
    }
  }
  if (!S.selected || S.selected.id !== id) return; // the operator moved on meanwhile
  const routing = ev.routing || null;
  const reporter = ev.reporter || {};
  const phone = maskPhone(reporter.phone);
  const name = reporter.name;
  const due = ev.clocks ? null : ev.due_at;
  const typed = typedInputs(id);
  const reporterText = h("span", { className: "gm-reporter" }, [name, phone].filter(Boolean).join(" "));
  countdownTicks.clear();
  openPanel(
    h(
      "article",
      { className: "gm-event", dataset: { eventId: id } },
      h("h2", {}, `${L_("event")} #${id} `, badge("priority", ev.priority), " ", badge("status", ev.status)),
      h("p", { className: "gm-category" }, categoryName(ev.category)),
      h("h3", {}, L_("description")),
      h("p", { className: "gm-description" }, ev.description || ""),
      photoList(ev.photos),
      placeSection(ev),
      h(
        "dl",
        {},
        name || phone ? row(L_("reporter"), h("span", {}, reporterText, phone ? revealButton(id, reporterText) : null)) : null,
        row(L_("source"), ev.source ? t[`source_${ev.source}`] || ev.source : null),
        clockRows(ev),
        row(L_("deadline"), due ? countdown(due) : null),
        row(L_("escalation_level"), ev.escalation_level ? t[`param_level_${ev.escalation_level}`] || ev.escalation_level : null),
        ev.duplicate_of
          ? row(L_("duplicate_of"), h("button", { type: "button", className: "gm-link gm-duplicate", onclick: () => goToEvent(String(ev.duplicate_of), null) }, `#${ev.duplicate_of}`))
          : null,
        ev.satisfaction ? row(L_("field_satisfaction"), `${L_(`satisfaction_${ev.satisfaction}`)} (${ev.satisfaction})`) : null,
      ),
      h("h3", {}, L_("chain")),
      h("dl", { className: "gm-chain" }, chainRows(ev, routing)),
      h("dl", { className: "gm-team" }, teamRows(ev, routing)),
      actionForm(ev),
      has("event_log") ? h("section", {}, h("h3", {}, L_("timeline")), timeline(log)) : null,
    ),
  );
  restoreInputs(typed);
  if (opts && opts.keepScroll) $("gm-panel-body").scrollTop = scroll;
  if (local && local.latlng && !(opts && opts.keepScroll)) map.panTo(local.latlng);
}

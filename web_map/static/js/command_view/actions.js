/* Acting from the panel: the action form (only the actions the event's state and the
 * viewer's role allow), running an action (its button is usable again whatever happens),
 * revealing the reporter's number, and keeping what was typed across redraws. */

import { h, api, post } from "../common.js";
import { cfg, S, has, L_, failure } from "./state.js";
import { openEvent } from "./event_panel.js";
import { upsertEvent } from "./events_layer.js";
import { PICKERS, loadTeamOptions, teamCode, teamInput } from "./team_picker.js";

/** The named inputs of an action form. */
export function fieldsOf(form) {
  const out = {};
  for (const input of form ? form.querySelectorAll("[name]") : []) out[input.name] = input;
  return out;
}

/** Run `action` on `ev` with what the action form holds; `extend(body)` adds what the
 * button itself knows (a co-handler's team). The button as clicked is re-enabled
 * whatever happens; the panel may be redrawn meanwhile (the live stream), so what is
 * re-enabled and where the answer is written is looked up again in the page as it is. */
export async function runAction(ev, action, button, extend) {
  if (button) button.disabled = true;
  try {
    await runActionOnce(ev, action, extend);
  } finally {
    // Whatever happened, the button as clicked works again (the one now in the panel
    // is re-enabled by runActionOnce).
    if (button) button.disabled = false;
  }
}

let outcomeSeq = 0; // the answers of the panel's actions, counted

export async function runActionOnce(ev, action, extend) {
  const fields = fieldsOf(actionsOf(ev.id));
  const value = (name) => (fields[name] ? fields[name].value.trim() : "");
  const body = {};
  const note = value("note");
  if (note) body.note = note;
  for (const need of cfg.workflow[action].requires) {
    if (need === "reason" || need === "note") body[need] = note;
    else if (need === "co_teams") body.co_teams = await Promise.all(value("co_teams").split(/[,，、\s]+/).filter(Boolean).map((x) => teamCode(ev.id, x)));
    else if (need === "target") {
      // Empty: the server merges into the event it found this one repeats (duplicate_of).
      if (value("target")) body.target = Number(value("target").replace(/^#/, ""));
    }
    else if (need === "satisfaction") body.satisfaction = Number(value("satisfaction"));
    else if (need === "team") {
      if (value("team")) body.team = await teamCode(ev.id, value("team"));
    } else if (value(need)) body[need] = value(need);
  }
  // An escalation goes to the team picked for it, else to the next level's duty team.
  if (action === "escalate" && value("escalate_team")) body.team = await teamCode(ev.id, value("escalate_team"), "escalate");
  if (extend) extend(body);
  S.outcome = null;
  let outcome = null;
  try {
    const result = await post(`/api/events/${encodeURIComponent(ev.id)}/actions/${encodeURIComponent(action)}`, body);
    outcome = { ok: true, text: L_("action_done") };
    const changed = result && (result.event || result);
    if (changed && changed.status) upsertEvent({ id: String(ev.id), p: Object.assign({}, changed, { id: String(ev.id) }), latlng: null }, true);
    clearTypedInputs();
    openEvent(String(ev.id), { keepScroll: true });
  } catch (err) {
    outcome = { ok: false, text: failure(err) };
  } finally {
    const form = actionsOf(ev.id);
    const current = form && form.querySelector(`button[data-action="${CSS.escape(action)}"]`);
    if (current) current.disabled = false;
    const shown = form && form.querySelector(".gm-action-message");
    if (outcome) {
      // Numbered, so a redraw showing an earlier step's answer is told from this one's.
      outcomeSeq += 1;
      S.outcome = Object.assign({ id: String(ev.id), at: Date.now(), seq: outcomeSeq, action }, outcome);
      if (shown) {
        shown.className = `gm-action-message ${outcome.ok ? "ok" : "error"}`;
        shown.textContent = outcome.text;
        shown.dataset.seq = String(outcomeSeq);
        shown.dataset.action = action;
      }
    }
  }
}

export function actionForm(ev) {
  if (!has("event_actions")) return null;
  const status = ev.status;
  // The event says what it allows (its row is the truth); the page's table is the fallback.
  // Buttons only for what the viewer's role may do (cfg.mayAct; the API checks again).
  const actions = (Array.isArray(ev.allowed_actions)
    ? ev.allowed_actions.filter((a) => a in cfg.workflow)
    : Object.entries(cfg.workflow)
        .filter(([, rule]) => rule.from.includes(status))
        .map(([name]) => name)
  ).filter((a) => cfg.mayAct.includes(a));
  const said = S.outcome && S.outcome.id === String(ev.id) && Date.now() - S.outcome.at < 60000 ? S.outcome : null;
  const message = h(
    "div",
    { className: `gm-action-message${said ? (said.ok ? " ok" : " error") : ""}`, role: "status", dataset: said ? { seq: String(said.seq), action: said.action } : {} },
    said ? said.text : null,
  );
  // The step that ended the loop (merged, archived) still says it went through.
  if (!actions.length) return said ? h("section", { className: "gm-actions" }, message) : null;
  const needs = new Set(actions.flatMap((a) => cfg.workflow[a].requires));
  const inputs = [];
  const field = (name, label, attrs) => {
    inputs.push(h("input", Object.assign({ name, placeholder: label, "aria-label": label }, attrs || {})));
  };
  if (needs.has("team")) inputs.push(teamInput("team", L_("team_pick"), ev.id));
  if (needs.has("co_teams")) inputs.push(teamInput("co_teams", L_("co_teams_pick"), ev.id));
  if (needs.has("team") || needs.has("co_teams")) {
    inputs.push(h("datalist", { id: PICKERS.hand.list }));
    loadTeamOptions(ev.id, "", "hand");
  }
  if (actions.includes("escalate") && has("team_candidates")) {
    inputs.push(teamInput("escalate_team", L_("escalate_pick"), ev.id, "escalate"));
    inputs.push(h("datalist", { id: PICKERS.escalate.list }));
    loadTeamOptions(ev.id, "", "escalate");
  }
  field("note", L_("note"));
  if (needs.has("target")) field("target", L_("merge_target"), { inputmode: "numeric", value: ev.duplicate_of ? String(ev.duplicate_of) : null });
  if (needs.has("satisfaction")) {
    // The three choices of a return call, on the documented 1–5 scale.
    inputs.push(
      h(
        "select",
        { name: "satisfaction", "aria-label": L_("field_satisfaction") },
        h("option", { value: "" }, L_("satisfaction_choose")),
        [5, 3, 1].map((n) => h("option", { value: String(n) }, L_(`satisfaction_${n}`))),
      ),
    );
  }
  const buttons = actions.map((action) =>
    h(
      "button",
      {
        type: "button",
        className: `gm-action gm-action-${action}`,
        dataset: { action },
        onclick: (e) => runAction(ev, action, e.currentTarget),
      },
      L_(`action_${action}`),
    ),
  );
  return h("section", { className: "gm-actions" }, h("h3", {}, L_("actions")), h("div", { className: "gm-fields" }, inputs), h("div", { className: "gm-buttons" }, buttons), message);
}

/** The reporter's number for the return call: shown on request, and every look is
 * logged by the server (GET /api/events/{id}/reporter, audited). */
export function revealButton(evId, target) {
  if (!has("reporter")) return null;
  return h(
    "button",
    {
      type: "button",
      className: "gm-reveal",
      onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          const who = await api(`/api/events/${encodeURIComponent(evId)}/reporter`);
          target.textContent = [who.name, who.phone].filter(Boolean).join(" ");
          button.remove();
        } catch (err) {
          target.textContent = failure(err);
        } finally {
          button.disabled = false; // shown again (or gone): never left greyed out
        }
      },
    },
    L_("show_number"),
  );
}

/** What the operator has typed into the open event's action form: the panel is redrawn
 * whenever the event changes (the live stream), and a half-written note must survive. */
export function typedInputs(id) {
  const form = document.querySelector(`#gm-panel-body .gm-event[data-event-id="${CSS.escape(id)}"] .gm-actions`);
  if (!form) return null;
  const values = {};
  for (const input of form.querySelectorAll("input[name], select[name]")) if (input.value) values[input.name] = input.value;
  const focused = form.contains(document.activeElement) ? document.activeElement.name : null;
  return { values, focused };
}

export function restoreInputs(typed) {
  if (!typed) return;
  const form = document.querySelector("#gm-panel-body .gm-event .gm-actions");
  if (!form) return;
  for (const input of form.querySelectorAll("input[name], select[name]")) {
    if (typed.values[input.name] !== undefined && !input.value) input.value = typed.values[input.name];
    if (input.name === typed.focused) input.focus();
  }
}

/** The action form of event `id` as the panel shows it now (null once it moved on). */
export function actionsOf(id) {
  return document.querySelector(`#gm-panel-body .gm-event[data-event-id="${CSS.escape(String(id))}"] .gm-actions`);
}

/** After an action went through, its words are spent: clear the form it was typed in. */
export function clearTypedInputs() {
  for (const input of document.querySelectorAll("#gm-panel-body .gm-actions input[name], #gm-panel-body .gm-actions select[name]")) input.value = "";
}

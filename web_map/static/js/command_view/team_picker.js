/* The team picker of the action form: the teams offered for an event (to hand it to, or
 * to escalate it to), searchable by name and code; a typed name becomes a team code. */

import { h, aborted, api, latest } from "../common.js";
import { has, L_ } from "./state.js";

/** The teams offered for the open event (GET /api/events/{id}/team-candidates): to
 * hand it to (assign, joint dispatch: `purpose` "hand"), or to escalate it to (the next
 * level's teams: "escalate"). Each purpose has its own list in the form. */
export const PICKERS = {
  hand: { list: "gm-team-options", options: [] },
  escalate: { list: "gm-escalate-options", options: [] },
};

export async function loadTeamOptions(evId, q, purpose) {
  if (!has("team_candidates")) return;
  const picker = PICKERS[purpose || "hand"];
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (purpose === "escalate") params.set("purpose", "escalate");
  const query = params.toString() ? `?${params}` : "";
  let body = null;
  try {
    body = await latest(`team-candidates-${purpose || "hand"}`).api(`/api/events/${encodeURIComponent(evId)}/team-candidates${query}`);
  } catch (err) {
    if (!aborted(err)) picker.options = [];
    return;
  }
  picker.options = (body && body.teams) || [];
  const list = document.getElementById(picker.list);
  if (!list) return;
  list.replaceChildren(
    ...picker.options.map((c) =>
      h("option", { value: c.code, label: `${c.name} · ${L_(`why_${c.why}`)} · ${L_("open_load")} ${c.open_events}` }),
    ),
  );
}

/** The one team among `options` that `typed` names: by code, by its or its
 * department's name, else the only one whose name holds it; null if none or several. */
export function matchTeam(options, typed) {
  const byCode = options.filter((c) => c.code === typed);
  if (byCode.length) return byCode[0].code;
  const exact = options.filter((c) => c.name === typed || c.department === typed);
  if (exact.length === 1) return exact[0].code;
  const near = options.filter((c) => (c.name || "").includes(typed) || (c.department || "").includes(typed));
  return near.length === 1 ? near[0].code : null;
}

/** What was typed in a team field as a team code: a code as is, a team's or its
 * department's name as the one team the picker offers under it (asking the server when
 * the suggestions shown do not hold it). */
export async function teamCode(evId, typed, purpose) {
  const v = String(typed || "").trim();
  if (!v) return v;
  const local = matchTeam(PICKERS[purpose || "hand"].options, v);
  if (local) return local;
  if (!has("team_candidates")) return v;
  const extra = purpose === "escalate" ? "&purpose=escalate" : "";
  try {
    const body = await api(`/api/events/${encodeURIComponent(evId)}/team-candidates?q=${encodeURIComponent(v)}${extra}`);
    return matchTeam((body && body.teams) || [], v) || v;
  } catch (err) {
    return v; // the action itself will say what is wrong with it
  }
}

export function teamInput(name, label, evId, purpose) {
  let timer = null;
  return h("input", {
    name,
    placeholder: label,
    "aria-label": label,
    list: PICKERS[purpose || "hand"].list,
    autocomplete: "off",
    oninput: (e) => {
      const value = e.target.value.split(/[,，、\s]+/).pop();
      clearTimeout(timer);
      timer = setTimeout(() => loadTeamOptions(evId, value, purpose), 200);
    },
  });
}

/* Publishing the draft with a reason, and rebasing it after someone else published
 * first. */

import { h, post } from "../common.js";
import { $ } from "../page.js";
import { L_, S, toast, failed, busy } from "./state.js";
import { loadDraft } from "./draft.js";
import { validate } from "./tools.js";

export async function publish(ev) {
  ev.preventDefault();
  const reason = $("gm-reason").value.trim();
  if (!reason) {
    toast(L_("reason_required"), "error");
    $("gm-reason").focus();
    return;
  }
  $("gm-conflict").hidden = true;
  document.body.dataset.busy = "true";
  try {
    const res = await post(`/api/drafts/${S.draft.id}/publish`, { reason, accept_problems: $("gm-accept").checked });
    showPublished(res);
  } catch (err) {
    if (err.code === "version_conflict") showConflict(err.details.changed || []);
    else toast(failed(err), "error");
    if (err.status === 422) await validate();
  } finally {
    document.body.dataset.busy = "false";
  }
}

export function showPublished(res) {
  const rerouted = res.rerouted || [];
  $("gm-result").replaceChildren(
    h("p", { className: "gm-published", dataset: { version: String(res.version) } }, L_("published", { version: res.version, n: rerouted.length })),
    h(
      "ul",
      { className: "gm-list" },
      rerouted.map((r) => h("li", { className: "gm-rerouted", dataset: { event: String(r.event) } }, L_("rerouted", { event: r.event, from: r.from_grid || "–", to: r.to_grid || "–" }))),
    ),
  );
  // A published draft is a version now: nothing more to edit, undo or publish in it.
  for (const id of ["gm-tools", "gm-publish", "gm-undo-row"]) $(id).hidden = true;
  document.body.dataset.published = String(res.version);
}

export function showConflict(changed) {
  const box = $("gm-conflict");
  box.replaceChildren(
    h("p", null, L_("conflict")),
    h("ul", { className: "gm-list" }, changed.map((c) => h("li", null, L_("conflict_by", { code: c.code, change: L_("diff_" + c.change), by: c.by || "?" })))),
    h("button", { type: "button", id: "gm-rebase-mine", onclick: () => rebase(true) }, L_("rebase")),
  );
  box.hidden = false;
}

// The API rebases over a community someone else changed only when the planner keeps
// their own grids there (recorded in the draft's note); the other way out is a new draft.
export async function rebase(keepMine) {
  const res = await busy(() => post(`/api/drafts/${S.draft.id}/rebase`, { keep_mine: keepMine }));
  if (!res) return;
  $("gm-conflict").hidden = true;
  toast(L_("rebased"));
  await loadDraft(S.draft.id, false);
}

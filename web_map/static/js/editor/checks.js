/* The draft's checks (problems, each located on the map), its diff against the base
 * version, and its edit history. */

import { h } from "../common.js";
import { $ } from "../page.js";
import { map, t, L_, S, problemGroup } from "./state.js";

export function showState(state) {
  if (state.problems) showProblems(state.problems);
  if (state.diff) showDiff(state.diff);
}

export function showProblems(problems) {
  problemGroup.clearLayers();
  const errors = problems.filter((p) => p.severity === "error").length;
  $("gm-problem-count").textContent = problems.length ? `(${errors} ${L_("severity_error")} · ${problems.length - errors} ${L_("severity_warning")})` : "";
  $("gm-accept-label").hidden = errors === 0;
  const list = $("gm-problems");
  list.dataset.errors = String(errors);
  if (!problems.length) {
    list.replaceChildren(h("li", { className: "gm-ok" }, L_("no_problems")));
    return;
  }
  list.replaceChildren(
    ...problems.map((p) => {
      const who = [p.code, p.name].filter(Boolean).join(" ");
      // The kind in the page's language first; the validator's detailed words after it.
      const kind = p.kind && `problem_${p.kind}` in t ? `${t[`problem_${p.kind}`]} · ` : "";
      const text = `${L_("severity_" + p.severity)} · ${kind}${who}: ${p.message}`;
      const shape = problemShape(p, text);
      if (p.code && S.gridLayers.has(p.code) && p.severity === "error") {
        S.gridLayers.get(p.code).setStyle({ color: "#b91c1c", weight: 3 });
      }
      return h(
        "li",
        {
          className: `gm-problem gm-${p.severity}`,
          dataset: { kind: p.kind, code: p.code || "" },
          onclick: () => {
            if (!shape) return;
            if (shape.getBounds) map.fitBounds(shape.getBounds(), { maxZoom: 17 });
            else map.setView(shape.getLatLng(), Math.max(map.getZoom(), 16));
            shape.openPopup();
          },
        },
        text,
      );
    }),
  );
}

/** A marker (a point) or an outline (a box) where the problem is, with its words. */
export function problemShape(p, text) {
  const where = p.where || {};
  let shape = null;
  if (where.point) {
    shape = L.circleMarker([where.point[1], where.point[0]], {
      pane: "gm-problems",
      radius: 9,
      color: p.severity === "error" ? "#b91c1c" : "#b45309",
      weight: 3,
      fillColor: p.severity === "error" ? "#ef4444" : "#f59e0b",
      fillOpacity: 0.7,
      className: `gm-problem-marker gm-${p.severity}`,
    });
  } else if (where.bbox) {
    const [w, s, e, n] = where.bbox;
    shape = L.rectangle([[s, w], [n, e]], { pane: "gm-problems", color: "#b91c1c", weight: 2, dashArray: "4 3", fill: false });
  }
  if (shape) shape.bindPopup(h("div", { className: "gm-problem-popup" }, text)).addTo(problemGroup);
  return shape;
}

export function showDiff(diff) {
  const box = $("gm-diff");
  const changes = (diff.changes || []).filter((c) => c.layer === "grid");
  if (!changes.length) {
    box.replaceChildren(h("p", { className: "gm-muted" }, L_("diff_none")));
    box.dataset.added = box.dataset.changed = box.dataset.removed = "0";
    return;
  }
  let moved = 0;
  for (const c of changes) moved += Math.max(0, (c.households_after || 0) - (c.households_before || 0));
  box.dataset.added = String(diff.added);
  box.dataset.changed = String(diff.changed);
  box.dataset.removed = String(diff.removed);
  box.replaceChildren(
    h(
      "p",
      { className: "gm-diff-summary" },
      `${L_("diff_added")} ${diff.added} · ${L_("diff_changed")} ${diff.changed} · ${L_("diff_removed")} ${diff.removed} · ${L_("households_moved")} ${moved}`,
    ),
    h(
      "ul",
      { className: "gm-list" },
      changes.map((c) => {
        const before = c.households_before ?? "–";
        const after = c.households_after ?? "–";
        return h("li", { className: `gm-change gm-${c.change}`, dataset: { code: c.code } }, `${L_("diff_" + c.change)} ${c.code} ${c.name || ""} · ${before} → ${after} ${L_("households")}`);
      }),
    ),
  );
}

export function showHistory(entries) {
  $("gm-history").replaceChildren(
    ...entries.map((e) => {
      const what = e.params && (e.params.code || (e.params.codes || []).join("+") || e.params.community || "");
      return h("li", { className: e.undone ? "gm-undone" : "", dataset: { seq: String(e.seq) } }, `${L_("op_" + e.op)} ${what || ""} ${e.undone ? L_("history_undone") : ""}`);
    }),
  );
}

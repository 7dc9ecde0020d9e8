/* Picking the scope of a draft: a community or township, by name or code; its open
 * draft is taken up again, else a new one is made. */

import { h, api, post, errorText } from "../common.js";
import { $ } from "../page.js";
import { collectionItems } from "../ogc.js";
import { map, cfg, t, L_, S, setContext, toast, busy } from "./state.js";
import { loadDraft } from "./draft.js";

const AREAS_MAX = 5000; // townships and communities read for the picker (a county has hundreds)
export async function loadAreas() {
  for (const layer of ["township", "community"]) {
    try {
      const { features } = await collectionItems(layer, AREAS_MAX);
      for (const f of features) {
        const p = f.properties || {};
        if (p.code) S.areas[layer].set(p.code, { code: p.code, name: p.name || "", parent: p.parent_code, feature: f });
      }
    } catch (err) {
      toast(`${L_("layer_" + layer)}: ${errorText(err, t)}`, "error");
    }
  }
  const context = L.geoJSON(
    { type: "FeatureCollection", features: [...S.areas.community.values()].map((a) => a.feature) },
    { pane: "gm-context", interactive: false, style: { color: "#64748b", weight: 1, fill: false, dashArray: "4 4" } },
  ).addTo(map);
  setContext(context);
  if (context.getLayers().length) map.fitBounds(context.getBounds(), { animate: false });
}

export function findAreas(text) {
  const needle = text.trim().toLowerCase();
  const out = [];
  if (!needle) return out;
  for (const layer of ["community", "township"]) {
    for (const a of S.areas[layer].values()) {
      if (out.length >= 20) return out;
      if (a.code.toLowerCase().startsWith(needle) || a.name.toLowerCase().includes(needle)) out.push({ layer, area: a });
    }
  }
  return out;
}

export function showPickResults(text) {
  const box = $("gm-pick-results");
  const found = findAreas(text);
  if (found.length === 1 && found[0].area.code.toLowerCase() === text.trim().toLowerCase()) {
    box.hidden = true;
    pick(found[0].layer, found[0].area.code);
    return;
  }
  box.replaceChildren(
    ...(found.length
      ? found.map(({ layer, area }) =>
          h(
            "button",
            { type: "button", className: "gm-result", dataset: { code: area.code }, onclick: () => { box.hidden = true; pick(layer, area.code); } },
            `${L_("layer_" + layer)}: ${area.name} (${area.code})`,
          ),
        )
      : [h("p", { className: "gm-muted" }, L_("pick_none"))]),
  );
  box.hidden = false;
}

export async function pick(layer, code) {
  const area = S.areas[layer].get(code);
  $("gm-scope").textContent = area ? `${L_("layer_" + layer)}: ${area.name} (${code})` : code;
  const draft = await busy(async () => {
    const mine = await api("/api/drafts");
    const open = (mine.drafts || []).find((d) => d.scope && d.scope.layer === layer && d.scope.code === code);
    return open || (await post("/api/drafts", { layer, code, name: area ? area.name : code }));
  });
  if (!draft) return;
  history.replaceState(null, "", `?lang=${encodeURIComponent(cfg.lang)}&scope=${encodeURIComponent(code)}`);
  await loadDraft(draft.id, true);
}

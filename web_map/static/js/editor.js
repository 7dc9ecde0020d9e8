/* The boundary editor, its entry module: pick a community or township, edit its grids in
 * a private draft (split, merge, reshape, add, delete, regenerate), see the checks and the
 * diff, undo/redo, publish with a reason, rebase after a conflict (editor/*.js).
 *
 * ES modules, no build step. Every string that comes from data (names, codes, problem
 * messages) is written with textContent / text nodes, never as HTML. Each edit is one POST
 * to /api/drafts/{id}/edits; the server answers with the changed grids, the located
 * problems and the diff, and the page redraws only what changed. Modules run after the
 * page is parsed, so folium's set-up script (a classic script) has made the map by then.
 */

import { publish } from "./editor/publish.js";
import { loadAreas, showPickResults } from "./editor/scope.js";
import { cfg, configure, map, S } from "./editor/state.js";
import { onDrawn, setTool, undoRedo, validate } from "./editor/tools.js";
import { $, pageConfig, pageMap } from "./page.js";

async function start(leafletMap, config) {
  configure(leafletMap, config);
  map.pm.setLang(cfg.lang === "zh" ? "zh" : "en");
  map.on("pm:create", onDrawn);

  $("gm-pick").addEventListener("submit", (e) => {
    e.preventDefault();
    showPickResults($("gm-pick-input").value);
  });
  for (const b of document.querySelectorAll(".gm-tool")) {
    b.addEventListener("click", () => setTool(S.tool === b.dataset.tool ? null : b.dataset.tool));
  }
  $("gm-undo").addEventListener("click", () => undoRedo("undo"));
  $("gm-redo").addEventListener("click", () => undoRedo("redo"));
  $("gm-validate").addEventListener("click", validate);
  $("gm-publish").addEventListener("submit", publish);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") setTool(null);
  });

  await loadAreas();
  if (cfg.scope) showPickResults(cfg.scope);
  document.body.dataset.ready = "true";
}

const config = pageConfig();
start(pageMap(config), config);

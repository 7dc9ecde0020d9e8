/* The operator's workbench around the command view's map: the work queues, alerts, the
 * legend and who is logged in. Run by the command view's entry module (command_view.js);
 * it waits for the map's start (config and categories, not the layers) and then listens
 * to the same live stream. */

import { Alerts } from "./alerts.js";
import { showUser, whoAmI } from "./header.js";
import { addLegend } from "./legend.js";
import { Queues } from "./queues.js";

/** Leaflet's own controls speak English (their titles and screen-reader labels): said in
 * the page's language instead. */
function localizeLeaflet(map, t) {
  const container = map.getContainer();
  // The attribution line is redrawn from its prefix whenever an attribution comes or goes
  // (the basemap's, as the view moves): the prefix itself is said in the page's language.
  const control = map.attributionControl;
  if (control && typeof control.options.prefix === "string") {
    const title = String(t.leaflet_title).replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
    control.setPrefix(control.options.prefix.replace(/title="[^"]*"/, `title="${title}"`));
  }
  for (const [selector, key] of [
    [".leaflet-control-zoom-in", "zoom_in"],
    [".leaflet-control-zoom-out", "zoom_out"],
    ['.leaflet-control-attribution a[href*="leafletjs"]', "leaflet_title"],
  ]) {
    for (const node of container.querySelectorAll(selector)) {
      node.setAttribute("title", t[key]);
      if (node.hasAttribute("aria-label")) node.setAttribute("aria-label", t[key]);
    }
  }
}

export async function runWorkbench(view) {
  // Started, not ready: the queues and counters load beside the map's layers (the page is
  // usable when both are there), not after them.
  await (view.started || view.ready);
  const cfg = view.config();
  localizeLeaflet(view.map(), cfg.labels);
  addLegend(view.map(), cfg);
  const me = await whoAmI(view);
  showUser(view, me);
  if (!cfg.features.includes("queues")) {
    document.getElementById("gm-queues").hidden = true;
    return;
  }
  const alerts = new Alerts(view, me && me.name);
  const queues = new Queues(view, {
    alertPriorities: () => alerts.priorities(),
    onAlerts: (list) => alerts.sync(list),
  });
  alerts.onAcknowledged = (id) => queues.unpin(id);
  alerts.onSettingsChanged = () => queues.soon(0);
  // For debugging on a wall screen: the queues' last answer, the alerts shown.
  window.GridmapWorkbench = { queues, alerts };

  for (const node of document.querySelectorAll("[data-counter][data-queue]")) {
    node.addEventListener("click", () => queues.show(node.dataset.queue));
  }
  for (const id of ["gm-filter-status", "gm-filter-priority", "gm-filter-category", "gm-filter-township"]) {
    document.getElementById(id).addEventListener("change", () => queues.soon(0));
  }
  document.addEventListener("gm:message", (e) => {
    if (e.detail.kind.startsWith("event.")) queues.soon();
  });
  setInterval(() => queues.soon(0), 60000); // deadlines pass without a message
  await queues.load();
  document.body.dataset.workbench = "ready";
}


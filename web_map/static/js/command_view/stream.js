/* The live stream (GET /api/stream, server-sent events): new and changed events update
 * the map in place; every message is also dispatched as a `gm:message` DOM event for
 * the workbench's modules (queues, alerts). */

import { $ } from "../page.js";
import { S, has, L_ } from "./state.js";
import { loadAreas } from "./areas.js";
import { refreshCounters } from "./counters.js";
import { openEvent } from "./event_panel.js";
import { upsertEvent } from "./events_layer.js";
import { loadTriage } from "./triage.js";

let stream = null;
let retryMs = 1000;

export function setLive(state) {
  const node = $("gm-live");
  node.dataset.state = state;
  node.textContent = L_({ on: "live_on", off: "live_off", unavailable: "live_unavailable" }[state]);
}

export function connectStream() {
  if (!has("stream")) {
    setLive("unavailable");
    return;
  }
  const q = S.lastEventId ? `?${new URLSearchParams({ last_id: S.lastEventId })}` : "";
  stream = new EventSource(`/api/stream${q}`);
  stream.onopen = () => {
    retryMs = 1000;
    setLive("on");
  };
  stream.onerror = () => {
    setLive("off");
    // EventSource retries by itself (sending Last-Event-ID) unless the server refused it;
    // then we reconnect with back-off and ask for what we missed with ?last_id.
    if (stream.readyState === EventSource.CLOSED) {
      stream = null;
      setTimeout(connectStream, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    }
  };
  for (const kind of ["event.created", "event.changed", "event.overdue", "boundaries.published"]) {
    stream.addEventListener(kind, (msg) => {
      if (msg.lastEventId) S.lastEventId = msg.lastEventId;
      let data = null;
      try {
        data = JSON.parse(msg.data);
      } catch (err) {
        return; // a malformed message changes nothing
      }
      if (S.loading) S.queued.push({ kind, data });
      else applyMessage(kind, data);
      // The page's modules (queues, alerts) hear every message as it arrives.
      document.dispatchEvent(new CustomEvent("gm:message", { detail: { kind, data } }));
    });
  }
}

export function applyMessage(kind, data) {
  if (kind === "boundaries.published") {
    if (data && Number.isInteger(data.version)) S.version = data.version;
    loadAreas(S.overlays);
    return;
  }
  if (!data || data.id === undefined || data.id === null) return;
  const p = Object.assign({}, data);
  const lon = Number(data.lon);
  const lat = Number(data.lat);
  const hasPoint = data.lon !== null && data.lon !== undefined && Number.isFinite(lon) && Number.isFinite(lat);
  const ev = { id: String(data.id), p, latlng: hasPoint ? L.latLng(lat, lon) : null };
  if (kind === "event.overdue") p.overdue = true; // alerts.js raises the alert
  upsertEvent(ev, true);
  refreshCounters();
  if (data.unassigned || S.triage.some((e) => e.id === ev.id)) loadTriage();
  if (S.selected && S.selected.kind === "event" && S.selected.id === ev.id) openEvent(ev.id, { keepScroll: true });
}

/* The phone page's service worker (served as /m/sw.js, scope /m): keeps the app shell, the
 * grid's map data and the task list for a worker with no signal, and sends the outbox on
 * background sync. Writes (POST) are never touched here: they go through the outbox.
 */
/* global GridmapOutbox */
"use strict";

importScripts("/static/js/phone_outbox.js");

// Bumped with the shell's contents: an old cache is dropped at activation.
const SHELL_CACHE = "gridmap-phone-shell-v5";
const DATA_CACHE = "gridmap-phone-data-v1";
// The basemap's tiles and labels the worker has looked at, for a map with no signal; the
// oldest go beyond this many.
const TILE_CACHE = "gridmap-phone-tiles-v1";
const TILE_MAX = 800;
const SHELL = [
  "/m",
  "/static/vendor/leaflet/dist/leaflet.js",
  "/static/vendor/leaflet/dist/leaflet.css",
  "/static/js/common.js",
  "/static/js/phone_outbox.js",
  "/static/js/basemap.js",
  "/static/js/phone.js",
  "/static/css/phone.css",
  "/m/manifest.webmanifest",
  "/static/img/phone-192.png",
  "/static/img/phone-512.png",
  "/static/img/favicon.svg",
  // What basemap.js asks for once the page is usable: its labels' style and the plugin.
  "/static/css/basemap.css",
  "/static/vendor/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
];
// Reads kept for offline viewing: newest answer wins, the cached one when there is none.
const DATA_PATHS = ["/api/phone/", "/api/events", "/api/categories", "/api/auth/me", "/api/patrols/mine"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => ![SHELL_CACHE, DATA_CACHE, TILE_CACHE].includes(k)).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request, cacheName, fallbackKey) {
  const cache = await caches.open(cacheName);
  try {
    const answer = await fetch(request);
    // An answer that says no copy may be kept (a reporter's full phone number) is not.
    if (answer.ok && !/no-store/.test(answer.headers.get("cache-control") || "")) cache.put(fallbackKey || request, answer.clone());
    return answer;
  } catch (err) {
    const kept = await cache.match(fallbackKey || request, { ignoreVary: true });
    if (kept) return said(kept);
    throw err;
  }
}

/** A kept copy says so (X-Gridmap-Kept): the page must not take it over a list it already
 * holds from a later live answer (a task started a moment before the signal dropped). */
function said(kept) {
  const headers = new Headers(kept.headers);
  headers.set("X-Gridmap-Kept", "1");
  return new Response(kept.body, { status: kept.status, statusText: kept.statusText, headers });
}

async function trim(cache) {
  const keys = await cache.keys(); // in the order they were put
  for (const key of keys.slice(0, Math.max(0, keys.length - TILE_MAX))) await cache.delete(key);
}

/** A basemap tile or label list: fresh, else the kept copy, else (no signal, never seen) an
 * empty one — a failed tile request is an uncaught error in the vector tile plugin, a failed
 * list an error in the console; an empty one draws nothing and is asked again on the next
 * move with a signal. */
async function basemapPiece(request, url) {
  const cache = await caches.open(TILE_CACHE);
  try {
    const answer = await fetch(request);
    if (answer.ok) {
      await cache.put(request, answer.clone());
      trim(cache);
    }
    return answer;
  } catch (err) {
    const kept = await cache.match(request);
    if (kept) return kept;
    if (url.pathname.endsWith(".pbf")) return new Response(new ArrayBuffer(0), { headers: { "Content-Type": "application/x-protobuf" } });
    return Response.json(url.pathname.endsWith("/sources.json") ? { sources: [] } : { labels: [] });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // writes go to the network as the page sent them
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/m") {
    // The page itself: fresh when there is a signal, the kept copy (any language) when not.
    event.respondWith(networkFirst(request, SHELL_CACHE, url.search ? undefined : "/m").catch(() => caches.match("/m")));
    return;
  }
  if (url.pathname.startsWith("/static/") || url.pathname === "/m/manifest.webmanifest") {
    // Our own files revalidate with each deploy (no-cache): network first keeps them current
    // and the shell cache answers offline.
    event.respondWith(networkFirst(request, SHELL_CACHE));
    return;
  }
  if (url.pathname.startsWith("/tiles/basemap/")) {
    event.respondWith(basemapPiece(request, url));
    return;
  }
  if (DATA_PATHS.some((p) => url.pathname.startsWith(p)) && !/\/(photos|reporter)(\/|$)/.test(url.pathname)) {
    event.respondWith(networkFirst(request, DATA_CACHE));
  }
});

async function tellPages(message) {
  const pages = await self.clients.matchAll({ type: "window" });
  for (const page of pages) page.postMessage(message);
}

async function syncOutbox() {
  await GridmapOutbox.flush();
  await tellPages({ type: "outbox-changed" });
  // Something still waits (no signal after all): failing the sync makes the browser retry.
  if ((await GridmapOutbox.counts()).pending > 0) throw new Error("outbox: still waiting");
}

self.addEventListener("sync", (event) => {
  if (event.tag === GridmapOutbox.SYNC_TAG) event.waitUntil(syncOutbox());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "flush") {
    event.waitUntil(GridmapOutbox.flush().then(() => tellPages({ type: "outbox-changed" })));
  }
});

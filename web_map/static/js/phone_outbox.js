/* The phone's outbox (待发送): everything the worker sends waits in IndexedDB first, photos
 * included as Blobs, and leaves only once the server has answered. A reload, a crash of the
 * page or a lost signal loses nothing; a resend after a lost answer is the same event (the
 * report's external_id was minted on the phone, and the ingest is idempotent by it).
 *
 * Loaded by the page (/m) and by its service worker (importScripts), so background sync
 * sends with the same code. Exposed as `GridmapOutbox` on the global object.
 */
(function (root) {
  "use strict";

  const DB_NAME = "gridmap-phone";
  const DB_VERSION = 1;
  const LOCK = "gridmap-outbox";
  let dbPromise = null;

  function openDb() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "id" });
        if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => {
        dbPromise = null;
        reject(req.error);
      };
    });
    return dbPromise;
  }

  async function run(store, mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      let result;
      const req = fn(tx.objectStore(store));
      if (req) req.onsuccess = () => (result = req.result);
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  const put = (item) => run("outbox", "readwrite", (s) => s.put(item));

  /** Queue `item` and set meta `key` to `value` in one transaction: both or neither (a
   * patrol's batch leaves its buffer exactly when it enters the outbox). */
  async function putWithMeta(item, key, value) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(["outbox", "meta"], "readwrite");
      tx.objectStore("outbox").put(item);
      if (value === null || value === undefined) tx.objectStore("meta").delete(key);
      else tx.objectStore("meta").put(value, key);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
  const remove = (id) => run("outbox", "readwrite", (s) => s.delete(id));
  const all = async () => ((await run("outbox", "readonly", (s) => s.getAll())) || []).sort((a, b) => a.created - b.created);
  const setMeta = (key, value) => run("meta", "readwrite", (s) => s.put(value, key));
  const getMeta = (key) => run("meta", "readonly", (s) => s.get(key));
  const delMeta = (key) => run("meta", "readwrite", (s) => s.delete(key));

  /** How many wait to be sent (those refused for good are counted apart). */
  async function counts() {
    const items = await all();
    return { pending: items.filter((i) => !i.failed).length, failed: items.filter((i) => i.failed).length };
  }

  async function blobToDataUrl(blob) {
    // Through bytes and btoa, not FileReader: the same code runs in the service worker.
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return `data:${blob.type || "image/jpeg"};base64,${btoa(binary)}`;
  }

  /** Send one item; resolves to the answer {status, body}. Throws on no network. */
  async function sendOne(item, csrf) {
    const headers = { Accept: "application/json", "X-CSRF-Token": csrf || "" };
    let body;
    if (item.kind === "photo") {
      // A photo whose answer was lost is simply sent again: the server keeps one copy of
      // the same picture per event and stage, and answers the resend with it.
      body = new FormData();
      body.append("file", item.blob, "photo.jpg");
    } else if (item.kind === "event") {
      const photos = [];
      for (const blob of item.photos || []) photos.push(await blobToDataUrl(blob));
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(Object.assign({}, item.body, { photos }));
    } else {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(item.body || {});
    }
    const res = await fetch(item.url, { method: "POST", credentials: "same-origin", headers, body });
    const type = res.headers.get("content-type") || "";
    const answer = type.includes("json") ? await res.json().catch(() => null) : null;
    return { status: res.status, body: answer };
  }

  const stateOf = (answer) => {
    const e = answer.body && answer.body.error;
    return e && e.details && e.details.current_state;
  };

  // Worth trying again later: no answer, the server busy or down, or the login expired.
  const retryable = (status) => status >= 500 || status === 401 || status === 408 || status === 429;

  async function flushNow(onResult) {
    const csrf = await getMeta("csrf");
    let sent = 0;
    for (const item of await all()) {
      if (item.failed) continue;
      let answer;
      try {
        answer = await sendOne(item, csrf);
      } catch (err) {
        break; // no network: everything waits, in order
      }
      if (answer.status >= 200 && answer.status < 300) {
        await remove(item.id);
        sent += 1;
        if (onResult) onResult(item, answer);
      } else if (retryable(answer.status)) {
        break;
      } else if (answer.status === 409 && item.done_state && stateOf(answer) === item.done_state) {
        // A task action sent again after its answer was lost: the event is already where
        // the action takes it. Done, not a failure.
        await remove(item.id);
        sent += 1;
        if (onResult) onResult(item, answer);
      } else {
        // Refused for good (a task already done, a category withdrawn): kept, marked, and
        // shown, never silently dropped and never retried in a loop.
        const e = answer.body && answer.body.error;
        item.failed = {
          status: answer.status,
          code: e && e.code,
          reason: e && e.reason,
          params: (e && e.params) || {},
          details: (e && e.details) || {},
          message: (e && e.message) || "",
        };
        await put(item);
        if (onResult) onResult(item, answer);
      }
    }
    return sent;
  }

  let running = null;
  let again = false;

  /** Send what waits, in the order it was made. One flush at a time per page, and across
   * the page and its service worker where the browser has Web Locks; asked again while one
   * runs, it runs once more after it (what was queued meanwhile goes too). */
  function flush(onResult) {
    if (running) {
      again = true;
      return running;
    }
    const locks = root.navigator && root.navigator.locks;
    const go = async () => {
      let sent = 0;
      do {
        again = false;
        sent += await flushNow(onResult);
      } while (again);
      return sent;
    };
    running = (locks ? locks.request(LOCK, go) : go()).finally(() => {
      running = null;
    });
    return running;
  }

  function newId() {
    if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
    const b = root.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  root.GridmapOutbox = { put, putWithMeta, remove, all, counts, flush, setMeta, getMeta, delMeta, newId, SYNC_TAG: "gridmap-outbox" };
})(self);

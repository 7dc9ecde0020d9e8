/* The pages' one API client, and building elements without HTML: every page's modules
 * (the command view, the editor, the assessment page, the phone) import it.
 *
 * - `api(url)` / `post(url, data)`: the server's one error body becomes an `ApiError`
 *   (status, code, reason, params, details), a 401 sends the person to log in, and a
 *   state-changing request echoes the session's CSRF token;
 * - `latest(name)`: a request that supersedes the previous one of the same name (stale
 *   answers are refused, `aborted(err)` tells them from failures);
 * - `errorText(err, labels)`: what a refusal says to a person, from the message catalogue.
 *
 * An ES module, no build step.
 */

/** Create an element; children are nodes or strings (strings become text, never HTML). */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "className") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** An API error: the server's one error body ({"error": {code, message, details}}). */
export class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super((e && e.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.code = e && e.code;
    // The precise refusal and its values: what the catalogue's text is filled from.
    this.reason = (e && e.reason) || this.code;
    this.params = (e && e.params) || {};
    this.details = (e && e.details) || {};
  }
}

/** The session's CSRF token, which every state-changing request must echo. */
export function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("gridmap_csrf="));
  return found ? decodeURIComponent(found.slice("gridmap_csrf=".length)) : "";
}

/** A request abandoned for a newer one (see `latest`): not a failure to show anyone. */
export function aborted(err) {
  return Boolean(err) && err.name === "AbortError";
}

export async function api(url, options) {
  const res = await fetch(url, Object.assign({ headers: { Accept: "application/json" } }, options));
  if (res.status === 401) {
    // The session expired (or was never there): log in again and come back here. A
    // draft's edits are already on the server, so nothing saved is lost.
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new ApiError(res.status, body);
  if (body && typeof body === "object" && res.headers.get("X-Gridmap-Kept")) keptAnswers.add(body);
  return body;
}

// Answers the phone's service worker gave from its kept copy (no signal), not the server.
const keptAnswers = new WeakSet();
export const kept = (body) => keptAnswers.has(body);

export function post(url, data) {
  // The session cookie alone does not authorise a change: the CSRF cookie's value must
  // come back in a header, which another site's page cannot read or set.
  return api(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(data || {}),
  });
}

// The one request of each name still wanted: filters changed twice quickly send two
// loads, and the first one's answer, arriving last, must not overwrite the second's.
const wanted = new Map(); // name -> AbortController

/** A request (possibly several pages) that supersedes the previous one of `name`: the
 * previous one is aborted, and an answer that still arrives for it is refused with an
 * AbortError (test with `aborted(err)`), so only the latest request's answers are used. */
export function latest(name) {
  const before = wanted.get(name);
  if (before) before.abort();
  const controller = new AbortController();
  wanted.set(name, controller);
  const isCurrent = () => wanted.get(name) === controller;
  const stale = () => new DOMException(`${name}: superseded by a newer request`, "AbortError");
  return {
    signal: controller.signal,
    isCurrent,
    async api(url, options) {
      if (!isCurrent()) throw stale();
      const body = await api(url, Object.assign({}, options, { signal: controller.signal }));
      if (!isCurrent()) throw stale();
      return body;
    },
    /** The request is over: forget it (a later `latest(name)` has nothing to abort). */
    done() {
      if (isCurrent()) wanted.delete(name);
    },
  };
}

/** `template` with {name} replaced by params[name] (missing ones stay as written). */
export function fill(template, params) {
  return String(template).replace(/\{(\w+)\}/g, (all, key) => (params[key] === undefined ? all : String(params[key])));
}

/** What a refused request says to a person, in the page's language (`labels`, the page's
 * label table, which holds the server's message catalogue, gridmap/messages.py): the
 * error body's `reason` and `params` choose and fill a catalogue text (params said in
 * the page's language too: an action, a state, a level); else its stable `code` and
 * details; the server's own message only where the catalogue has none. */
export function errorText(err, labels) {
  const t = labels || {};
  const say = (key, params) => (key in t ? fill(t[key], params || {}) : null);
  if (!err) return t.failed || "";
  const d = err.details || {};
  const code = err.code;
  const sep = t.list_sep || ", ";
  const field = (name) => t[`field_${name}`] || name;
  const word = (name, value) => t[`param_${name}_${value}`] || String(value);
  const raw = err.params || {};
  const params = {};
  for (const [k, v] of Object.entries(raw)) params[k] = Array.isArray(v) ? v.map((x) => word(k, x)).join(sep) : word(k, v);
  let text = null;
  if (err.reason && (err.reason !== code || Object.keys(raw).length)) text = say(`error_${err.reason}`, params);
  if (text) return text;
  if (code === "invalid_input" && Array.isArray(d.missing) && d.missing.length) {
    text = say("error_missing", { fields: d.missing.map(field).join(sep) });
  } else if (code === "invalid_input" && d.field && `field_${d.field}` in t) {
    text = say("error_invalid_field", { field: field(d.field) });
  } else if (code === "conflict" && Array.isArray(d.waiting_for) && d.waiting_for.length) {
    text = say("error_co_handlers_waiting", { teams: d.waiting_for.join(sep) });
  } else if (code === "illegal_transition" && d.current_state && `status_${d.current_state}` in t) {
    text = say("error_illegal_transition", { state: t[`status_${d.current_state}`] });
  } else if (code) {
    text = say(`error_${code}`);
  } else if (err instanceof ApiError) {
    text = say("error_status", { status: err.status }); // an answer without an error body
  } else {
    text = say("error_network"); // fetch itself failed: no answer from the server
  }
  return text || err.message || t.failed || "";
}


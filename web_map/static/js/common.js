/* What both pages (the command view and the boundary editor) share: building elements
 * without HTML, and calling the API with the session's CSRF token.
 *
 * Plain modern JavaScript, no build step; loaded before each page's own script and
 * exposed as `GridmapCommon`.
 */
(function () {
  "use strict";

  /** Create an element; children are nodes or strings (strings become text, never HTML). */
  function h(tag, attrs, ...children) {
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
  class ApiError extends Error {
    constructor(status, body) {
      const e = body && body.error;
      super((e && e.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
      this.code = e && e.code;
      this.details = (e && e.details) || {};
    }
  }

  /** The session's CSRF token, which every state-changing request must echo. */
  function csrfToken() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("gridmap_csrf="));
    return found ? decodeURIComponent(found.slice("gridmap_csrf=".length)) : "";
  }

  async function api(url, options) {
    const res = await fetch(url, Object.assign({ headers: { Accept: "application/json" } }, options));
    if (res.status === 401) {
      // The session expired (or was never there): log in again and come back here. A
      // draft's edits are already on the server, so nothing saved is lost.
      window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
    const type = res.headers.get("content-type") || "";
    const body = type.includes("json") ? await res.json().catch(() => null) : null;
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }

  function post(url, data) {
    // The session cookie alone does not authorise a change: the CSRF cookie's value must
    // come back in a header, which another site's page cannot read or set.
    return api(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(data || {}),
    });
  }

  window.GridmapCommon = { h, ApiError, csrfToken, api, post };
})();

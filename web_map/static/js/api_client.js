/* The one API client of the page's modules: the shared helpers of common.js (errors from
 * the server's error body, the CSRF header, superseding stale requests), as ES exports.
 * common.js stays a classic script because the editor and command_view.js load it too. */

const common = window.GridmapCommon;

export const { h, api, post, latest, aborted, errorText } = common;

/** `template` with {name} replaced by params[name]. */
export function fill(template, params) {
  return String(template).replace(/\{(\w+)\}/g, (all, key) => (params[key] === undefined ? all : String(params[key])));
}

/* What the map pages (the command view and the boundary editor) share around their map:
 * the configuration the server writes into the page (#gm-config, JSON), the Leaflet map
 * folium's set-up script made, the label table, and small timing helpers. */

export const $ = (id) => document.getElementById(id);

/** The page's configuration as the server wrote it (web_map/command_view.py, editor.py). */
export function pageConfig() {
  const node = document.getElementById("gm-config");
  return node ? JSON.parse(node.textContent) : null;
}

/** The Leaflet map of the page: folium's set-up script (a classic script, run before any
 * module) holds it in the global the configuration names. */
export function pageMap(cfg) {
  return window[cfg.mapName];
}

/** A label lookup: `say(key, {name: value})` is the label with {name} filled; an unknown
 * key is said as itself. */
export function labeller(labels) {
  return (key, vars) => {
    let s = key in labels ? labels[key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split(`{${k}}`).join(String(v));
    return s;
  };
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

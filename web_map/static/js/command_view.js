/* The command view (一张图), its entry module: the map and its layers, live events, the
 * side panel and its actions, who-is-here, search, triage (command_view/*.js), and the
 * operator's workbench around it (workbench.js: queues, alerts, legend, who is logged in).
 *
 * ES modules, no build step. Every string that comes from data (names, descriptions, log
 * notes) is written with textContent / text nodes, never as HTML. The page calls only the
 * API features the server says it has (cfg.features): a call to a missing endpoint would
 * be a 404 and a console error on the wall screen. Modules run after the page is parsed,
 * so folium's set-up script (a classic script) has made the map by then.
 */

import { start, view } from "./command_view/main.js";
import { pageConfig, pageMap } from "./page.js";
import { runWorkbench } from "./workbench.js";

const cfg = pageConfig();
start(pageMap(cfg), cfg);
runWorkbench(view);

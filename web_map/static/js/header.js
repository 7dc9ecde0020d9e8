/* Who is logged in (a shared workstation must say so), logging out, and "my area": a
 * scoped user's way back to its own township or community after looking elsewhere. */

import { api, post } from "./common.js";

/** The caller (GET /api/auth/me), or null when the service does not say. */
export async function whoAmI(view) {
  const cfg = view.config();
  if (!cfg.features.includes("me")) return null;
  if (cfg.me) return cfg.me; // carried in the page: no round trip before the queues
  try {
    return await api("/api/auth/me");
  } catch (err) {
    return null;
  }
}

export function showUser(view, me) {
  const cfg = view.config();
  const t = cfg.labels;
  if (!me || me.kind !== "user") return; // no login (authentication off): nobody to show
  const box = document.getElementById("gm-user");
  document.getElementById("gm-user-name").textContent = `${me.display_name || me.name} · ${t[`role_${me.role}`] || me.role}`;
  box.hidden = false;
  const logout = document.getElementById("gm-logout");
  logout.hidden = !cfg.features.includes("logout");
  logout.addEventListener("click", async () => {
    logout.disabled = true;
    try {
      await post("/api/auth/logout", {});
    } catch (err) {
      /* the session may be gone already: the login page is where to go either way */
    } finally {
      logout.disabled = false; // the page is leaving; a navigation refused leaves it usable
    }
    window.location.assign("/login");
  });
  // A user scoped below the county gets a way back to its own areas (the page's first view).
  const scoped = (me.areas || []).some((a) => a.layer !== "county");
  if (scoped && !cfg.fitToCounty) {
    const button = document.getElementById("gm-my-area");
    button.hidden = false;
    button.addEventListener("click", () => view.map().fitBounds(cfg.bounds, { animate: false }));
  }
}

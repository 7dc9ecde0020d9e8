/* Alerts by whistle: a new event of an alerting priority (应急哨 and 重点哨 unless the user
 * chose otherwise) or a new overdue raises a toast that stays until someone acknowledges
 * it (POST /api/events/{id}/acknowledge puts who and when on the timeline), and a sound.
 *
 * Which priorities alert is a per-user choice kept in this browser's localStorage (under
 * the user's login name); the sound too, switched on by an explicit click: browsers let a
 * page play sound only after a gesture, and the click is that gesture. */

import { h, post, errorText, fill } from "./common.js";

// Toasts on screen at once, the newest: more would bury the map the operator works on
// (a flood brings dozens). The rest stay pending, pinned in their queues, and are counted.
const SHOWN = 4;

export class Alerts {
  constructor(view, user) {
    this.view = view;
    this.cfg = view.config();
    this.t = this.cfg.labels;
    this.user = user || "anonymous";
    this.box = document.getElementById("gm-alerts");
    this.toasts = new Map(); // event id -> toast node
    this.heard = new Set(); // event ids (and reasons) already sounded
    this.dismissed = new Set(); // closed here by a role that may not acknowledge
    this.audio = null;
    this.onAcknowledged = () => {};
    this.soundButton = document.getElementById("gm-sound");
    this.soundButton.addEventListener("click", () => this.setSound(!this.soundOn()));
    this.showSoundState();
    // A page reloaded with sound on needs one gesture before it may play: the first one.
    const unlock = () => {
      if (this.soundOn()) this.context();
      document.removeEventListener("pointerdown", unlock, true);
    };
    document.addEventListener("pointerdown", unlock, true);
    this.initSettings();
  }

  key(name) {
    return `gridmap.${name}.${this.user}`;
  }

  read(name, fallback) {
    try {
      const v = window.localStorage.getItem(this.key(name));
      return v === null ? fallback : JSON.parse(v);
    } catch (err) {
      return fallback; // storage refused (private mode): the defaults
    }
  }

  write(name, value) {
    try {
      window.localStorage.setItem(this.key(name), JSON.stringify(value));
    } catch (err) {
      /* not remembered, still applied for this page */
    }
  }

  priorities() {
    // The server's default until the user chooses (cfg.constants: web_map/constants.py).
    const defaults = this.cfg.constants.alertPriorities;
    const chosen = this.read("alert-priorities", defaults);
    return Array.isArray(chosen) ? chosen.filter((p) => this.cfg.constants.priorities.includes(p)) : defaults;
  }

  initSettings() {
    const chosen = new Set(this.priorities());
    for (const box of document.querySelectorAll('input[name="gm-alert-priority"]')) {
      box.checked = chosen.has(box.value);
      box.addEventListener("change", () => {
        const now = [...document.querySelectorAll('input[name="gm-alert-priority"]:checked')].map((b) => b.value);
        this.write("alert-priorities", now);
        if (this.onSettingsChanged) this.onSettingsChanged();
      });
    }
  }

  soundOn() {
    return this.read("sound", false) === true;
  }

  setSound(on) {
    this.write("sound", on);
    if (on) this.context(); // created inside the click: allowed to play from now on
    this.showSoundState();
    if (on) this.beep();
  }

  showSoundState() {
    const on = this.soundOn();
    this.soundButton.dataset.on = on ? "true" : "false";
    this.soundButton.textContent = on ? this.t.sound_disable : this.t.sound_enable;
  }

  context() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!this.audio) {
      try {
        this.audio = new Ctx();
      } catch (err) {
        return null;
      }
    }
    if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
    return this.audio;
  }

  beep() {
    if (!this.soundOn()) return;
    const ctx = this.context();
    if (!ctx) return; // no audio on this machine: the toast still shows
    try {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.4);
    } catch (err) {
      /* sound is a help, the toast is the alert */
    }
  }

  /** The alerts pending on the server now: new ones get a toast (and a sound), those
   * acknowledged meanwhile (here or on another screen) lose theirs. */
  sync(alerts) {
    const pending = new Map(alerts.map((a) => [String(a.id), a]));
    for (const [id, node] of this.toasts) {
      if (!pending.has(id)) {
        node.remove();
        this.toasts.delete(id);
      }
    }
    let fresh = false;
    for (const a of [...alerts].reverse()) {
      const id = String(a.id);
      const heardKey = `${id}:${a.reason}`;
      if (!this.heard.has(heardKey)) {
        this.heard.add(heardKey);
        fresh = true;
      }
      if (this.dismissed.has(heardKey)) continue;
      const old = this.toasts.get(id);
      if (old && old.dataset.reason === a.reason) continue;
      if (old) old.remove();
      const node = this.toast(a);
      this.toasts.set(id, node);
      this.box.prepend(node);
    }
    // Only the newest few on screen; the rest wait pinned in their queues, counted here.
    const toasts = [...this.box.querySelectorAll(".gm-alert")];
    toasts.forEach((node, i) => (node.hidden = i >= SHOWN));
    this.showMore(toasts.length - SHOWN);
    if (fresh) this.beep();
  }

  /** "N more alerts to acknowledge": the toasts not shown, under the ones that are. */
  showMore(n) {
    let more = document.getElementById("gm-alerts-more");
    if (n <= 0) {
      if (more) more.remove();
      return;
    }
    if (!more) more = h("div", { id: "gm-alerts-more", className: "gm-alerts-more", role: "status" });
    more.textContent = fill(this.t.alerts_more, { n });
    this.box.append(more); // always last
  }

  /** One toast gone: the next waiting one shows in its place. */
  reveal() {
    const toasts = [...this.box.querySelectorAll(".gm-alert")];
    toasts.forEach((node, i) => (node.hidden = i >= SHOWN));
    this.showMore(toasts.length - SHOWN);
  }

  toast(a) {
    const t = this.t;
    const id = String(a.id);
    const title = a.reason === "overdue" ? t.alert_overdue : fill(t.alert_new, { priority: t[`priority_${a.priority}`] || "" });
    const where = [this.view.categoryName(a.category), a.address || ""].filter(Boolean).join(" · ");
    const message = h("span", { className: "gm-alert-message", role: "status" });
    // A role that may not acknowledge (a team member) closes the toast on its own screen.
    const mayAck = this.cfg.features.includes("acknowledge");
    const ack = h("button", { type: "button", className: "gm-alert-ack" }, mayAck ? t.alert_ack : t.panel_close);
    const node = h(
      "div",
      { className: `gm-alert gm-alert-${a.reason} prio-${a.priority}`, role: "alert", dataset: { eventId: id, reason: a.reason } },
      h(
        "button",
        { type: "button", className: "gm-alert-open", onclick: () => this.view.goToEvent(id, a.lat !== null && a.lon !== null ? L.latLng(a.lat, a.lon) : null) },
        `${title}${this.cfg.lang === "zh" ? "：" : ": "}#${id} ${where}`,
      ),
      ack,
      message,
    );
    ack.addEventListener("click", async () => {
      if (!mayAck) {
        node.remove();
        this.toasts.delete(id);
        this.dismissed.add(`${id}:${a.reason}`); // on this screen only: the alert stays pending
        this.reveal();
        return;
      }
      ack.disabled = true;
      try {
        await post(`/api/events/${encodeURIComponent(id)}/acknowledge`, {});
        node.remove();
        this.toasts.delete(id);
        this.reveal();
        this.onAcknowledged(id);
      } catch (err) {
        message.textContent = errorText(err, t);
      } finally {
        ack.disabled = false; // a refusal leaves the button usable
      }
    });
    return node;
  }
}

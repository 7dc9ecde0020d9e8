/* Values as the operator reads them: times, durations, masked numbers. */

import { cfg } from "./state.js";

/** The first defined value among dotted paths of obj ("routing.team.name"). */
export function pick(obj, ...paths) {
  for (const path of paths) {
    let v = obj;
    for (const part of path.split(".")) {
      if (v === null || v === undefined) break;
      v = v[part];
    }
    if (v !== null && v !== undefined && v !== "") return v;
  }
  return null;
}

/** 138****5678: the map never shows a reporter's full number, whatever the API sends. */
export function maskPhone(phone) {
  if (!phone) return null;
  const s = String(phone);
  if (s.includes("*")) return s;
  const digits = s.replace(/\D/g, "");
  if (digits.length < 7) return "****";
  return `${digits.slice(0, 3)}****${digits.slice(-4)}`;
}

export function fmtTime(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(cfg.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}

export function fmtDuration(ms) {
  const m = Math.floor(Math.abs(ms) / 60000);
  const d = Math.floor(m / 1440);
  const hh = Math.floor((m % 1440) / 60);
  const mm = m % 60;
  return (d ? `${d}d ` : "") + `${String(hh).padStart(2, "0")}:${String(mm).padStart(2, "0")}`;
}

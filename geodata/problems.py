"""A boundary validation's report: each problem with where it is (a point or a box) and
its measures, in words a planner reads, and the whole report as JSON or as text. The
checks that find the problems are `geodata.validation`."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import shapely

Severity = Literal["error", "warning"]

_REASON_POINT = re.compile(r"\[\s*(-?[0-9.eE+-]+)\s+(-?[0-9.eE+-]+)\s*\]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one feature (or one place), in words a planner understands."""

    kind: str
    layer: str | None
    code: str | None
    name: str | None
    message: str
    where: dict[str, list[float]]  # {"point": [lon, lat]} or {"bbox": [w, s, e, n]}
    severity: Severity = "error"
    # Measured figures: "area_m2", "width_m", "reach_m" (as in the message, unrounded).
    measures: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "severity": self.severity,
            "layer": self.layer,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "where": self.where,
        }
        if self.measures:
            out["measures"] = dict(self.measures)
        return out


@dataclass
class ValidationReport:
    problems: list[Problem]
    features: int
    skipped: list[str] = field(default_factory=list)  # checks not run, and why
    # Accepted exceptions, not problems: {"layer", "code", "name", "rule", "reason", ...}.
    exceptions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings do not block an import)."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def counts(self) -> dict[str, int]:
        """Number of problems of each kind."""
        return dict(Counter(p.kind for p in self.problems))

    def of_kind(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "features": self.features,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": self.counts(),
            "problems": [p.to_json() for p in self.problems],
            "skipped": list(self.skipped),
            "exceptions": list(self.exceptions),
        }

    def to_text(self) -> str:
        head = (
            f"Checked {self.features} features: {len(self.errors)} error(s), "
            f"{len(self.warnings)} warning(s)."
        )
        lines = [head if self.problems else head + " No problems found."]
        if self.problems:
            counts = ", ".join(f"{k} {n}" for k, n in sorted(self.counts().items()))
            lines.append(f"By kind: {counts}.")
        for p in self.problems:
            who = " ".join(x for x in (p.layer, p.code, p.name) if x) or "(no code)"
            where = _where_text(p.where)
            lines.append(f"{p.severity.upper():7} {p.kind}: {who}: {p.message} [{where}]")
        lines.extend(f"NOT CHECKED: {s}" for s in self.skipped)
        if self.exceptions:
            lines.append(f"{len(self.exceptions)} accepted exception(s), each with its reason.")
        return "\n".join(lines)


def area_text(m2: float) -> str:
    if m2 >= 100:
        return f"{m2:.0f} m²"
    if m2 >= 1:
        return f"{m2:.1f} m²"
    return f"{m2:.3g} m²"


def length_text(m: float) -> str:
    return f"{m:.1f} m" if m >= 1 else f"{m * 100:.1f} cm"


def _r(v: float) -> float:
    return round(float(v), 7)


def where_box(geom: Any) -> dict[str, list[float]]:
    if geom is None or shapely.is_empty(geom):
        return {}
    return {"bbox": [_r(v) for v in shapely.bounds(geom)]}


def where_reason(reason: str, geom: Any) -> dict[str, list[float]]:
    """Where GEOS's reason for an invalid geometry says it is ("Self-intersection[x y]"),
    else the geometry's box."""
    m = _REASON_POINT.search(reason)
    if m is None:
        return where_box(geom)
    return {"point": [_r(float(m.group(1))), _r(float(m.group(2)))]}


def where_point(geom: Any) -> dict[str, list[float]]:
    if geom is None or shapely.is_empty(geom):
        return {}
    try:
        p = shapely.point_on_surface(geom)
    except shapely.errors.GEOSException:
        return where_box(geom)
    return {"point": [_r(shapely.get_x(p)), _r(shapely.get_y(p))]}


def _where_text(where: dict[str, list[float]]) -> str:
    if "point" in where:
        return "at {:.7f}, {:.7f}".format(*where["point"])
    if "bbox" in where:
        return "within {:.7f}, {:.7f} – {:.7f}, {:.7f}".format(*where["bbox"])
    return "no location"

"""The one import core: boundaries → validated → staged as a new version → (maybe) kept.

Used by `gridmap boundaries import`, the demo loaders and the boundary editor's upload.
A file holds the whole of the layers it contains for its county: an area of those layers
that the file does not mention is removed in the new version. Nothing is kept unless
`commit=True`: a dry run stages inside a savepoint, reports the diff, and rolls back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy.orm import Session

from geodata.export import areas_frame
from geodata.normalize import Normalised, normalise
from geodata.problems import ValidationReport
from geodata.validation import validate_areas
from gridmap.boundaries import AreaRow, VersionDiff, diffs
from gridmap.boundaries import versions as boundaries
from gridmap.errors import InvalidInput, ValidationFailed
from gridmap.models import LAYERS


@dataclass
class ImportResult:
    version_id: int | None  # None for a dry run
    committed: bool
    report: ValidationReport
    diff: VersionDiff
    repairs: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version_id,
            "committed": self.committed,
            "validation": self.report.to_json(),
            "diff": self.diff.to_dict(),
            "repairs": [r.to_json() for r in self.repairs],
        }

    def to_text(self) -> str:
        head = (
            f"version {self.version_id} written (staged; activate it with "
            f"`gridmap boundaries activate {self.version_id}`)"
            if self.committed
            else "dry run: nothing written (add --commit to keep this version)"
        )
        parts = [head, self.report.to_text(), self.diff.to_text()]
        if self.repairs:
            parts.append(f"{len(self.repairs)} repairs:")
            parts.extend(f"  {r.to_json()}" for r in self.repairs)
        return "\n".join(parts)


def county_code_of(gdf: gpd.GeoDataFrame, explicit: str | None) -> str:
    """The county the rows belong to: given, or the code of the file's county row."""
    if explicit:
        return explicit
    if "county_code" in gdf.columns and gdf["county_code"].notna().any():
        values = set(gdf["county_code"].dropna().astype(str))
        if len(values) == 1:
            return values.pop()
    if "layer" in gdf.columns:
        counties = gdf.loc[gdf["layer"] == "county", "code"].dropna().astype(str).unique()
        if len(counties) == 1:
            return str(counties[0])
    raise InvalidInput(
        "cannot tell which county these boundaries belong to: pass --county CODE "
        "(or include the county's own row with layer 'county')"
    )


def _rows(gdf: gpd.GeoDataFrame, county_code: str) -> list[AreaRow]:
    rows = []
    optional = ("parent_code", "households", "kind")
    extra = [
        c
        for c in gdf.columns
        if c not in ("code", "name", "layer", "geometry", "county_code", "attributes", *optional)
    ]
    for rec in gdf.itertuples(index=False):
        values = rec._asdict()
        given = values.get("attributes")
        attributes = dict(given) if isinstance(given, dict) else {}
        attributes |= {
            k: _jsonable(values[k])
            for k in extra
            if values.get(k) is not None and not _isna(values[k])
        }
        households = values.get("households")
        rows.append(
            AreaRow(
                county_code=county_code,
                layer=str(values["layer"]),
                code=str(values["code"]),
                name=str(values.get("name") or values["code"]),
                geom=values["geometry"],
                parent_code=_str_or_none(values.get("parent_code")),
                households=None if households is None or _isna(households) else int(households),
                kind=_str_or_none(values.get("kind")),
                attributes=attributes,
            )
        )
    return rows


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _str_or_none(value: Any) -> str | None:
    return None if value is None or _isna(value) else str(value)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return value.item() if hasattr(value, "item") else str(value)


def import_boundaries(
    session: Session,
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    created_by: str,
    county_code: str | None = None,
    layer: str | None = None,
    note: str = "",
    commit: bool = False,
    fix_invalid: bool = False,
    households_range: tuple[int, int] = (30, 50),
    force: bool = False,
) -> ImportResult:
    """Validate and stage `gdf` (standard columns, EPSG:4326) as a new version.

    Refused with `ValidationFailed` (nothing written) when the report has errors, unless
    `force` (the planner's explicit, recorded exception). With `commit=False` the
    version is staged in a savepoint and rolled back: the diff is what would change.
    """
    if gdf.empty:
        raise InvalidInput("the file has no features")
    gdf = gdf.copy()
    if layer is not None:
        gdf["layer"] = layer
    if "layer" not in gdf.columns or gdf["layer"].isna().any():
        raise InvalidInput(
            "each feature needs a layer: give --layer (county, township, community, grid, …) "
            "or a 'layer' column"
        )
    unknown = sorted(set(gdf["layer"]) - set(LAYERS))
    if unknown:
        raise InvalidInput(f"unknown layer(s) {unknown}; known: {', '.join(LAYERS)}")
    county = county_code_of(gdf, county_code)
    normalised: Normalised = normalise(gdf, fix_invalid=fix_invalid)
    gdf = normalised.gdf

    # Parents a file does not carry are taken from the active version (a file of grids
    # is checked against the communities already stored).
    parents = _stored_parents(session, gdf, county)
    report = validate_areas(gdf, parents=parents, households_range=households_range)
    if not report.ok and not force:
        raise ValidationFailed(
            f"the boundaries have {len(report.problems)} problems; nothing was written",
            details={"report": report.to_json(), "problems": report.to_json()["problems"]},
        )

    savepoint = session.begin_nested()
    version = boundaries.create_version(
        session,
        name=name,
        note=note + (" [imported despite validation problems]" if force and not report.ok else ""),
        created_by=created_by,
        county_code=county,
        status="staged",
    )
    boundaries.stage_areas(session, version_id=version.id, rows=_rows(gdf, county))
    boundaries.stage_layer_replacement(
        session, version_id=version.id, county_code=county, layers=sorted(set(gdf["layer"]))
    )
    diff = diffs.diff_version(session, version_id=version.id)
    if commit:
        version.summary = {"validation": report.to_json().get("counts", {}), **diff.by_layer()}
        savepoint.commit()
        return ImportResult(version.id, True, report, diff, normalised.repairs)
    savepoint.rollback()
    return ImportResult(None, False, report, diff, normalised.repairs)


def _stored_parents(
    session: Session, gdf: gpd.GeoDataFrame, county_code: str
) -> gpd.GeoDataFrame | None:
    """Active-version areas named as parents but absent from the file."""
    if "parent_code" not in gdf.columns:
        return None
    wanted = set(gdf["parent_code"].dropna().astype(str)) - set(gdf["code"].astype(str))
    active = boundaries.active_version(session)
    if not wanted or active is None:
        return None
    records = [
        r
        for r in boundaries.areas_in_version(session, version_id=active.id, county_code=county_code)
        if r.code in wanted
    ]
    if not records:
        return None
    return areas_frame(records)

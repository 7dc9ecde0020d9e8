"""OGC API – Features (Part 1 core + GeoJSON) over the active boundary version's layers,
so QGIS and GDAL's OAPIF driver read gridmap's layers directly; each caller gets only the
areas of its jurisdiction (gridmap.access.scope), filtered in the query."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.auth import PrincipalDep
from api.deps import ReadSessionDep as SessionDep  # may read from the replica
from gridmap.access import AreaScope
from gridmap.access import scope as area_scope
from gridmap.boundaries import features
from gridmap.boundaries import versions as boundaries
from gridmap.errors import NotFound
from gridmap.models import LAYERS

router = APIRouter(prefix="/ogc", tags=["OGC API – Features"])

GEOJSON = "application/geo+json"
TITLES = {
    "county": "县（市、区） County",
    "township": "乡镇（街道） Townships",
    "community": "社区 / 行政村 Communities",
    "grid": "基础网格 Grids",
    "micro_grid": "微网格 Micro-grids",
    "enforcement_zone": "执法片区 Enforcement zones",
    "dedicated_grid": "专属网格 Dedicated grids",
}
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# A boundary version id (a database integer); default: the active version.
VersionParam = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _version(session: SessionDep, version: int | None) -> int:
    if version is not None:
        boundaries.get_version(session, version_id=version)
        return version
    active = boundaries.active_version(session)
    if active is None:
        raise NotFound("no boundary version is active yet")
    return active.id


def _scope(session: SessionDep, principal: PrincipalDep, version: int) -> AreaScope:
    return area_scope.scope_for(session, jurisdiction=principal.jurisdiction, version_id=version)


def _layer(layer: str) -> str:
    if layer not in LAYERS:
        raise NotFound(f"no collection {layer!r}; collections: {', '.join(LAYERS)}")
    return layer


@router.get("", summary="Landing page")
def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "title": "gridmap",
        "description": "Grids, communities, townships and enforcement zones",
        "links": [
            {"href": base, "rel": "self", "type": "application/json", "title": "this document"},
            {
                "href": str(request.base_url) + "openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "the API",
            },
            {
                "href": f"{base}/conformance",
                "rel": "conformance",
                "type": "application/json",
                "title": "conformance",
            },
            {
                "href": f"{base}/collections",
                "rel": "data",
                "type": "application/json",
                "title": "collections",
            },
        ],
    }


@router.get("/conformance", summary="Conformance classes")
def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def _collection(
    request: Request, session: SessionDep, layer: str, version: int, scope: AreaScope
) -> dict[str, Any]:
    base = _base(request)
    extent = features.layer_extent(session, layer=layer, version_id=version, scope=scope)
    out: dict[str, Any] = {
        "id": layer,
        "title": TITLES[layer],
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": f"{base}/collections/{layer}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{layer}/items", "rel": "items", "type": GEOJSON},
        ],
    }
    if extent:
        out["extent"] = {"spatial": {"bbox": [list(extent)], "crs": CRS84}}
    return out


@router.get("/collections", summary="The layers")
def collections(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    version: VersionParam = None,
) -> dict[str, Any]:
    v = _version(session, version)
    scope = _scope(session, principal, v)
    base = _base(request)
    return {
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
        "collections": [_collection(request, session, layer, v, scope) for layer in LAYERS],
    }


@router.get("/collections/{layer}", summary="One layer")
def collection(
    layer: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    version: VersionParam = None,
) -> dict[str, Any]:
    v = _version(session, version)
    return _collection(request, session, _layer(layer), v, _scope(session, principal, v))


@router.get("/collections/{layer}/items", summary="Features of a layer (GeoJSON)")
def items(
    layer: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    bbox: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
    version: VersionParam = None,
) -> JSONResponse:
    layer = _layer(layer)
    v = _version(session, version)
    box = features.parse_bbox(bbox)
    feats, matched = features.layer_features(
        session,
        layer=layer,
        version_id=v,
        bbox=box,
        limit=limit,
        offset=offset,
        scope=_scope(session, principal, v),
    )
    here = f"{_base(request)}/collections/{layer}/items"
    keep = {k: val for k, val in request.query_params.items() if k not in ("offset", "limit")}
    query = "".join(f"&{k}={val}" for k, val in keep.items())
    links = [
        {"href": f"{here}?limit={limit}&offset={offset}{query}", "rel": "self", "type": GEOJSON}
    ]
    if offset + len(feats) < matched:
        links.append(
            {
                "href": f"{here}?limit={limit}&offset={offset + limit}{query}",
                "rel": "next",
                "type": GEOJSON,
            }
        )
    body = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": matched,
        "numberReturned": len(feats),
        "links": links,
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/collections/{layer}/items/{area_id}", summary="One feature")
def item(
    layer: str,
    area_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    version: VersionParam = None,
) -> JSONResponse:
    """One area by id; outside the caller's areas it answers 404, like an unknown id."""
    layer = _layer(layer)
    scope = area_scope.EVERYWHERE
    if not principal.jurisdiction.everywhere:
        # The scope is the version's (the active one unless asked): codes keep their meaning
        # across versions, so an older row of an area in scope stays in scope.
        scope = _scope(session, principal, _version(session, version))
    found = features.feature(session, area_id=area_id, version_id=version, scope=scope)
    if found is None or found["properties"]["layer"] != layer:
        raise NotFound(f"no feature {area_id} in {layer}")
    return JSONResponse(found, media_type=GEOJSON)

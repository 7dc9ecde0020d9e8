"""The layers over OGC API – Features: GDAL's OAPIF driver reads what the database holds."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from gridmap.access import accounts
from gridmap.boundaries import versions as boundaries
from gridmap.settings import Settings
from tests import factories as f
from tests.servers import running_service


@pytest.fixture
def county(session: Session) -> f.SmallCounty:
    county = f.load_small_county(session)
    session.commit()
    return county


@pytest.fixture
def client(db_url: str, county: f.SmallCounty, tmp_path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db_url, home=tmp_path))) as c:
        yield c


def test_collections_list_every_layer_with_its_extent(client: TestClient) -> None:
    body = client.get("/ogc/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert {"county", "township", "community", "grid", "enforcement_zone"} <= set(ids)
    grid = next(c for c in body["collections"] if c["id"] == "grid")
    assert grid["extent"]["spatial"]["bbox"][0] == pytest.approx([112.90, 35.78, 112.94, 35.82])
    assert client.get("/ogc/conformance").json()["conformsTo"]
    assert client.get("/ogc/collections/nothing/items").status_code == 404


def test_items_page_with_next_links_and_filter_by_bbox(client: TestClient) -> None:
    first = client.get("/ogc/collections/grid/items", params={"limit": 5})
    assert first.headers["content-type"].startswith("application/geo+json")
    page = first.json()
    assert page["numberMatched"] == 8 and page["numberReturned"] == 5
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    rest = client.get(nxt.replace("http://testserver", "")).json()
    assert rest["numberReturned"] == 3
    assert not any(link["rel"] == "next" for link in rest["links"])
    props = page["features"][0]["properties"]
    assert set(props) >= {"code", "name", "parent_code", "households", "version"}
    # RFC 7946: exterior rings counter-clockwise.
    ring = page["features"][0]["geometry"]["coordinates"][0][0]
    area2 = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring))
    assert area2 > 0
    west = client.get("/ogc/collections/grid/items", params={"bbox": "112.90,35.78,112.905,35.79"})
    assert [f_["properties"]["code"] for f_ in west.json()["features"]] == [f"{f.C1}001"]
    one = page["features"][0]["id"]
    assert client.get(f"/ogc/collections/grid/items/{one}").json()["id"] == one
    assert client.get("/ogc/collections/township/items/{one}").status_code in (404, 422)


def test_gdal_oapif_reads_every_layer_as_stored(
    db_url: str, county: f.SmallCounty, session: Session, tmp_path
) -> None:
    with running_service(db_url, tmp_path) as base:
        for layer in (
            "county",
            "township",
            "community",
            "grid",
            "enforcement_zone",
            "dedicated_grid",
        ):
            df = pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer=layer)
            stored = boundaries.areas_in_version(
                session, version_id=county.version_id, layers=[layer]
            )
            assert sorted(df["code"]) == sorted(a.code for a in stored), layer
            by_code = {a.code: a for a in stored}
            for row in df.itertuples():
                assert row.geometry.equals_exact(by_code[row.code].geom, 1e-7), row.code


def test_a_gis_client_reads_the_layers_with_a_bearer_token_through_gdal(
    db_url: str, county: f.SmallCounty, session: Session, tmp_path
) -> None:
    """What docs/gis-clients.md tells a county's GIS staff: GDAL (and so QGIS and ogr2ogr)
    sends the integration token with GDAL_HTTP_AUTH=BEARER, and reads only the token's
    areas; without the token the service refuses the read."""
    _, secret = accounts.create_token(
        session, name="county-gis", role="integration", area_codes=[f.T1]
    )
    session.commit()
    env = {"GRIDMAP_AUTH_REQUIRED": "true"}
    with running_service(db_url, tmp_path, env=env) as base:
        with pytest.raises(pyogrio.errors.DataSourceError):
            pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer="grid")
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": secret})
        try:
            grids = pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer="grid")
        finally:
            pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
    west = sorted(code for code, (community, *_) in f.GRIDS.items() if community in (f.C1, f.C2))
    assert sorted(grids["code"]) == west

"""Photos are decoded, not sniffed: forged images are refused at both doors, huge pictures
are refused before decoding, and what is stored is a clean re-encoded copy whose camera
GPS is reported as a field, never kept in the file."""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image, TiffImagePlugin
from sqlalchemy import text

from api.app import create_app
from gridmap.db import downgrade, make_engine, migrate
from gridmap.errors import PayloadTooLarge, UnsupportedMedia
from gridmap.events.photos import clean_photo
from gridmap.settings import Settings
from tests.factories import G1, SmallCounty

MAX_BYTES = 2 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
HTML = b"<html><script>alert(document.cookie)</script></html>"
FORGED = {
    "a PNG signature before garbage": PNG_SIGNATURE + bytes(range(256)) * 4,
    "JPEG magic before HTML": JPEG_MAGIC + HTML,
    "a PNG signature alone": PNG_SIGNATURE,
    "WebP magic before HTML": b"RIFF\x00\x01\x00\x00WEBPVP8 " + HTML,
}
# Gaoping's city centre, as a phone's GPS would write it (WGS84).
LON, LAT = 112.9239167, 35.7974722


def _rational(value: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    """Decimal degrees as EXIF's degrees, minutes, seconds."""
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction((value - degrees - minutes / 60) * 3600).limit_denominator(10_000)
    return (
        TiffImagePlugin.IFDRational(degrees, 1),
        TiffImagePlugin.IFDRational(minutes, 1),
        TiffImagePlugin.IFDRational(seconds.numerator, seconds.denominator),
    )


def phone_jpeg(*, orientation: int = 6, gps: bool = True) -> bytes:
    """A real JPEG as a phone writes it: 40 × 20 pixels stored sideways (orientation 6:
    turn 90° clockwise to view), with the camera's make, model, serial and GPS in EXIF."""
    image = Image.new("RGB", (40, 20), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, 20, 20))  # left half blue: shows which way it turned
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.Base.BodySerialNumber] = "SN-0042"
    exif[ExifTags.Base.Orientation] = orientation
    if gps:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: _rational(LAT),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: _rational(LON),
        }
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95, comment=b"taken at home, Room 301")
    return out.getvalue()


def png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret: the reporter's address")
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 128, 0, 255)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A PNG of width × height black pixels in a few kilobytes (a decompression bomb):
    written by hand, as Pillow would need the whole picture in memory to write it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + 1-bit pixels
    data = b"".join(compressor.compress(row) for _ in range(min(height, 2000)))
    data += compressor.flush()
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


_FORMAT_INFO = ("dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density", "progressive")


def metadata_of(data: bytes) -> dict[str, Any]:
    with Image.open(io.BytesIO(data)) as image:
        return {
            "exif": dict(image.getexif()),
            # What the format itself says (JFIF's header, the resolution) is not metadata.
            "info": {k: v for k, v in image.info.items() if k not in _FORMAT_INFO},
            "size": image.size,
            "format": image.format,
            "left_top": image.convert("RGB").getpixel((0, 0)),
        }


# --- the cleaning itself ---------------------------------------------------------------


@pytest.mark.parametrize("name", FORGED)
def test_magic_bytes_alone_are_not_an_image(name: str) -> None:
    with pytest.raises(UnsupportedMedia, match=r"photos\[2\]: .*does not decode") as caught:
        clean_photo(FORGED[name], max_bytes=MAX_BYTES, where={"field": "photos[2]"})
    assert caught.value.details["field"] == "photos[2]"


def test_a_phone_photo_is_stored_upright_without_metadata_and_its_gps_reported() -> None:
    original = phone_jpeg()
    assert metadata_of(original)["exif"]  # the test's photo really carries EXIF
    clean = clean_photo(original, max_bytes=MAX_BYTES)
    assert clean.media_type == "image/jpeg"
    assert clean.gps is not None
    assert (clean.gps.lon, clean.gps.lat) == pytest.approx((LON, LAT), abs=1e-5)
    stored = metadata_of(clean.data)
    assert stored["format"] == "JPEG"
    assert stored["exif"] == {}  # no make, model, serial, orientation or GPS
    assert "exif" not in stored["info"] and "comment" not in stored["info"]
    for secret in (b"PhoneMaker", b"SN-0042", b"Room 301", b"GPS"):
        assert secret not in clean.data
    # Turned as the orientation said: 20 wide, 40 high, the blue half now on top.
    assert stored["size"] == (20, 40) == (clean.width, clean.height)
    red, _green, blue = stored["left_top"]
    assert blue > 150 and red < 100


def test_a_png_loses_its_text_chunks_and_a_photo_without_gps_reports_none() -> None:
    clean = clean_photo(png_with_text(), max_bytes=MAX_BYTES)
    assert clean.media_type == "image/png" and clean.gps is None
    assert b"secret" not in clean.data and metadata_of(clean.data)["info"] == {}
    assert clean_photo(phone_jpeg(gps=False), max_bytes=MAX_BYTES).gps is None


def test_a_picture_with_too_many_pixels_is_refused_before_it_is_decoded() -> None:
    bomb = huge_png(50_000, 50_000)  # 2.5 gigapixels in a few kilobytes
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge, match=r"photos\[0\]: .*pixels") as caught:
        clean_photo(bomb, max_bytes=MAX_BYTES, where={"field": "photos[0]"})
    assert caught.value.details["field"] == "photos[0]"
    with pytest.raises(PayloadTooLarge, match="300 × 300 pixels") as caught:
        clean_photo(huge_png(300, 300), max_bytes=MAX_BYTES, max_pixels=80_000)
    assert caught.value.details == {"pixels": 90_000, "limit": 80_000}
    assert clean_photo(huge_png(200, 200), max_bytes=MAX_BYTES, max_pixels=80_000).width == 200


def test_a_truncated_photo_is_refused() -> None:
    whole = phone_jpeg()
    with pytest.raises(UnsupportedMedia, match="does not decode"):
        clean_photo(whole[: len(whole) // 2], max_bytes=MAX_BYTES)


# --- both doors ------------------------------------------------------------------------


@pytest.fixture
def client(small_county_db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=small_county_db_url, home=tmp_path, photo_max_bytes=MAX_BYTES)
    with TestClient(create_app(settings)) as c:
        yield c


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ticket(external_id: str, photos: list[str]) -> dict[str, Any]:
    lon, lat = SmallCounty.grid_center(G1)
    return {
        "source": "app",
        "external_id": external_id,
        "category": "ROAD",
        "description": "路面塌陷",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": "2026-12-01T09:30:00+08:00",
        "photos": photos,
    }


def stored_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "photos").rglob("*") if p.is_file())


def test_both_doors_refuse_forged_images_naming_the_photo(
    client: TestClient, tmp_path: Path
) -> None:
    for i, name in enumerate(FORGED):
        photos = [b64(phone_jpeg()), b64(FORGED[name])]
        answer = client.post("/api/events", json=ticket(f"forged-{i}", photos))
        assert answer.status_code == 415, (name, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "unsupported_media" and error["message"].startswith("photos[1]:")
        assert error["details"]["field"] == "photos[1]"
    assert stored_files(tmp_path) == []  # the event was refused whole

    event_id = client.post("/api/events", json=ticket("plain", [])).json()["id"]
    for name, data in FORGED.items():
        answer = client.post(
            f"/api/events/{event_id}/photos", files={"file": ("scene.png", data, "image/png")}
        )
        assert answer.status_code == 415, (name, answer.text)
        assert "'scene.png'" in answer.json()["error"]["message"]
    bomb = client.post(
        f"/api/events/{event_id}/photos",
        files={"file": ("bomb.png", huge_png(50_000, 50_000), "image/png")},
    )
    assert bomb.status_code == 413 and "pixels" in bomb.json()["error"]["message"]
    assert client.get(f"/api/events/{event_id}/photos").json()["photos"] == []
    assert stored_files(tmp_path) == []


def test_both_doors_store_the_clean_copy_and_report_the_camera_gps(
    client: TestClient, tmp_path: Path
) -> None:
    # A phone's report with its photo inside the JSON.
    reported = client.post("/api/events", json=ticket("phone-gps", [b64(phone_jpeg())]))
    assert reported.status_code == 201, reported.text
    event_id = reported.json()["id"]
    # And one more photo attached afterwards, as a file.
    attached = client.post(
        f"/api/events/{event_id}/photos",
        files={"file": ("scene.png", png_with_text(), "image/png")},
    )
    assert attached.status_code == 201, attached.text
    assert attached.json()["gps"] is None
    second = client.post(
        f"/api/events/{event_id}/photos",
        files={"file": ("again.jpg", phone_jpeg(orientation=1), "image/jpeg")},
    )
    assert second.json()["gps"] == pytest.approx({"lon": LON, "lat": LAT}, abs=1e-5)

    photos = client.get(f"/api/events/{event_id}/photos").json()["photos"]
    assert [p["media_type"] for p in photos] == ["image/jpeg", "image/png", "image/jpeg"]
    assert photos[0]["gps"] == pytest.approx({"lon": LON, "lat": LAT}, abs=1e-5)
    assert photos[1]["gps"] is None
    for photo in photos:
        served = client.get(photo["url"]).content
        assert metadata_of(served)["exif"] == {}
        assert b"PhoneMaker" not in served and b"secret" not in served
    assert metadata_of(client.get(photos[0]["url"]).content)["size"] == (20, 40)  # upright
    # The place is kept in the event's timeline too, where the event may use it.
    log = client.get(f"/api/events/{event_id}/log").json()["entries"]
    places = [e["data"].get("gps") for e in log if e["action"] == "photo"]
    assert places[0] == pytest.approx({"lon": LON, "lat": LAT}, abs=1e-5)
    assert places[1] is None
    # What is on disk is the clean copy only.
    for path in stored_files(tmp_path):
        assert metadata_of(path.read_bytes())["exif"] == {}


def test_a_photo_has_a_stage_stored_and_answered_and_a_wrong_one_is_refused(
    client: TestClient, tmp_path: Path
) -> None:
    # Photos sent with the report are pictures of the problem.
    reported = client.post("/api/events", json=ticket("stages", [b64(phone_jpeg())]))
    assert reported.status_code == 201, reported.text
    event_id = reported.json()["id"]
    after = client.post(
        f"/api/events/{event_id}/photos?stage=after",
        files={"file": ("after.jpg", phone_jpeg(gps=False), "image/jpeg")},
    )
    assert after.status_code == 201, after.text
    assert after.json()["stage"] == "after"
    # Without a stage, from no handling team (the unscoped system here): 'report'.
    plain = client.post(
        f"/api/events/{event_id}/photos",
        files={"file": ("more.png", png_with_text(), "image/png")},
    )
    assert plain.status_code == 201 and plain.json()["stage"] == "report"
    listed = client.get(f"/api/events/{event_id}/photos").json()["photos"]
    assert [p["stage"] for p in listed] == ["report", "after", "report"]
    # The timeline's photo step says it too.
    log = client.get(f"/api/events/{event_id}/log").json()["entries"]
    assert [e["data"]["stage"] for e in log if e["action"] == "photo"] == [
        "report",
        "after",
        "report",
    ]
    files_before = stored_files(tmp_path)
    for wrong in ("before", "AFTER", "report'"):
        refused = client.post(
            f"/api/events/{event_id}/photos",
            params={"stage": wrong, "lang": "en"},
            files={"file": ("x.jpg", phone_jpeg(), "image/jpeg")},
        )
        assert refused.status_code == 422, (wrong, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "invalid_input" and error["reason"] == "unknown_photo_stage"
        assert error["details"]["field"] == "stage"
        assert wrong in error["text"] and "report or after" in error["text"]
    assert len(client.get(f"/api/events/{event_id}/photos").json()["photos"]) == 3
    assert stored_files(tmp_path) == files_before  # nothing stored for a refused stage


def test_a_photo_sent_again_after_a_lost_answer_is_the_same_photo(
    client: TestClient, tmp_path: Path
) -> None:
    """A phone whose answer was lost sends the same picture again: the event keeps one
    photo, one timeline step and one audit entry, and the resend is answered with it."""
    reported = client.post("/api/events", json=ticket("resend", []))
    assert reported.status_code == 201, reported.text
    event_id = reported.json()["id"]
    picture = phone_jpeg(gps=False)

    def send(stage: str) -> Any:
        return client.post(
            f"/api/events/{event_id}/photos?stage={stage}",
            files={"file": ("after.jpg", picture, "image/jpeg")},
        )

    first = send("after")
    assert first.status_code == 201, first.text
    again = send("after")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    # The same picture as a photo of the problem is another photo of the event.
    as_report = send("report")
    assert as_report.status_code == 201 and as_report.json()["id"] != first.json()["id"]
    listed = client.get(f"/api/events/{event_id}/photos").json()["photos"]
    assert [p["stage"] for p in listed] == ["after", "report"]
    log = client.get(f"/api/events/{event_id}/log").json()["entries"]
    assert [e["data"]["stage"] for e in log if e["action"] == "photo"] == ["after", "report"]
    audit = client.get(
        "/api/audit", params={"action": "event.photo", "target": str(event_id)}
    ).json()["entries"]
    assert len(audit) == 2


def test_the_migration_calls_a_photo_after_the_first_start_after(
    client: TestClient, small_county_db_url: str
) -> None:
    """Migration 0019 gives existing photos their stage from the timeline: 'after' when the
    photo's step follows the event's first `start`, else 'report'."""
    event_id = client.post("/api/events", json=ticket("migrated", [b64(phone_jpeg())])).json()["id"]

    def attach(stage: str) -> None:
        answer = client.post(
            f"/api/events/{event_id}/photos?stage={stage}",
            files={"file": ("p.png", png_with_text(), "image/png")},
        )
        assert answer.status_code == 201, answer.text

    attach("after")  # called 'after' when sent, but uploaded before any start: 'report' then
    for action, body in (("register", {}), ("assign", {"team": f"T-{G1}"}), ("start", {})):
        answer = client.post(f"/api/events/{event_id}/actions/{action}", json=body)
        assert answer.status_code == 200, answer.text
    attach("report")  # after the start: 'after' by the migration's rule
    downgrade(small_county_db_url, "0019-1")
    migrate(small_county_db_url)
    engine = make_engine(small_county_db_url)
    try:
        with engine.connect() as conn:
            stages = conn.execute(
                text("SELECT stage FROM photo WHERE event_id = :e ORDER BY id"), {"e": event_id}
            ).scalars()
            assert list(stages) == ["report", "report", "after"]
    finally:
        engine.dispose()

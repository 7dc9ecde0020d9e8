"""Event photos: decoded with Pillow, cleaned and re-encoded, stored once by SHA-256.

A photo is taken in only when it decodes as the image its first bytes claim (JPEG, PNG or
WebP): a file that merely starts like one — a PNG signature before garbage, JPEG magic
before HTML — is refused. Its pixels are bounded before they are decoded (a small file
can claim a huge picture: a decompression bomb). What is stored is a new file made from
the pixels alone: EXIF (the phone's model and serial, the time, the place), XMP, comments
and text chunks are dropped; the EXIF orientation is applied to the pixels, so the photo
stands the right way up without it; the place the camera recorded (EXIF GPS) is returned
as a field (`CleanPhoto.gps`) for the event's record, never left in the file.
`clean_photo` is the one function both doors call (`POST /api/events` with base64 photos,
`POST /api/events/{id}/photos` with a file).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridmap.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMedia
from gridmap.events import workflow as wf
from gridmap.events.steps import announce_event, co_handler_team_ids, log_step, touch
from gridmap.models import PHOTO_AFTER, PHOTO_REPORT, PHOTO_STAGES, Event, EventLog, Photo

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# Pillow's name for each format, so a file is decoded only as what its first bytes claim.
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}

# Photos sent inside an event's JSON (a phone's report, one request on a slow line); more
# are attached afterwards with the multipart upload.
MAX_PHOTOS_PER_EVENT = 4
# The most pixels a photo may have: a 50-megapixel phone camera fits; a 10 MB file that
# claims 100,000 × 100,000 (40 GB of pixels) is refused before it is decoded.
MAX_PIXELS = 60_000_000
JPEG_QUALITY = 90

_EXIF_GPS_IFD = 0x8825
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


def sniff_image_type(data: bytes) -> str | None:
    """The media type from the first bytes (the magic number), never from a name."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class Gps:
    """Where the camera said the photo was taken (EXIF GPS: WGS84, as satellites give it)."""

    lon: float
    lat: float

    def to_dict(self) -> dict[str, float]:
        return {"lon": self.lon, "lat": self.lat}


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    """A photo decoded and re-encoded from its pixels: what gridmap stores."""

    data: bytes
    media_type: str
    width: int
    height: int
    gps: Gps | None


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    sha256: str
    media_type: str
    size: int
    path: Path
    gps: Gps | None = None


def photo_path(photo_dir: Path, sha256: str, media_type: str) -> Path:
    # Two-character fan-out keeps any one directory small on a busy county.
    return photo_dir / sha256[:2] / f"{sha256}.{EXTENSIONS[media_type]}"


def _label(where: dict[str, Any]) -> str:
    """How a message names the photo: `photos[1]: `, or the uploaded file's name."""
    if "field" in where and "filename" in where:
        return f"{where['field']} {where['filename']!r}: "
    if "field" in where:
        return f"{where['field']}: "
    if "filename" in where:
        return f"{where['filename']!r}: "
    return ""


def check_photo(data: bytes, *, max_bytes: int, where: dict[str, Any] | None = None) -> str:
    """The media type its first bytes claim, or an error saying why it is refused (empty,
    too large, not an image at all); `clean_photo` then decodes it."""
    where = where or {}
    label = _label(where)
    if not data:
        raise InvalidInput(f"{label}the photo is empty", details=where)
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{label}the photo is {len(data)} bytes; the limit is {max_bytes}",
            details={**where, "size": len(data), "limit": max_bytes},
        )
    media_type = sniff_image_type(data)
    if media_type is None:
        raise UnsupportedMedia(
            f"{label}the file is not a JPEG, PNG or WebP image "
            "(checked by its content, not its name)",
            details={**where, "first_bytes": data[:8].hex()},
        )
    return media_type


def _degrees(value: Any) -> float:
    """EXIF degrees, minutes, seconds (three rationals) as decimal degrees."""
    d, m, sec = (float(part) for part in value)
    return d + m / 60 + sec / 3600


def exif_gps(exif: Image.Exif) -> Gps | None:
    """The place in the EXIF GPS block, or None when there is none or it is not a place."""
    try:
        gps = exif.get_ifd(_EXIF_GPS_IFD)
        lat, lon = _degrees(gps[_GPS_LAT]), _degrees(gps[_GPS_LON])
        if str(gps.get(_GPS_LAT_REF, "N")).upper().startswith("S"):
            lat = -lat
        if str(gps.get(_GPS_LON_REF, "E")).upper().startswith("W"):
            lon = -lon
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:  # a camera without a fix writes zeros
        return None
    return Gps(lon=round(lon, 7), lat=round(lat, 7))


def _undecodable(label: str, where: dict[str, Any], media_type: str, why: str) -> UnsupportedMedia:
    kind = media_type.removeprefix("image/").upper()
    return UnsupportedMedia(
        f"{label}the file starts like a {kind} image but does not decode as one ({why})",
        details={**where, "media_type": media_type},
    )


def clean_photo(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int = MAX_PIXELS,
    where: dict[str, Any] | None = None,
) -> CleanPhoto:
    """Decode `data`, refuse what is not a whole JPEG, PNG or WebP picture, and make the
    copy gridmap keeps: the pixels turned upright, no metadata, the GPS set aside.

    Refused with 415 `unsupported_media` (not an image, or one that does not decode) or
    413 `payload_too_large` (too many bytes or pixels); `where` names the photo
    (`{"field": "photos[1]"}` or `{"filename": ...}`) in the message and details.
    """
    where = where or {}
    label = _label(where)
    media_type = check_photo(data, max_bytes=max_bytes, where=where)
    try:
        with warnings.catch_warnings():
            # Pillow warns, then refuses, past its own pixel limit; ours is checked first.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[media_type]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise PayloadTooLarge(
                        f"{label}the photo is {width} × {height} pixels; "
                        f"the limit is {max_pixels:,} pixels",
                        details={**where, "pixels": width * height, "limit": max_pixels},
                    )
                image.load()  # every pixel: a truncated or corrupt file fails here
                gps = exif_gps(image.getexif())
                clean = _reencode(image, media_type)
    except PayloadTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(
            f"{label}the photo has too many pixels to decode",
            details={**where, "limit": max_pixels},
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        # What Pillow raises for a file it cannot read (the type depends on the decoder).
        raise _undecodable(label, where, media_type, type(exc).__name__) from exc
    out_type, out, size = clean
    return CleanPhoto(data=out, media_type=out_type, width=size[0], height=size[1], gps=gps)


def _reencode(image: Image.Image, media_type: str) -> tuple[str, bytes, tuple[int, int]]:
    """The picture written anew in its own format, upright, with nothing but pixels (and
    the colour profile, which says how to show them)."""
    icc = image.info.get("icc_profile")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # an animation keeps its first frame
    upright = (ImageOps.exif_transpose(image) or image).copy()
    # Pillow writes some of what it read back out (a JPEG's comment, XMP): start empty.
    upright.info = {}
    buffer = io.BytesIO()
    extra: dict[str, Any] = {"icc_profile": icc} if isinstance(icc, bytes) else {}
    if media_type == "image/jpeg":
        pixels = upright if upright.mode in ("RGB", "L", "CMYK") else upright.convert("RGB")
        pixels.save(buffer, "JPEG", quality=JPEG_QUALITY, **extra)
    elif media_type == "image/png":
        pixels = upright
        if pixels.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "I;16"):
            pixels = pixels.convert("RGBA")  # palette and other modes, transparency kept
        pixels.save(buffer, "PNG", **extra)
    else:
        pixels = upright if upright.mode in ("RGB", "RGBA") else upright.convert("RGBA")
        pixels.save(buffer, "WEBP", quality=JPEG_QUALITY, **extra)
    return media_type, buffer.getvalue(), pixels.size


def decode_photo(text: str, *, field: str) -> bytes:
    """The bytes of a photo sent as base64 text, bare or as a `data:` URL."""
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise InvalidInput(
                f"{field}: a data: URL must be base64 (data:image/jpeg;base64,...)",
                details={"field": field, "value": header[:60]},
            )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{field}: not base64 (a photo is sent as base64 text or a data: URL)",
            details={"field": field, "value": text[:20]},
        ) from None


def base64_length(max_bytes: int) -> int:
    """How long the base64 text of a photo of `max_bytes` may be (a data: header aside)."""
    return 4 * math.ceil(max_bytes / 3)


def store_photo(photo: CleanPhoto, *, photo_dir: Path) -> StoredPhoto:
    """Store a cleaned photo; the same photo sent twice is stored once.

    The file is written before the caller commits the photo's row: if that transaction
    fails, the file stays unreferenced and is reused by the next upload of the same bytes.
    """
    digest = hashlib.sha256(photo.data).hexdigest()
    path = photo_path(photo_dir, digest, photo.media_type)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside, then rename: a reader never sees half a photo.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(photo.data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredPhoto(
        sha256=digest, media_type=photo.media_type, size=len(photo.data), path=path, gps=photo.gps
    )


def stored_photo_file(photo_dir: Path, sha256: str, media_type: str) -> Path:
    path = photo_path(photo_dir, sha256, media_type)
    if not path.is_file():
        raise NotFound(f"photo {sha256} is missing from {photo_dir}", details={"sha256": sha256})
    return path


# --- an event's photos ------------------------------------------------------------------


def photo_stage(value: str | None) -> str | None:
    """A photo stage as sent (None: not sent, the caller's default applies), checked."""
    if value is None or value == "":
        return None
    if value not in PHOTO_STAGES:
        raise InvalidInput(
            f"stage: {value!r} is not a photo stage; one of {', '.join(PHOTO_STAGES)}",
            details={"field": "stage", "value": value[:40], "allowed": list(PHOTO_STAGES)},
            reason="unknown_photo_stage",
            params={"stage": value[:40]},
        )
    return value


# Once a team has started, a photo from that team shows the work done (处置后照片).
_HANDLING_STATES = frozenset({wf.IN_PROGRESS, wf.REPORTED_BACK})


def default_photo_stage(session: Session, *, event: Event, team_id: int | None) -> str:
    """The stage of a photo uploaded without one: 'after' when the uploader belongs to the
    handling team (the event's team or a co-handler) and the event is in progress or
    reported back; else 'report' (a reporter's or an operator's picture of the problem)."""
    if team_id is None or event.status not in _HANDLING_STATES:
        return PHOTO_REPORT
    if team_id == event.team_id or team_id in co_handler_team_ids(session, event_id=event.id):
        return PHOTO_AFTER
    return PHOTO_REPORT


def attach_photo(
    session: Session,
    *,
    event: Event,
    photo: StoredPhoto,
    actor: str,
    stage: str = PHOTO_REPORT,
) -> tuple[Photo, bool]:
    """A stored photo becomes the event's, and joins the timeline like any other step:
    (the photo, True). The same picture sent again for the same event and stage — a phone
    resending after a lost answer — is the one attached already: (it, False), nothing new
    stored, logged or announced. Photos are kept by content hash, so "the same" is exact."""
    stage = photo_stage(stage) or PHOTO_REPORT  # the doors check it first; so does the domain
    known = session.scalars(
        select(Photo).where(
            Photo.event_id == event.id, Photo.sha256 == photo.sha256, Photo.stage == stage
        )
    ).first()
    if known is not None:
        return known, False
    row = Photo(
        event_id=event.id,
        sha256=photo.sha256,
        media_type=photo.media_type,
        size=photo.size,
        uploaded_by=actor,
        stage=stage,
    )
    session.add(row)
    session.flush()
    log_step(
        session,
        event,
        actor=actor,
        action="photo",
        from_status=event.status,
        data={
            "photo_id": row.id,
            "sha256": photo.sha256,
            "stage": stage,
            # The place the camera recorded: kept with the event, never in the stored file.
            **({"gps": photo.gps.to_dict()} if photo.gps else {}),
        },
    )
    touch(event)
    session.flush()
    announce_event(session, "event.changed", event)
    return row, True


def event_photos(session: Session, *, event_id: int) -> list[Photo]:
    """An event's photos, in the order they came."""
    return list(session.scalars(select(Photo).where(Photo.event_id == event_id).order_by(Photo.id)))


def photo_places(session: Session, *, event_id: int) -> dict[int, dict[str, float]]:
    """photo id → the GPS its camera recorded, for an event's photos that had one (kept in
    the timeline's photo step; the stored files carry no metadata)."""
    rows = session.execute(
        select(EventLog.data["photo_id"].as_integer(), EventLog.data["gps"]).where(
            EventLog.event_id == event_id,
            EventLog.action == "photo",
            EventLog.data.has_key("gps"),
        )
    )
    return {int(photo_id): gps for photo_id, gps in rows}

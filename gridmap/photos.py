"""Event photos: checked by content, size-limited, stored once by SHA-256 under the data dir."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridmap.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMedia

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

# Photos sent inside an event's JSON (a phone's report, one request on a slow line); more
# are attached afterwards with the multipart upload.
MAX_PHOTOS_PER_EVENT = 4


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
class StoredPhoto:
    sha256: str
    media_type: str
    size: int
    path: Path


def photo_path(photo_dir: Path, sha256: str, media_type: str) -> Path:
    # Two-character fan-out keeps any one directory small on a busy county.
    return photo_dir / sha256[:2] / f"{sha256}.{EXTENSIONS[media_type]}"


def check_photo(data: bytes, *, max_bytes: int, where: dict[str, Any] | None = None) -> str:
    """The photo's media type, or an error saying why it is refused (`where` names it)."""
    where = where or {}
    label = f"{where['field']}: " if "field" in where else ""
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


def store_photo(
    data: bytes, *, photo_dir: Path, max_bytes: int, filename: str | None = None
) -> StoredPhoto:
    """Check and store the bytes; the same photo sent twice is stored once.

    The file is written before the caller commits the photo's row: if that transaction
    fails, the file stays unreferenced and is reused by the next upload of the same bytes.
    """
    media_type = check_photo(
        data, max_bytes=max_bytes, where={"filename": filename} if filename else None
    )
    digest = hashlib.sha256(data).hexdigest()
    path = photo_path(photo_dir, digest, media_type)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside, then rename: a reader never sees half a photo.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredPhoto(sha256=digest, media_type=media_type, size=len(data), path=path)


def stored_photo_file(photo_dir: Path, sha256: str, media_type: str) -> Path:
    path = photo_path(photo_dir, sha256, media_type)
    if not path.is_file():
        raise NotFound(f"photo {sha256} is missing from {photo_dir}", details={"sha256": sha256})
    return path

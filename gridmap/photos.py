"""Event photos: checked by content, size-limited, stored once by SHA-256 under the data dir."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gridmap.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMedia

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


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


def store_photo(
    data: bytes, *, photo_dir: Path, max_bytes: int, filename: str | None = None
) -> StoredPhoto:
    """Check and store the bytes; the same photo sent twice is stored once."""
    where = {"filename": filename} if filename else {}
    if not data:
        raise InvalidInput("the photo is empty", details=where)
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the photo is {len(data)} bytes; the limit is {max_bytes}",
            details={**where, "size": len(data), "limit": max_bytes},
        )
    media_type = sniff_image_type(data)
    if media_type is None:
        raise UnsupportedMedia(
            "the file is not a JPEG, PNG or WebP image (checked by its content, not its name)",
            details={**where, "first_bytes": data[:8].hex()},
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

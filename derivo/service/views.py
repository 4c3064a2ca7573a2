"""The JSON shapes of the API (pydantic models, so they are documented at /docs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from derivo.cache import PhotoRecord, PhotoStatus
from derivo.capture import Captured
from derivo.specs import Spec, SpecSet
from derivo.tasks import Derivative


class DerivativeView(BaseModel):
    """One derivative; the sizes are known once it is ready."""

    url: str = Field(description="Versioned URL (``?v=<fingerprint>``): immutable, cache forever.")
    ready: bool
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    format: str | None = None


class PhotoView(BaseModel):
    id: str
    hash: str | None = Field(description="BLAKE3 of the uploaded bytes.")
    status: PhotoStatus
    error: str | None = Field(None, description="One-line reason, when status is failed.")
    error_kind: str | None = None
    width: int | None = Field(None, description="Source width, once rendered.")
    height: int | None = None
    created_at: float
    url: str
    derivatives: dict[str, DerivativeView]
    name: str | None = Field(None, description="The uploaded file's name, if it had one.")
    uploaded_at: str = Field(description="When it was uploaded (ISO 8601, UTC).")
    captured_at: str = Field(
        description="When it was taken (ISO 8601): EXIF DateTimeOriginal, with its offset "
        "when the camera recorded one (else no zone), or the upload time."
    )
    captured_from: str = Field(description="``exif``, or ``upload`` when the photo has no date.")
    thumbhash: str | None = Field(
        None, description="ThumbHash placeholder (base64) of the thumbnail, once rendered."
    )


class UploadView(PhotoView):
    duplicate: bool = Field(description="True when these exact bytes were uploaded before.")


class PhotoPage(BaseModel):
    photos: list[PhotoView]
    next: str | None = Field(description="Cursor for the next page (``after=``), or null.")
    order: str = Field("id", description="The order of this listing: id, captured or uploaded.")
    counts: dict[PhotoStatus, int] = Field(
        default_factory=dict, description="Photos in the library per status, now."
    )


class ErrorDetail(BaseModel):
    kind: str
    message: str


class ErrorView(BaseModel):
    error: ErrorDetail


class QueueFullView(ErrorView):
    photo: PhotoView = Field(description="The photo, kept as pending: it will be rendered.")


def photo_url(photo_id: str) -> str:
    return f"/photos/{quote(photo_id)}"


def derivative_url(photo_id: str, spec: Spec) -> str:
    return f"{photo_url(photo_id)}/{spec.name}?v={spec.fingerprint}"


def photo_view(record: PhotoRecord, specs: SpecSet, made: dict[str, Derivative]) -> PhotoView:
    """Render a photo; ``made`` holds its recorded derivatives (empty until done)."""
    derivatives = {}
    for spec in specs:
        d = made.get(spec.name) if record.status is PhotoStatus.DONE else None
        derivatives[spec.name] = DerivativeView(
            url=derivative_url(record.id, spec),
            ready=d is not None,
            width=d.width if d else None,
            height=d.height if d else None,
            bytes=d.bytes if d else None,
            format=d.format if d else None,
        )
    captured = record.captured or Captured.fallback(record.created_at, "recorded")
    return PhotoView(
        name=record.name,
        uploaded_at=datetime.fromtimestamp(record.created_at, UTC).isoformat(),
        captured_at=captured.isoformat(),
        captured_from=captured.source,
        thumbhash=next((d.thumbhash for d in made.values() if d.thumbhash), None)
        if record.status is PhotoStatus.DONE
        else None,
        id=record.id,
        hash=record.hash,
        status=record.status,
        error=record.error,
        error_kind=record.error_kind,
        width=record.width,
        height=record.height,
        created_at=record.created_at,
        url=photo_url(record.id),
        derivatives=derivatives,
    )


#: OpenAPI entries for the error answers every route may give.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorView} for code in (400, 401, 404, 409, 413, 415, 422)
}

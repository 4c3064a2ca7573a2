"""``/photos/{id}/{spec}``: a derivative file, cached by browsers for as long as it can be."""

from __future__ import annotations

import asyncio
import os
from email.utils import formatdate
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from derivo.cache import DerivativeCache, PhotoRecord, PhotoStatus
from derivo.errors import PhotoFailed, UnknownPhoto, UnknownSpec, UnknownVersion
from derivo.formats import FORMATS, OUTPUTS
from derivo.service.deps import ServicesDep
from derivo.service.variants import preferred_format
from derivo.service.views import ERROR_RESPONSES, PhotoView
from derivo.specs import Spec
from derivo.tasks import Derivative

IMMUTABLE = "public, max-age=31536000, immutable"
#: Files up to this size are read in the same thread step as their lookup and sent
#: from memory: one hop off the event loop instead of four (open, read, read, close).
INLINE_BYTES = 256 * 1024
REVALIDATE = "public, no-cache"
NOT_READY_RETRY = "1"

router = APIRouter(prefix="/photos", tags=["photos"], responses=ERROR_RESPONSES)


@router.get(
    "/{photo_id}/{spec}",
    response_class=Response,
    responses={
        200: {
            "content": {f.media_type: {} for f in OUTPUTS},
            "description": "The derivative: JPEG, or a format the Accept header prefers "
            "among those the service offers (``Vary: Accept``).",
        },
        202: {"model": PhotoView, "description": "Not rendered yet: retry after Retry-After."},
        304: {"description": "Not modified (If-None-Match)."},
    },
)
async def get_derivative(
    request: Request,
    photo_id: str,
    spec: str,
    services: ServicesDep,
    v: Annotated[str | None, Query(description="Spec fingerprint (versioned URL).")] = None,
) -> Response:
    """The derivative file, with a strong ETag; cached for good under its versioned URL.

    404: unknown photo or spec (or ``v`` is not the spec's current fingerprint).
    202 with the photo's JSON and ``Retry-After``: pending or processing.
    422: the photo failed; the message says why.
    """
    wanted = services.pipeline.specs.by_name(spec)
    if wanted is None:
        raise UnknownSpec(f"no derivative spec {spec!r}")
    if v is not None and v != wanted.fingerprint:
        raise UnknownVersion(f"{spec} version {v} is not served")
    record, derivative, stat, body = await asyncio.to_thread(
        _locate, services.cache, photo_id, wanted
    )
    if record.status is PhotoStatus.FAILED:
        raise PhotoFailed(record.error or "failed", kind=record.error_kind)
    if derivative is None or stat is None:
        if record.status is PhotoStatus.DONE:
            await services.ingest.rerender(photo_id)
        view = await asyncio.to_thread(services.view, record)
        return JSONResponse(
            view.model_dump(mode="json"),
            status_code=202,
            headers={"Retry-After": NOT_READY_RETRY, "Cache-Control": "no-store"},
        )
    offered = services.settings.offered
    fmt = preferred_format(request.headers.get("accept"), offered)
    if fmt is not None and fmt != wanted.format:  # a spec may be in that format already
        variant = await services.variants.find_or_make(record, wanted, fmt)
        if variant is not None:
            derivative, stat, wanted = variant
            body = None
    headers = {
        "ETag": f'"{record.hash}-{wanted.fingerprint}"',
        "Cache-Control": IMMUTABLE if v is not None else REVALIDATE,
    }
    if offered:
        headers["Vary"] = "Accept"
    if _matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if body is not None and "range" not in request.headers:  # a range is FileResponse's work
        headers["Last-Modified"] = formatdate(stat.st_mtime, usegmt=True)
        headers["Accept-Ranges"] = "bytes"
        return Response(body, media_type=FORMATS[derivative.format].media_type, headers=headers)
    return FileResponse(
        derivative.path,
        media_type=FORMATS[derivative.format].media_type,
        headers=headers,
        stat_result=stat,
    )


def _locate(
    cache: DerivativeCache, photo_id: str, spec: Spec
) -> tuple[PhotoRecord, Derivative | None, os.stat_result | None, bytes | None]:
    """The photo, its derivative for ``spec`` if recorded, the file's stat if it is whole,
    and its bytes if it is small (at most :data:`INLINE_BYTES`)."""
    record = cache.photo(photo_id)
    if record is None:
        raise UnknownPhoto(f"no photo {photo_id}")
    if record.status is not PhotoStatus.DONE or record.hash is None:
        return record, None, None, None
    derivative = cache.derivatives(record.hash, [spec]).get(spec.name)
    if derivative is None:
        return record, None, None, None
    try:
        with open(derivative.path, "rb") as f:
            stat = os.fstat(f.fileno())
            body = f.read() if stat.st_size <= INLINE_BYTES else None
    except FileNotFoundError:
        return record, derivative, None, None
    # damaged (cut short, overwritten): never served
    if stat.st_size != derivative.bytes or (body is not None and len(body) != stat.st_size):
        return record, derivative, None, None
    return record, derivative, stat, body


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires (RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))

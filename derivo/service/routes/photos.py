"""``/photos``: upload (token), list, look up, delete (token)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.requests import ClientDisconnect

from derivo.cache import PhotoStatus
from derivo.errors import Busy, DerivoError, InputError, QueueFull, UnknownPhoto
from derivo.formats import INPUTS, labels
from derivo.service.deps import IngestDep, ServicesDep, TokenRequired
from derivo.service.ingest import Deleted
from derivo.service.listing import ORDER_HELP, Order, photo_page
from derivo.service.resources import Services
from derivo.service.uploads import Staged, Stager, receive, too_large
from derivo.service.views import (
    ERROR_RESPONSES,
    PhotoPage,
    PhotoView,
    QueueFullView,
    UploadView,
)

#: Room for multipart boundaries and headers when checking Content-Length up front.
MULTIPART_SLACK = 64 * 1024

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The photo, as a multipart file field or as the raw body. "
        f"Its type is recognised from its bytes ({labels(INPUTS)}).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

router = APIRouter(prefix="/photos", tags=["photos"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=202,
    response_model=UploadView,
    dependencies=[TokenRequired],
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": UploadView, "description": "The same bytes were uploaded before."},
        503: {"model": QueueFullView, "description": "Render queue full; photo kept."},
    },
)
async def upload(request: Request, response: Response, services: ServicesDep) -> UploadView:
    """Upload a photo (token required). 202: recorded and queued for rendering.

    The body streams to disk while it is hashed; nothing is rendered twice for
    the same bytes (200, ``duplicate: true``). When the render queue is full the
    answer is 503 with ``Retry-After``, and the photo is kept as pending: it is
    rendered when there is room, and uploading it again answers 200.
    """
    staged = await _stage(request, services)
    services.metrics.upload_bytes.inc(staged.size)
    accepted = await services.ingest.accept(staged)
    view = await asyncio.to_thread(services.view, accepted.photo)
    if not accepted.queued:
        services.metrics.uploads.labels("queue_full").inc()
        raise QueueFull(
            "render queue is full; the photo is kept and will be rendered",
            photo=view.model_dump(mode="json"),
        )
    services.metrics.uploads.labels("duplicate" if accepted.duplicate else "accepted").inc()
    response.status_code = 200 if accepted.duplicate else 202
    response.headers["Location"] = view.url
    return UploadView(**view.model_dump(), duplicate=accepted.duplicate)


async def _stage(request: Request, services: Services) -> Staged:
    """Receive the body into a temp file; a refused upload is counted as rejected."""
    limit = services.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    length = request.headers.get("content-length", "")
    slack = MULTIPART_SLACK if content_type.startswith("multipart/") else 0
    try:
        if length.isdigit() and int(length) > limit + slack:
            raise too_large(limit)
        stager = Stager(services.ingest.originals, limit)
        return await receive(
            request.stream(),
            content_type=content_type,
            stager=stager,
            name=request.query_params.get("name"),
            idle_timeout=services.settings.upload_idle_timeout,
        )
    except ClientDisconnect:  # nobody reads the answer; not counted as a refusal
        raise InputError("the client disconnected before the upload was complete") from None
    except DerivoError:
        services.metrics.uploads.labels("rejected").inc()
        raise


@router.get("", response_model=PhotoPage)
async def list_photos(
    services: ServicesDep,
    status: PhotoStatus | None = None,
    after: Annotated[str | None, Query(description="Cursor: the previous page's next.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Annotated[Order, Query(description=ORDER_HELP)] = "id",
) -> PhotoPage:
    """Photos by id, or newest first by capture or upload time; page with ``after=<next>``."""
    return await asyncio.to_thread(
        photo_page,
        services.cache,
        services.view,
        order=order,
        status=status,
        after=after,
        limit=limit,
    )


@router.get("/{photo_id}", response_model=PhotoView)
async def get_photo(photo_id: str, services: ServicesDep) -> PhotoView:
    """Status (pending, processing, done, failed with its reason), size and derivatives."""

    def find() -> PhotoView:
        record = services.cache.photo(photo_id)
        if record is None:
            raise UnknownPhoto(f"no photo {photo_id}")
        return services.view(record)

    return await asyncio.to_thread(find)


@router.delete(
    "/{photo_id}", status_code=204, response_class=Response, dependencies=[TokenRequired]
)
async def delete_photo(photo_id: str, ingest: IngestDep) -> Response:
    """Forget a photo (token required); its original and derivatives go with it.

    409 while it is being rendered: try again once it is done.
    """
    outcome = await ingest.delete(photo_id)
    if outcome is Deleted.UNKNOWN:
        raise UnknownPhoto(f"no photo {photo_id}")
    if outcome is Deleted.BUSY:
        raise Busy("the photo is being rendered; delete it once it is done")
    return Response(status_code=204)

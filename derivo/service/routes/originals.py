"""``/photos/{id}/original``: the uploaded bytes as they came (token required, like writes)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from derivo.errors import UnknownPhoto
from derivo.service.deps import CacheDep, TokenRequired
from derivo.service.original_file import find_original
from derivo.service.routes.derivatives import _matches
from derivo.service.views import ERROR_RESPONSES

router = APIRouter(prefix="/photos", tags=["photos"], responses=ERROR_RESPONSES)


@router.get(
    "/{photo_id}/original",
    response_class=Response,
    dependencies=[TokenRequired],
    responses={200: {"content": {"image/*": {}}, "description": "The uploaded file."}},
)
async def get_original(request: Request, photo_id: str, cache: CacheDep) -> Response:
    """The original bytes as uploaded (token required: originals keep their metadata)."""
    found = await asyncio.to_thread(find_original, cache, photo_id)
    if found is None:
        raise UnknownPhoto(f"no photo {photo_id}")
    headers = {"ETag": found.etag, "Cache-Control": "private, no-cache"}
    if _matches(request.headers.get("if-none-match"), found.etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(
        found.path,
        media_type=found.media_type,
        headers=headers,
        stat_result=found.stat,
        filename=found.name,
        content_disposition_type="inline",
    )

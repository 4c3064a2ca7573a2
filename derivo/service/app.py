"""The HTTP API and gallery over one Pipeline: ``create_app(settings)``.

Nothing happens at import or at ``create_app``: the data directory, cache, worker
pool and pipeline are opened in the lifespan and closed on shutdown. Handlers
never render or block on the event loop; SQLite and file work runs in threads.

Public (no token): ``GET`` of photos and derivatives, the gallery ``/``,
``/healthz``, ``/metrics``, ``/docs``. Token-protected: ``POST /photos``,
``DELETE /photos/{id}``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from derivo.cache import DerivativeCache, PhotoRecord, Status
from derivo.errors import DerivoError
from derivo.executors import DaskExecutor, WorkerPool, make_executor
from derivo.pipeline import Pipeline
from derivo.service.auth import BearerToken, load_or_create_token
from derivo.service.datadir import DataDirLock, sweep_temp_files
from derivo.service.http_errors import error_response, install
from derivo.service.ingest import Deleted, Ingest
from derivo.service.metrics import CONTENT_TYPE, Metrics
from derivo.service.originals import Originals
from derivo.service.settings import Settings
from derivo.service.uploads import Stager, receive, too_large
from derivo.service.views import (
    ErrorDetail,
    ErrorView,
    PhotoPage,
    PhotoView,
    QueueFullView,
    UploadView,
    photo_view,
)
from derivo.specs import Spec
from derivo.tasks import Derivative

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"
MEDIA_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp"}
#: Room for multipart boundaries and headers when checking Content-Length up front.
MULTIPART_SLACK = 64 * 1024
NOT_READY_RETRY = "1"

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The photo, as a multipart file field or as the raw body. "
        "Its type is recognised from its bytes (JPEG, PNG, WebP, GIF, TIFF, HEIF/HEIC).",
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


@dataclass(frozen=True)
class Services:
    """What the lifespan opens, for the handlers."""

    settings: Settings
    cache: DerivativeCache
    pool: WorkerPool | DaskExecutor
    pipeline: Pipeline
    ingest: Ingest
    metrics: Metrics
    auth: BearerToken

    def view(self, record: PhotoRecord) -> PhotoView:
        made = self.cache.derivatives(record.hash, self.pipeline.specs) if record.hash else {}
        return photo_view(record, self.pipeline.specs, made)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


_bearer = HTTPBearer(auto_error=False, description="The token from DERIVO_TOKEN or DATA_DIR/token.")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    services(request).auth.check(credentials)


def _not_found(kind: str, message: str) -> HTTPException:
    return HTTPException(404, detail={"kind": kind, "message": message})


def create_app(settings: Settings) -> FastAPI:
    """The ASGI app; resources live from lifespan startup to shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            lock = DataDirLock(settings.data_dir)
            stack.callback(lock.release)
            if settings.token is not None:
                token, created = settings.token, False
            else:
                token, created = load_or_create_token(settings.token_path)
            if created:
                print(
                    f"derivo: generated the upload token, kept in {settings.token_path} "
                    f"(mode 0600); shown only this once:\n  {token}",
                    file=sys.stderr,
                    flush=True,
                )
            originals = Originals(settings.originals_dir)
            sweep_temp_files(settings.originals_dir, settings.derivatives_dir)
            cache = stack.enter_context(DerivativeCache(settings.db_path, durable=True))
            pool = make_executor(
                scheduler=settings.scheduler,
                workers=None if settings.scheduler else settings.workers,
                queue_size=settings.queue_size,
                task_timeout=settings.task_timeout,
                out_dir=settings.derivatives_dir,
            )
            pool.start()
            pipeline = Pipeline(
                cache=cache,
                executor=pool,
                out_dir=settings.derivatives_dir,
                limits=settings.limits,
            )
            stack.callback(pipeline.close)
            # cancel, not drain: whatever was queued is pending in SQLite and resumes next start
            stack.push_async_callback(asyncio.to_thread, pool.close, cancel=True)
            metrics = Metrics(pool_stats=pool.stats, counts=cache.counts)
            ingest = Ingest(cache=cache, pipeline=pipeline, originals=originals, metrics=metrics)
            await ingest.start()
            stack.push_async_callback(ingest.stop)
            app.state.services = Services(
                settings=settings,
                cache=cache,
                pool=pool,
                pipeline=pipeline,
                ingest=ingest,
                metrics=metrics,
                auth=BearerToken(token),
            )
            yield

    app = FastAPI(
        title="derivo",
        summary="Upload photos; get thumbnails and previews, rendered in parallel, never twice.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install(app, retry_after=settings.retry_after)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorView} for code in (400, 401, 404, 409, 413, 415, 422)
    }

    @app.get("/", include_in_schema=False)
    async def gallery() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.post(
        "/photos",
        status_code=202,
        response_model=UploadView,
        dependencies=[Depends(require_token)],
        openapi_extra=UPLOAD_BODY,
        responses={
            200: {"model": UploadView, "description": "The same bytes were uploaded before."},
            503: {"model": QueueFullView, "description": "Render queue full; photo kept."},
            **errors,
        },
        tags=["photos"],
    )
    async def upload(request: Request, response: Response) -> UploadView | Response:
        """Upload a photo (token required). 202: recorded and queued for rendering.

        The body streams to disk while it is hashed; nothing is rendered twice for
        the same bytes (200, ``duplicate: true``). When the render queue is full the
        answer is 503 with ``Retry-After``, and the photo is kept as pending: it is
        rendered when there is room, and uploading it again answers 200.
        """
        s = services(request)
        limit = s.settings.max_upload_bytes
        content_type = request.headers.get("content-type", "")
        length = request.headers.get("content-length", "")
        slack = MULTIPART_SLACK if content_type.startswith("multipart/") else 0
        if length.isdigit() and int(length) > limit + slack:
            s.metrics.uploads.labels("rejected").inc()
            raise too_large(limit)
        stager = Stager(s.ingest.originals, limit)
        try:
            staged = await receive(request.stream(), content_type=content_type, stager=stager)
        except ClientDisconnect:
            return Response(status_code=400)
        except DerivoError:
            s.metrics.uploads.labels("rejected").inc()
            raise
        s.metrics.upload_bytes.inc(staged.size)
        accepted = await s.ingest.accept(staged)
        view = await asyncio.to_thread(s.view, accepted.photo)
        headers = {"Location": view.url}
        if not accepted.queued:
            s.metrics.uploads.labels("queue_full").inc()
            body = QueueFullView(
                error=ErrorDetail(
                    kind="queue-full",
                    message="render queue is full; the photo is kept and will be rendered",
                ),
                photo=view,
            )
            headers["Retry-After"] = str(s.settings.retry_after)
            return JSONResponse(body.model_dump(mode="json"), status_code=503, headers=headers)
        s.metrics.uploads.labels("duplicate" if accepted.duplicate else "accepted").inc()
        response.status_code = 200 if accepted.duplicate else 202
        response.headers.update(headers)
        return UploadView(**view.model_dump(), duplicate=accepted.duplicate)

    @app.get("/photos", response_model=PhotoPage, responses=errors, tags=["photos"])
    async def list_photos(
        request: Request,
        status: Status | None = None,
        after: Annotated[str | None, Query(description="Cursor: the previous page's next.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> PhotoPage:
        """Photos ordered by id, optionally with one status; page with ``after=<next>``."""
        s = services(request)

        def page() -> PhotoPage:
            records = s.cache.photos(status=status, after=after, limit=limit)
            return PhotoPage(
                photos=[s.view(r) for r in records],
                next=records[-1].id if len(records) == limit else None,
            )

        return await asyncio.to_thread(page)

    @app.get("/photos/{photo_id}", response_model=PhotoView, responses=errors, tags=["photos"])
    async def get_photo(request: Request, photo_id: str) -> PhotoView:
        """Status (pending, processing, done, failed with its reason), size and derivatives."""
        s = services(request)

        def find() -> PhotoView | None:
            record = s.cache.photo(photo_id)
            return s.view(record) if record else None

        view = await asyncio.to_thread(find)
        if view is None:
            raise _not_found("unknown-photo", f"no photo {photo_id}")
        return view

    @app.get(
        "/photos/{photo_id}/{spec}",
        response_class=Response,
        responses={
            200: {"content": {"image/jpeg": {}}, "description": "The derivative."},
            202: {"model": PhotoView, "description": "Not rendered yet: retry after Retry-After."},
            304: {"description": "Not modified (If-None-Match)."},
            **errors,
        },
        tags=["photos"],
    )
    async def get_derivative(
        request: Request,
        photo_id: str,
        spec: str,
        v: Annotated[str | None, Query(description="Spec fingerprint (versioned URL).")] = None,
    ) -> Response:
        """The derivative file, with a strong ETag; cached for good under its versioned URL.

        404: unknown photo or spec (or ``v`` is not the spec's current fingerprint).
        202 with the photo's JSON and ``Retry-After``: pending or processing.
        422: the photo failed; the message says why.
        """
        s = services(request)
        wanted = s.pipeline.specs.by_name(spec)
        if wanted is None:
            raise _not_found("unknown-spec", f"no derivative spec {spec!r}")
        if v is not None and v != wanted.fingerprint:
            raise _not_found("unknown-version", f"{spec} version {v} is not served")
        found = await asyncio.to_thread(_locate, s.cache, photo_id, wanted)
        if found is None:
            raise _not_found("unknown-photo", f"no photo {photo_id}")
        record, derivative, stat = found
        if record.status == "failed":
            return error_response(422, record.error_kind or "failed", record.error or "failed")
        if derivative is None or stat is None:
            if record.status == "done":
                await s.ingest.rerender(photo_id)
            view = await asyncio.to_thread(s.view, record)
            return JSONResponse(
                view.model_dump(mode="json"),
                status_code=202,
                headers={"Retry-After": NOT_READY_RETRY, "Cache-Control": "no-store"},
            )
        headers = {
            "ETag": f'"{record.hash}-{wanted.fingerprint}"',
            "Cache-Control": IMMUTABLE if v is not None else REVALIDATE,
        }
        if _matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        return FileResponse(
            derivative.path,
            media_type=MEDIA_TYPES.get(derivative.format, "application/octet-stream"),
            headers=headers,
            stat_result=stat,
        )

    @app.delete(
        "/photos/{photo_id}",
        status_code=204,
        response_class=Response,
        dependencies=[Depends(require_token)],
        responses=errors,
        tags=["photos"],
    )
    async def delete_photo(request: Request, photo_id: str) -> Response:
        """Forget a photo (token required); its original and derivatives go with it.

        409 while it is being rendered: try again once it is done.
        """
        outcome = await services(request).ingest.delete(photo_id)
        if outcome is Deleted.UNKNOWN:
            raise _not_found("unknown-photo", f"no photo {photo_id}")
        if outcome is Deleted.BUSY:
            raise HTTPException(
                409,
                detail={
                    "kind": "busy",
                    "message": "the photo is being rendered; delete it once it is done",
                },
            )
        return Response(status_code=204)

    @app.get("/healthz", tags=["service"])
    async def healthz(request: Request) -> dict[str, Any]:
        """Liveness, with the render pool's state."""
        stats = services(request).pool.stats()
        return {
            "status": "ok",
            "workers": stats.workers,
            "queued": stats.queued,
            "in_flight": stats.in_flight,
        }

    @app.get("/metrics", response_class=Response, tags=["service"])
    async def metrics(request: Request) -> Response:
        """Prometheus text format."""
        text = await asyncio.to_thread(services(request).metrics.exposition)
        return Response(text, media_type=CONTENT_TYPE)

    return app


def _locate(
    cache: DerivativeCache, photo_id: str, spec: Spec
) -> tuple[PhotoRecord, Derivative | None, os.stat_result | None] | None:
    """The photo, its derivative for ``spec`` if recorded, and the file's stat if it exists."""
    record = cache.photo(photo_id)
    if record is None:
        return None
    if record.status != "done" or record.hash is None:
        return record, None, None
    derivative = cache.derivatives(record.hash, [spec]).get(spec.name)
    if derivative is None:
        return record, None, None
    try:
        return record, derivative, os.stat(derivative.path)
    except FileNotFoundError:
        return record, derivative, None


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires (RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))

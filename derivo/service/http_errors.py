"""Translate errors into JSON answers, ``{"error": {"kind": ..., "message": ...}}``, once.

Routes only raise; this is the one place that turns an error into a response.
Input errors are the client's (4xx), server faults are ours (5xx, no details leaked):

====================  ======  ===========================================
error                 status  when
====================  ======  ===========================================
UnsupportedFormat     415     the upload is not an image
LimitExceeded         413     the upload is over the size limit
UploadStalled         408     the upload sent nothing for too long
                              (``Connection: close``)
InputError            400     empty upload, malformed multipart body
Unauthorized          401     missing or wrong token (``WWW-Authenticate``)
NotFound              404     unknown photo, spec or spec version
Busy                  409     the photo is being rendered
PhotoFailed           422     its derivative asked for; kind is the photo's
QueueFull             503     render queue full (``Retry-After``; with the
                              kept photo and its ``Location`` when there is one)
StorageFull           507     no space left for the upload or the database
                              (``Retry-After``); nothing of the upload is kept
CacheError            503     the database cannot be used (``Retry-After``)
other DerivoError     500
HTTPException         its own (unknown route, wrong method, ...)
validation            422     a bad query parameter
anything else         500     logged with its traceback
====================  ======  ===========================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from derivo.errors import (
    Busy,
    CacheError,
    DerivoError,
    InputError,
    LimitExceeded,
    NotFound,
    PhotoFailed,
    QueueFull,
    StorageFull,
    Unauthorized,
    UnsupportedFormat,
    UploadStalled,
)

log = logging.getLogger("derivo.service")

STATUS_OF: tuple[tuple[type[DerivoError], int], ...] = (
    (UnsupportedFormat, 415),
    (LimitExceeded, 413),
    (UploadStalled, 408),
    (InputError, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Busy, 409),
    (PhotoFailed, 422),
    (QueueFull, 503),
    (StorageFull, 507),
    (CacheError, 503),
    (DerivoError, 500),
)


def error_response(
    status: int,
    kind: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"error": {"kind": kind, "message": message}, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI, *, retry_after: int) -> None:
    """Register the handlers on ``app``."""

    async def derivo_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DerivoError)
        status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
        if status >= 500 and not isinstance(exc, QueueFull):  # backpressure, not a fault
            log.error("%s %s: %s", request.method, request.url.path, exc)
        headers: dict[str, str] = {}
        extra: dict[str, Any] = {}
        if status in (503, 507):
            headers["Retry-After"] = str(retry_after)
        if isinstance(exc, UploadStalled):  # the rest of its body is not read
            headers["Connection"] = "close"
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, QueueFull) and exc.photo is not None:
            extra["photo"] = exc.photo
            headers["Location"] = str(exc.photo["url"])
        return error_response(status, exc.kind, str(exc), headers or None, **extra)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, _slug(exc.status_code), exc.detail, exc.headers)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return error_response(422, "invalid-request", "; ".join(problems) or "invalid request")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal", "internal server error")

    app.add_exception_handler(DerivoError, derivo_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-")
    except ValueError:
        return "error"

"""Translate errors into JSON answers, ``{"error": {"kind": ..., "message": ...}}``, once.

Input errors are the client's (4xx), server faults are ours (5xx, no details leaked):

====================  ======  ===========================================
error                 status  when
====================  ======  ===========================================
UnsupportedFormat     415     the upload is not an image
LimitExceeded         413     the upload is over the size limit
InputError            400     empty upload, malformed multipart body
QueueFull             503     render queue full (with ``Retry-After``)
CacheError            503     the database cannot be used
other DerivoError     500
HTTPException         its own (401, 404, 409, ...)
validation            422     a bad query parameter
anything else         500     logged with its traceback
====================  ======  ===========================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from derivo.errors import (
    CacheError,
    DerivoError,
    InputError,
    LimitExceeded,
    QueueFull,
    UnsupportedFormat,
)

log = logging.getLogger("derivo.service")

STATUS_OF: tuple[tuple[type[DerivoError], int], ...] = (
    (UnsupportedFormat, 415),
    (LimitExceeded, 413),
    (InputError, 400),
    (QueueFull, 503),
    (CacheError, 503),
    (DerivoError, 500),
)


def error_response(
    status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"kind": kind, "message": message}}, status_code=status, headers=headers
    )


def install(app: FastAPI, *, retry_after: int) -> None:
    """Register the handlers on ``app``."""

    async def derivo_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DerivoError)
        status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": str(retry_after)} if status == 503 else None
        return error_response(status, exc.kind, str(exc), headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if isinstance(exc.detail, dict):
            kind, message = str(exc.detail["kind"]), str(exc.detail["message"])
        else:
            kind, message = _slug(exc.status_code), str(exc.detail)
        return error_response(exc.status_code, kind, message, exc.headers)

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

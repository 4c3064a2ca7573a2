"""Errors become JSON answers in one place: input errors 4xx, our faults 5xx without details."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from derivo.errors import (
    CacheError,
    CorruptImage,
    DerivoError,
    InputError,
    LimitExceeded,
    QueueFull,
    UnsupportedFormat,
)
from derivo.service.http_errors import install

RAISED: dict[str, Exception] = {
    "unsupported": UnsupportedFormat("not an image"),
    "limit": LimitExceeded("upload exceeds the 1 MB limit"),
    "input": InputError("empty upload"),
    "corrupt": CorruptImage("truncated JPEG"),
    "queue": QueueFull("render queue is full (1 waiting)"),
    "cache": CacheError("cannot use cache database: disk I/O error"),
    "derivo": DerivoError("something of ours"),
    "bug": ZeroDivisionError("division by zero"),
}


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install(app, retry_after=7)

    @app.get("/raise/{name}")
    async def raising(name: str) -> None:
        raise RAISED[name]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("unsupported", 415, "unsupported"),
        ("limit", 413, "limit"),
        ("input", 400, "input"),
        ("corrupt", 400, "corrupt"),
        ("queue", 503, "queue-full"),
        ("cache", 503, "cache"),
        ("derivo", 500, "error"),
    ],
)
def test_each_derivo_error_has_its_status(
    client: TestClient, name: str, status: int, kind: str
) -> None:
    response = client.get(f"/raise/{name}")
    assert response.status_code == status
    assert response.json() == {"error": {"kind": kind, "message": str(RAISED[name])}}
    assert response.headers.get("retry-after") == ("7" if status == 503 else None)


def test_an_unexpected_error_is_a_500_without_details_and_is_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="derivo.service"):
        response = client.get("/raise/bug")
    assert response.status_code == 500
    assert response.json() == {"error": {"kind": "internal", "message": "internal server error"}}
    assert "division by zero" not in response.text
    [record] = [r for r in caplog.records if r.name == "derivo.service"]
    assert record.getMessage() == "GET /raise/bug failed"
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError

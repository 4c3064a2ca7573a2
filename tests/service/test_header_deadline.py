"""A client has ``--idle-timeout`` seconds to send a request's headers (slowloris)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from .support import Server, start_server

pytestmark = pytest.mark.slow

#: Longest the test waits for the server to close a connection (the deadline is 1 s).
DEADLINE = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server with a 1 s idle timeout for the module: each test opens its own
    connections, and the server stays healthy between them."""
    started = start_server(
        tmp_path_factory.mktemp("deadline") / "data", "--workers", "1", "--idle-timeout", "1"
    )
    try:
        yield started
    finally:
        started.stop()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=DEADLINE)


def _closed_while_trickling(sock: socket.socket, data: bytes) -> bool:
    """Send ``data`` a byte at a time, four a second, until the server closes the
    connection (True) or ``DEADLINE`` passes (False)."""
    sock.settimeout(0.25)  # the trickle's pace
    end = time.monotonic() + DEADLINE
    for byte in data:
        if time.monotonic() > end:
            return False
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue  # nothing from the server yet: next byte
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_headers_sent_a_byte_at_a_time_are_cut_off(server: Server) -> None:
    endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 4000
    with _connect(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # kept alive for the next one
        assert _closed_while_trickling(sock, endless), "the trickling client was never cut off"
    assert httpx.get(f"{server.url}/healthz", timeout=DEADLINE).status_code == 200


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with _connect(server.url) as sock:
        assert sock.recv(65536) == b""  # closed by the server, before DEADLINE
    with _connect(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.")  # half a request line, then silence
        assert sock.recv(65536) == b""

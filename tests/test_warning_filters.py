"""derivo's warning filters: added when missing, never twice, back after a caller drops them."""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image

from derivo.jpeg import Header, read_header
from derivo.warning_filters import Ignored, keep_ignoring

QUIET = Ignored(UserWarning, r"tests\.nowhere\Z")


def test_a_filter_is_added_once_and_the_list_then_left_alone() -> None:
    with warnings.catch_warnings():
        keep_ignoring(QUIET)
        filters = list(warnings.filters)
        assert filters[0] == QUIET.entry()
        warnings.simplefilter("error")  # a filter of the caller's, set later, stays first
        ahead = list(warnings.filters)
        keep_ignoring(QUIET)
        assert warnings.filters == ahead
        assert ahead.count(QUIET.entry()) == 1


def test_a_filter_dropped_by_the_caller_is_added_again() -> None:
    with warnings.catch_warnings():
        with warnings.catch_warnings():
            keep_ignoring(QUIET)
        assert QUIET.entry() not in warnings.filters  # restored by the block's end
        keep_ignoring(QUIET)
        assert QUIET.entry() in warnings.filters


def test_the_filter_ignores_what_it_names() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keep_ignoring(Ignored(UserWarning, r"tests\.test_warning_filters\Z"))
        warnings.warn("quiet", UserWarning, stacklevel=1)
        warnings.warn("heard", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["heard"]


def _jpeg_header_of(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    start = data.index(b"\xff\xc0")  # baseline SOF0: length, precision, height, width
    data[start + 5 : start + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_reading_a_huge_header_needs_no_decompression_bomb_filter() -> None:
    """Pillow checks for bombs in ``Image.open`` only: the header reader gets no warning,
    nor an error, to silence; derivo's own limits come after it."""
    for side in (12_000, 20_000):  # Pillow warns above 89 MP and refuses above 179 MP
        data = _jpeg_header_of(side, side)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert read_header(data) == Header(side, side, False, 1, None)

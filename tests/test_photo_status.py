"""Photo states: changes that name the state they expect, and refuse when it does not hold."""

from __future__ import annotations

import pytest

from derivo import DerivativeCache, FileStat, PhotoStatus
from derivo.errors import IllegalTransition, UnknownPhoto

HASH = "cd" * 32


def put(cache: DerivativeCache, photo_id: str, status: PhotoStatus) -> None:
    stat = FileStat(size=1, mtime_ns=2, inode=3)
    cache.put_photo(photo_id, source=f"/x/{photo_id}", stat=stat, source_hash=HASH, status=status)


def test_mark_pending_from_the_expected_state_clears_the_error(cache: DerivativeCache) -> None:
    put(cache, "p", PhotoStatus.PROCESSING)
    cache.set_status("p", PhotoStatus.FAILED, error="worker died", error_kind="crashed")
    cache.mark_pending("p", expected=PhotoStatus.FAILED)
    record = cache.photo("p")
    assert record is not None
    assert (record.status, record.error, record.error_kind) == (PhotoStatus.PENDING, None, None)


@pytest.mark.parametrize("actual", [s for s in PhotoStatus if s is not PhotoStatus.DONE])
def test_mark_pending_from_another_state_raises_and_changes_nothing(
    cache: DerivativeCache, actual: PhotoStatus
) -> None:
    put(cache, "p", actual)
    with pytest.raises(IllegalTransition) as excinfo:
        cache.mark_pending("p", expected=PhotoStatus.DONE)
    assert str(excinfo.value) == f"photo p is {actual}, not done: cannot make it pending"
    record = cache.photo("p")
    assert record is not None and record.status is actual


def test_several_expected_states_and_an_unknown_photo(cache: DerivativeCache) -> None:
    put(cache, "p", PhotoStatus.DONE)
    cache.mark_pending("p", expected=(PhotoStatus.FAILED, PhotoStatus.DONE))
    assert cache.counts()[PhotoStatus.PENDING] == 1
    with pytest.raises(UnknownPhoto, match="^no photo q$"):
        cache.mark_pending("q", expected=PhotoStatus.DONE)


def test_statuses_read_back_as_the_enum(cache: DerivativeCache) -> None:
    for status in PhotoStatus:
        put(cache, status.value, status)
    assert {r.id: r.status for r in cache.photos()} == {s.value: s for s in PhotoStatus}
    assert all(type(r.status) is PhotoStatus for r in cache.photos())
    assert list(cache.counts()) == list(PhotoStatus)

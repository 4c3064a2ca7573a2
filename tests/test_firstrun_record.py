"""Recording many photos at once: one statement per window, paths under the root as given."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from derivo import DerivativeCache, Pipeline, SpecSet, WorkerPool
from derivo import recorder as recorder_module
from derivo.cache import FileStat, PhotoStatus
from derivo.capture import Captured
from derivo.errors import CacheError
from derivo.hashing import hash_file
from derivo.specs import THUMBNAIL
from derivo.tasks import Derivative
from tests.conftest import SAMPLES
from tests.gates import Gate

HASH = "ab" * 32


def derivative(path: str) -> Derivative:
    return Derivative(spec=THUMBNAIL.name, path=path, width=64, height=48, bytes=900, format="jpeg")


@pytest.mark.parametrize(
    "tail",
    [
        f"ab/{HASH}/thumbnail.jpg",
        f"./ab/{HASH}/thumbnail.jpg",
        f"ab//{HASH}/thumbnail.jpg",
        f"ab/{HASH}/./thumbnail.jpg",
    ],
)
def test_a_derivative_is_recorded_relative_to_the_root_however_its_path_is_spelled(
    tmp_path: Path, tail: str
) -> None:
    root = (tmp_path / "out").resolve()
    with DerivativeCache(tmp_path / "d.db", root=root) as cache:
        cache.record(HASH, [THUMBNAIL], [derivative(f"{root}/{tail}")])
        made = cache.derivatives_of([HASH], SpecSet((THUMBNAIL,)))[HASH][THUMBNAIL.name]
    assert made.path == f"{root}/ab/{HASH}/thumbnail.jpg"


def test_a_derivative_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = (tmp_path / "out").resolve()
    with DerivativeCache(tmp_path / "d.db", root=root) as cache:
        with pytest.raises(CacheError, match="is outside the output folder"):
            cache.record(HASH, [THUMBNAIL], [derivative(f"{root}-other/ab/thumbnail.jpg")])


def test_photos_put_together_are_inserted_and_updated_as_one_by_one(tmp_path: Path) -> None:
    with DerivativeCache(tmp_path / "d.db") as cache:
        first = Captured(at=1_600_000_000.0, offset=60, source="exif")
        cache.put_photo(
            "kept", source="/a/kept.jpg", stat=None, source_hash=None, name="Kept", captured=first
        )
        cache.set_status("kept", PhotoStatus.FAILED, error="truncated JPEG", error_kind="input")
        stat = FileStat(size=10, mtime_ns=20, inode=30)
        with cache.batch():
            cache.put_photos(
                [
                    ("kept", "/b/kept.jpg", stat, HASH, PhotoStatus.PROCESSING),
                    ("new", "/b/new.jpg", None, None, PhotoStatus.PENDING),
                ]
            )
        kept, new = cache.photo("kept"), cache.photo("new")
    assert kept is not None and new is not None
    assert (kept.source, kept.stat, kept.hash, kept.status) == (
        "/b/kept.jpg",
        stat,
        HASH,
        PhotoStatus.PROCESSING,
    )
    assert (kept.error, kept.error_kind, kept.name, kept.captured) == (None, None, "Kept", first)
    assert (new.source, new.stat, new.hash, new.status) == ("/b/new.jpg", None, None, "pending")
    assert new.captured is not None and new.captured.source == "recorded"


def _gated_run(
    tmp_path: Path, cache: DerivativeCache, photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> list[list[Path]]:
    """Render ``photos`` behind a gate that holds each until all are submitted, then lets
    them all through at once; the files made durable by each recorder round."""
    rounds: list[list[Path]] = []
    real = recorder_module.make_durable

    def spy(files: Iterable[str]) -> None:
        paths = [Path(f) for f in files]
        rounds.append(paths)
        real(paths)

    monkeypatch.setattr(recorder_module, "make_durable", spy)
    monkeypatch.setattr(recorder_module, "GATHER", 3600.0)  # only landings end a round's wait
    gate = Gate.make(tmp_path / "gate")
    hashes = [hash_file(photo) for photo in photos]
    for source_hash in hashes:
        gate.hold(source_hash)
    gate.open()
    with WorkerPool(workers=2, func=gate.render()) as pool:
        pipeline = Pipeline(cache=cache, executor=pool, out_dir=tmp_path / "out")
        futures = [pipeline.submit(photo.name, photo) for photo in photos]
        for source_hash in hashes:
            gate.release(source_hash)
        results = [future.result(timeout=120) for future in futures]
    assert [r.outcome for r in results] == ["rendered"] * len(photos)
    return rounds


@pytest.mark.slow
def test_renders_landing_while_others_are_in_the_air_are_recorded_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = sorted(SAMPLES.glob("orientation/*.jpg"))[:4]
    with DerivativeCache(tmp_path / "d.db") as cache:
        rounds = _gated_run(tmp_path, cache, photos, monkeypatch)
    assert len(rounds) == 1 and len(rounds[0]) == 2 * len(photos)
    assert all(path.is_file() for path in rounds[0])


@pytest.mark.slow
def test_a_render_with_nothing_else_in_the_air_is_recorded_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DerivativeCache(tmp_path / "d.db") as cache:
        rounds = _gated_run(tmp_path, cache, [SAMPLES / "jolla.jpg"], monkeypatch)
    assert [len(paths) for paths in rounds] == [2]

"""Re-runs answered in bulk: files found unread, known ones never opened, others read once."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from derivo import DerivativeCache, Pipeline
from derivo import discover as discover_module
from derivo.discover import Found, scan
from tests.conftest import SAMPLES, CountingExecutor


def old(path: Path) -> None:
    then = time.time() - 86_400
    os.utime(path, (then, then))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two photos and a text file, older than any record of them."""
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "jolla.jpg", root / "a.jpg")
    shutil.copy(SAMPLES / "canon_hdr_NO.jpg", root / "sub" / "b.jpg")
    (root / "notes.txt").write_text("not a photo")
    for path in (root / "a.jpg", root / "sub" / "b.jpg", root / "notes.txt"):
        old(path)
    return root


def test_scan_yields_every_file_unread_with_its_stat(folder: Path) -> None:
    found = list(scan([folder]))
    assert [f.location for f in found] == [
        str(folder / "a.jpg"),
        str(folder / "notes.txt"),
        str(folder / "sub" / "b.jpg"),
    ]
    assert all(f.walked and f.stat is not None for f in found)
    assert [f.stat.st_ino for f in found if f.stat] == [
        os.stat(f.location).st_ino for f in found
    ]
    assert [f.format for f in found] == ["jpeg", None, "jpeg"]


def test_a_rerun_opens_no_known_photo_and_passes_over_the_rest(
    folder: Path, tmp_path: Path, executor: CountingExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    read: list[str] = []
    sniff = discover_module.sniff_file

    def counted(path: Path) -> str | None:
        read.append(path.name)
        return sniff(path)

    monkeypatch.setattr(discover_module, "sniff_file", counted)
    with DerivativeCache(out / "derivo.db") as cache:
        passed: list[Found] = []
        first = list(
            Pipeline(cache=cache, executor=executor, out_dir=out).run(
                scan([folder]), passed_over=passed.append
            )
        )
        assert sorted(r.outcome for r in first) == ["rendered", "rendered"]
        assert [f.location for f in passed] == [str(folder / "notes.txt")]
        assert sorted(read) == ["a.jpg", "b.jpg", "notes.txt"]
        read.clear()
        passed.clear()
        again = list(
            Pipeline(cache=cache, executor=executor, out_dir=out).run(
                scan([folder]), passed_over=passed.append
            )
        )
    assert sorted(r.outcome for r in again) == ["cached", "cached"]
    assert read == ["notes.txt"]  # the photos were known unchanged: never opened
    assert [f.location for f in passed] == [str(folder / "notes.txt")]
    assert executor.submitted == 2


def test_a_named_file_that_is_not_an_image_fails_rather_than_passing_over(
    folder: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    passed: list[Found] = []
    with DerivativeCache(tmp_path / "out" / "derivo.db") as cache:
        [result] = Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out").run(
            scan([folder / "notes.txt"]), passed_over=passed.append
        )
    assert result.outcome == "failed" and passed == []


def test_a_changed_photo_is_read_and_rendered_again_among_unchanged_ones(
    folder: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        list(Pipeline(cache=cache, executor=executor, out_dir=out).run(scan([folder])))
        shutil.copy(SAMPLES / "Reconyx_HC500_Hyperfire.jpg", folder / "a.jpg")
        old(folder / "a.jpg")
        again = {
            Path(r.photo_id).name: r.outcome
            for r in Pipeline(cache=cache, executor=executor, out_dir=out).run(scan([folder]))
        }
    assert again == {"a.jpg": "rendered", "b.jpg": "cached"}


def test_a_link_is_recorded_under_its_target_and_answered_unchanged(
    folder: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    (links / "link.jpg").symlink_to(folder / "a.jpg")
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        [first] = Pipeline(cache=cache, executor=executor, out_dir=out).run(scan([links]))
        [again] = Pipeline(cache=cache, executor=executor, out_dir=out).run(scan([links]))
        record = cache.photo(str(links / "link.jpg"))
    assert (first.outcome, again.outcome) == ("rendered", "cached")
    assert record is not None and record.source == str(folder / "a.jpg")

"""Atomic writes and file modes: derivatives follow the umask, private files stay 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from derivo import DerivativeCache, InlineExecutor, Pipeline, atomic
from derivo.atomic import (
    TEMP_PATTERN,
    create_temp,
    make_durable,
    remove_leftovers,
    write_atomically,
)
from derivo.service.auth import load_or_create_token
from derivo.service.originals import Originals
from tests.conftest import SAMPLES


@pytest.fixture(params=[0o022, 0o027])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_derivatives_and_their_folders_follow_the_umask(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "out"
    with DerivativeCache(tmp_path / "d.db") as cache, InlineExecutor() as executor:
        pipeline = Pipeline(cache=cache, executor=executor, out_dir=out)
        result = pipeline.submit("jolla", SAMPLES / "jolla.jpg").result()
    assert result.outcome == "rendered"
    files = [Path(d.path) for d in result.derivatives.values()]
    assert len(files) == 2
    assert {mode(f) for f in files} == {0o666 & ~umask}
    folder = files[0].parent
    assert {mode(folder), mode(folder.parent)} == {0o777 & ~umask}


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    token, _ = load_or_create_token(tmp_path / "data" / "token")
    assert mode(tmp_path / "data" / "token") == 0o600
    originals = Originals(tmp_path / "originals")
    f, temp = originals.temp_file()
    with f:
        f.write(b"photo")
    assert mode(temp) == 0o600
    final = originals.commit(temp, "ab" * 32)
    assert mode(final) == 0o600 and final.read_bytes() == b"photo"
    write_atomically(tmp_path / "w", {"secret": b"x"}, private=True)
    assert mode(tmp_path / "w" / "secret") == 0o600


def test_temp_files_share_one_pattern_and_leftovers_are_removed(tmp_path: Path) -> None:
    names = []
    for name in ("upload", "thumbnail-0123.jpg", "token"):
        f, path = create_temp(tmp_path, name)
        f.close()
        names.append(path)
    assert all(p.match(TEMP_PATTERN) and p.name.startswith(".") for p in names)
    assert len({p.name for p in names}) == 3
    (tmp_path / "keep.tmp").write_bytes(b"not ours")
    assert remove_leftovers(tmp_path) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tmp"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_atomically(tmp_path, {"a.jpg": "not bytes"})  # type: ignore[dict-item]
    assert list(tmp_path.iterdir()) == []


def test_without_syncfs_each_file_and_its_folder_is_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ab"
    write_atomically(folder, {"thumbnail.jpg": b"a", "preview.jpg": b"b"}, sync=False)
    monkeypatch.setattr(atomic, "_syncfs", lambda: None)
    synced: list[int] = []
    fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    make_durable(path for path in folder.iterdir())  # a generator, as the recorder passes
    expected = [folder / "thumbnail.jpg", folder / "preview.jpg", folder]
    assert sorted(synced) == sorted(path.stat().st_ino for path in expected)

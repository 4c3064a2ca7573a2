"""Mirror names: one per source even when names differ only by extension; ``watch``
keeps them; ``clean`` removes them with what they link to and counts bytes once."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from derivo.mirror import mirrored_source
from tests.conftest import ORIENTATION, SAMPLES
from tests.watching import DEADLINE, watching

pytestmark = pytest.mark.usefixtures("cli_renders_inline")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def current(source: str) -> dict[str, Path]:
    """The derivative files ``derivo ls`` names for ``source``, newest per spec."""
    [photo] = json.loads(run("ls", "--out", "out", "--json", source)[1])
    found: dict[str, Path] = {}
    for d in photo["derivatives"]:
        found.setdefault(d["spec"], Path(d["path"]))
    return found


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``lib/2024`` with IMG_1.jpg and IMG_1.heic: two photos, one stem."""
    monkeypatch.chdir(tmp_path)
    folder = Path("lib/2024")
    folder.mkdir(parents=True)
    shutil.copy(ORIENTATION / "landscape_1.jpg", folder / "IMG_1.jpg")
    shutil.copy(SAMPLES / "IMG_5195.HEIC", folder / "IMG_1.heic")
    return folder


def mirror_process(*args: str) -> None:
    code, output = run("process", *args, "--out", "out", "--layout", "mirror", "--workers", "1")
    assert code == 0, output


def test_sources_that_differ_only_by_extension_keep_their_own_names(lib: Path) -> None:
    mirror_process("lib")
    assert sorted(p.name for p in Path("out/2024").iterdir()) == [
        "IMG_1.heic.preview.jpg",
        "IMG_1.heic.thumbnail.jpg",
        "IMG_1.jpg.preview.jpg",
        "IMG_1.jpg.thumbnail.jpg",
    ]
    for source in ("IMG_1.jpg", "IMG_1.heic"):
        made = current(f"lib/2024/{source}")
        for spec in ("thumbnail", "preview"):
            assert os.path.samefile(f"out/2024/{source}.{spec}.jpg", made[spec])
    # a new thumbnail spec: each name follows its own photo's new file
    mirror_process("lib", "--spec", "thumbnail=100x100")
    jpeg, heic = current("lib/2024/IMG_1.jpg"), current("lib/2024/IMG_1.heic")
    assert os.path.samefile("out/2024/IMG_1.jpg.thumbnail.jpg", jpeg["thumbnail"])
    assert os.path.samefile("out/2024/IMG_1.heic.thumbnail.jpg", heic["thumbnail"])
    assert not os.path.samefile(jpeg["thumbnail"], heic["thumbnail"])
    assert len(list(Path("out/2024").iterdir())) == 4


def test_mirror_names_parse_back_to_their_source() -> None:
    assert mirrored_source("IMG_1.heic.thumbnail.jpg") == ("IMG_1.heic", "thumbnail")
    assert mirrored_source("a.b.square-2.webp") == ("a.b", "square-2")
    assert mirrored_source("IMG_1.jpg") is None  # "IMG_1" is a source name, not a spec
    assert mirrored_source("notes.thumbnail.txt") is None
    assert mirrored_source("derivo.db") is None


def test_clean_removes_the_mirror_names_of_removed_photos(lib: Path) -> None:
    mirror_process("lib")
    Path("out/2024/notes.txt").write_text("mine")
    Path("out/2024/IMG_1.edited.jpg").write_text("mine too: no spec called edited was made")
    heic = current("lib/2024/IMG_1.heic")
    sizes = {spec: path.stat().st_size for spec, path in heic.items()}
    Path("lib/2024/IMG_1.heic").unlink()
    before = sorted(Path("out").rglob("*"))

    code, output = run("clean", "--out", "out", "--dry-run")
    assert code == 0
    lines = output.splitlines()
    assert lines[-3:] == [
        "would remove out/2024/IMG_1.heic.preview.jpg  (link to a removed derivative)",
        "would remove out/2024/IMG_1.heic.thumbnail.jpg  (link to a removed derivative)",
        # hard links: the bytes are freed once, when the last name goes
        f"Dry run: would forget 1 photo, remove 4 files, free {sum(sizes.values()):,} bytes",
    ]
    assert sorted(Path("out").rglob("*")) == before

    code, output = run("clean", "--out", "out")
    assert code == 0
    assert output.splitlines()[-1] == (
        f"Forgot 1 photo, removed 4 files, freed {sum(sizes.values()):,} bytes"
    )
    assert sorted(p.name for p in Path("out/2024").iterdir()) == [
        "IMG_1.edited.jpg",
        "IMG_1.jpg.preview.jpg",
        "IMG_1.jpg.thumbnail.jpg",
        "notes.txt",
    ]
    assert not any(path.exists() for path in heic.values())
    assert run("clean", "--out", "out")[1] == "Forgot 0 photos, removed 0 files, freed 0 bytes\n"


def test_clean_removes_the_mirror_name_of_a_spec_no_longer_used(lib: Path) -> None:
    Path("lib/2024/IMG_1.heic").unlink()
    mirror_process("lib", "--spec", "small=x100")
    small = current("lib/2024/IMG_1.jpg")["small"]
    size = small.stat().st_size
    assert run("process", "lib", "--out", "out", "--workers", "1")[0] == 0
    code, output = run("clean", "--out", "out")
    assert code == 0
    assert output.splitlines() == [
        f"removed {os.path.relpath(small)}  {size:,} bytes (spec small is no longer configured)",
        "removed out/2024/IMG_1.jpg.small.jpg  (link to a removed derivative)",
        f"Forgot 0 photos, removed 2 files, freed {size:,} bytes",
    ]
    assert not small.exists() and not Path("out/2024/IMG_1.jpg.small.jpg").exists()
    assert not Path("out/2024").exists()  # its one name gone, the folder goes too


def test_a_renamed_photo_loses_its_old_mirror_names_and_frees_nothing(lib: Path) -> None:
    mirror_process("lib")
    Path("lib/2024/IMG_1.heic").rename("lib/2024/IMG_2.heic")
    mirror_process("lib")
    files = current("lib/2024/IMG_2.heic")
    code, output = run("clean", "--out", "out")
    assert code == 0
    assert output.splitlines() == [
        "forgot lib/2024/IMG_1.heic (source gone)",
        "removed out/2024/IMG_1.heic.preview.jpg  (its photo is no longer recorded)",
        "removed out/2024/IMG_1.heic.thumbnail.jpg  (its photo is no longer recorded)",
        "Forgot 1 photo, removed 2 files, freed 0 bytes",  # the files are IMG_2.heic's too
    ]
    for spec, path in files.items():
        assert os.path.samefile(f"out/2024/IMG_2.heic.{spec}.jpg", path)
    assert sorted(p.name for p in Path("out/2024").iterdir()) == [
        "IMG_1.jpg.preview.jpg",
        "IMG_1.jpg.thumbnail.jpg",
        "IMG_2.heic.preview.jpg",
        "IMG_2.heic.thumbnail.jpg",
    ]


def test_copies_made_where_links_fail_are_removed_and_counted(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    with monkeypatch.context() as patched:
        patched.setattr(os, "link", no_links)
        mirror_process("lib")
    copies = sorted(Path("out/2024").glob("IMG_1.heic.*"))
    sizes = [p.stat().st_size for p in copies]
    assert [p.stat().st_nlink for p in copies] == [1, 1]
    freed = sum(sizes) + sum(p.stat().st_size for p in current("lib/2024/IMG_1.heic").values())
    Path("lib/2024/IMG_1.heic").unlink()

    code, output = run("clean", "--out", "out")
    assert code == 0
    assert output.splitlines()[-3:] == [
        *(
            f"removed {p}  {size:,} bytes (its photo is no longer recorded)"
            for p, size in zip(copies, sizes, strict=True)
        ),
        f"Forgot 1 photo, removed 4 files, freed {freed:,} bytes",
    ]
    assert sorted(p.name for p in Path("out/2024").iterdir()) == [
        "IMG_1.jpg.preview.jpg",
        "IMG_1.jpg.thumbnail.jpg",
    ]


def test_an_emptied_mirror_folder_goes_too(lib: Path) -> None:
    Path("lib/2024/IMG_1.jpg").unlink()
    mirror_process("lib")
    Path("lib/2024/IMG_1.heic").unlink()
    assert run("clean", "--out", "out")[0] == 0
    assert not Path("out/2024").exists()
    assert Path("out/derivo.db").is_file()


@pytest.mark.slow  # a real command-line process
def test_watch_keeps_mirror_names(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "out"
    (lib / "2024").mkdir(parents=True)
    shutil.copy(ORIENTATION / "landscape_1.jpg", lib / "2024" / "IMG_1.jpg")
    with watching(lib, out, "--layout", "mirror") as watch:
        results = [json.loads(watch.lines.get(timeout=DEADLINE))]
        shutil.copy(SAMPLES / "IMG_5195.HEIC", lib / "2024" / "IMG_1.heic")
        results.append(json.loads(watch.lines.get(timeout=DEADLINE)))
    assert watch.returncode == 0, watch.stderr
    for result in results:  # each photo's names are in place when its line is printed
        name = Path(result["source"]).name
        for d in result["derivatives"]:
            assert os.path.samefile(out / "2024" / f"{name}.{d['spec']}.jpg", d["path"])
    assert len(list((out / "2024").iterdir())) == 4

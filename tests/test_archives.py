"""Safe archive extraction: hostile uploads are refused with one line, and nothing lands outside."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from vitdemo.data.archives import extract_archive
from vitdemo.errors import DatasetError, UnsafeArchiveError


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def _tar_gz(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(archive folder, extraction target) inside a sandbox we can inspect for escapes."""
    (tmp_path / "archives").mkdir()
    return tmp_path / "archives", tmp_path / "sandbox" / "target"


def _assert_nothing_escaped(target: Path) -> None:
    sandbox = target.parent
    outside = [p for p in _files_under(sandbox) if not p.startswith("target/")]
    assert outside == []
    assert not target.exists() or _files_under(target) == []


def test_good_zip_extracts_image_folder_and_skips_mac_junk(sandbox):
    archives, target = sandbox
    members = {
        "pets/cat/1.png": b"a",
        "pets/dog/2.png": b"b",
        "__MACOSX/pets/._1.png": b"x",
        "pets/.DS_Store": b"x",
    }
    extract_archive(_zip(archives / "ok.zip", members), target)
    assert _files_under(target) == ["pets/cat/1.png", "pets/dog/2.png"]


def test_good_tar_gz_extracts(sandbox):
    archives, target = sandbox
    extract_archive(_tar_gz(archives / "ok.tar.gz", [("cat/1.png", b"a"), ("dog/2.png", b"bb")]), target)
    assert _files_under(target) == ["cat/1.png", "dog/2.png"]
    assert (target / "dog/2.png").read_bytes() == b"bb"


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_parent_path_member_is_refused_and_nothing_is_written(sandbox, kind):
    archives, target = sandbox
    members = {"cat/1.png": b"ok", "../evil.txt": b"pwned"}
    path = (
        _zip(archives / "evil.zip", members)
        if kind == "zip"
        else _tar_gz(archives / "evil.tar.gz", list(members.items()))
    )
    with pytest.raises(UnsafeArchiveError, match="outside the target folder") as err:
        extract_archive(path, target)
    assert "\n" not in str(err.value)
    _assert_nothing_escaped(target)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_absolute_path_member_is_refused(sandbox, kind):
    archives, target = sandbox
    escape = str(target.parent / "absolute.txt")
    members = {escape: b"pwned"}
    path = (
        _zip(archives / "abs.zip", members)
        if kind == "zip"
        else _tar_gz(archives / "abs.tar.gz", list(members.items()))
    )
    with pytest.raises(UnsafeArchiveError, match="absolute path"):
        extract_archive(path, target)
    _assert_nothing_escaped(target)


def test_zip_symlink_is_refused(sandbox):
    archives, target = sandbox
    path = _zip(archives / "link.zip", {"cat/1.png": b"a"}, symlinks={"cat/link.png": "/etc/passwd"})
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_archive(path, target)
    _assert_nothing_escaped(target)


@pytest.mark.parametrize(
    ("link_type", "words"), [(tarfile.SYMTYPE, "symbolic link"), (tarfile.LNKTYPE, "hard link")]
)
def test_tar_links_are_refused(sandbox, link_type, words):
    archives, target = sandbox
    link = tarfile.TarInfo("cat/link.png")
    link.type = link_type
    link.linkname = "/etc/passwd"
    path = _tar_gz(archives / "link.tar.gz", [("cat/1.png", b"a"), link])
    with pytest.raises(UnsafeArchiveError, match=words):
        extract_archive(path, target)
    _assert_nothing_escaped(target)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_oversized_member_is_refused_before_writing(sandbox, kind):
    archives, target = sandbox
    members = {"cat/small.png": b"a" * 10, "cat/huge.png": b"\0" * 50_000}
    path = (
        _zip(archives / "big.zip", members)
        if kind == "zip"
        else _tar_gz(archives / "big.tar.gz", list(members.items()))
    )
    with pytest.raises(UnsafeArchiveError, match="expands to more than"):
        extract_archive(path, target, max_total_bytes=10_000)
    _assert_nothing_escaped(target)


def test_too_many_files_is_refused(sandbox):
    archives, target = sandbox
    path = _zip(archives / "many.zip", {f"cat/{i}.png": b"a" for i in range(12)})
    with pytest.raises(UnsafeArchiveError, match="more than 10 files"):
        extract_archive(path, target, max_files=10)
    _assert_nothing_escaped(target)


def test_not_an_archive_is_a_dataset_error(sandbox):
    archives, target = sandbox
    path = archives / "notes.zip"
    path.write_text("this is text, not a zip")
    with pytest.raises(DatasetError, match=r"not a \.zip or \.tar\.gz"):
        extract_archive(path, target)


def test_uploaded_bytes_extract_like_a_file(sandbox):
    archives, target = sandbox
    data = _zip(archives / "ok.zip", {"a/1.png": b"1", "b/2.png": b"2"}).read_bytes()
    extract_archive(data, target)
    assert _files_under(target) == ["a/1.png", "b/2.png"]

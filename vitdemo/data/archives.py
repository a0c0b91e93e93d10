"""Safe extraction of uploaded image-folder archives (.zip, .tar, .tar.gz/.tgz).

Archives come from strangers. Before a single byte is written, every member is checked: its path
must stay inside the target folder (no `../`, no absolute path, no drive letter), it must be a
plain file or folder (symbolic links, hard links and device files are refused), and the totals must
stay under caps on expanded size and file count. Sizes declared in the archive can lie, so the
bytes actually written are counted too. Each refusal is an `UnsafeArchiveError` whose text is one
sentence for a person; on any failure the files this call wrote are removed again.

`tarfile.extractall` and `zipfile.extractall` are not used: their protections differ between
Python versions and they follow links.
"""

from __future__ import annotations

import gzip
import io
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vitdemo.errors import DatasetError, UnsafeArchiveError

DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3  # 2 GiB expanded: far beyond a classroom dataset
DEFAULT_MAX_FILES = 20_000
_CHUNK = 1024 * 1024
# Files that archivers on macOS/Windows add and that are never images; skipped, not refused.
_JUNK_DIRS = {"__MACOSX"}
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class _Member:
    """One archive entry reduced to what extraction needs, whatever the archive format."""

    name: str  # the path as written in the archive
    parts: tuple[str, ...]  # its safe relative components
    is_dir: bool
    size: int  # declared size in bytes (0 for folders)
    handle: object  # zipfile.ZipInfo or tarfile.TarInfo


def _human_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def safe_member_parts(name: str) -> tuple[str, ...]:
    """The components of an archive member's path, or UnsafeArchiveError if it would leave the target.

    Args:
        name: the member path as stored in the archive (either slash direction).
    """
    if "\x00" in name:
        raise UnsafeArchiveError(
            f"The archive member {name!r} has a NUL byte in its name; nothing was extracted."
        )
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    drive_letter = len(normalised) >= 2 and normalised[1] == ":" and normalised[0].isalpha()
    if path.is_absolute() or drive_letter:
        raise UnsafeArchiveError(f"The archive member {name!r} has an absolute path; nothing was extracted.")
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError(
            f"The archive member {name!r} would be written outside the target folder; nothing was extracted."
        )
    return parts


def _is_junk(parts: tuple[str, ...]) -> bool:
    return bool(parts) and (parts[0] in _JUNK_DIRS or parts[-1] in _JUNK_NAMES or parts[-1].startswith("._"))


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(
                f"The archive member {info.filename!r} is a symbolic link; archives with links are refused."
            )
        file_type = stat.S_IFMT(mode)  # 0 when the archiver recorded permissions only
        if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(
                f"The archive member {info.filename!r} is not a plain file or folder; refused."
            )
        parts = safe_member_parts(info.filename)
        yield _Member(info.filename, parts, info.is_dir(), 0 if info.is_dir() else info.file_size, info)


def _tar_members(archive: tarfile.TarFile) -> Iterator[_Member]:
    # next() one member at a time, so the caps stop a bomb before the rest is decompressed.
    while (info := archive.next()) is not None:
        if info.issym() or info.islnk():
            kind = "symbolic link" if info.issym() else "hard link"
            raise UnsafeArchiveError(
                f"The archive member {info.name!r} is a {kind}; archives with links are refused."
            )
        if not (info.isfile() or info.isdir()):
            raise UnsafeArchiveError(
                f"The archive member {info.name!r} is not a plain file or folder; refused."
            )
        parts = safe_member_parts(info.name)
        yield _Member(info.name, parts, info.isdir(), 0 if info.isdir() else info.size, info)


@contextmanager
def _open_archive(source: BinaryIO, label: str) -> Iterator[tuple[str, object]]:
    """Open `source` as zip or tar (by content, not by name): yields ("zip"|"tar", archive)."""
    source.seek(0)
    if zipfile.is_zipfile(source):
        source.seek(0)
        try:
            with zipfile.ZipFile(source) as archive:
                yield "zip", archive
        except (zipfile.BadZipFile, EOFError, zlib.error) as err:
            raise DatasetError(f"{label} is a damaged zip archive ({err}).") from None
        return
    source.seek(0)
    try:
        archive = tarfile.open(fileobj=source, mode="r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError, EOFError):
        raise DatasetError(f"{label} is not a .zip or .tar.gz archive we can read.") from None
    try:
        with archive:
            yield "tar", archive
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetError(f"{label} is a damaged archive ({err}).") from None


def _members(kind: str, archive: object) -> Iterator[_Member]:
    return _zip_members(archive) if kind == "zip" else _tar_members(archive)


def _check_members(kind: str, archive: object, max_total_bytes: int, max_files: int) -> None:
    """Validate every member against the path rules and the caps (nothing written yet)."""
    total, files = 0, 0
    for member in _members(kind, archive):
        if not member.is_dir:
            files += 1
            total += member.size
        if files > max_files:
            raise UnsafeArchiveError(
                f"The archive holds more than {max_files:,} files, the cap; nothing was extracted."
            )
        if total > max_total_bytes:
            raise UnsafeArchiveError(
                f"The archive expands to more than {_human_bytes(max_total_bytes)}, the cap; nothing was extracted."
            )


def _open_member(kind: str, archive: object, member: _Member) -> BinaryIO:
    if kind == "zip":
        return archive.open(member.handle)
    stream = archive.extractfile(member.handle)
    if stream is None:  # not a regular file after all
        raise UnsafeArchiveError(f"The archive member {member.name!r} is not a plain file; refused.")
    return stream


def _write_members(
    kind: str,
    archive: object,
    target: Path,
    max_total_bytes: int,
    written: list[Path],
) -> None:
    root = target.resolve()
    total = 0
    for member in _members(kind, archive):
        if not member.parts or _is_junk(member.parts):
            continue
        dest = root.joinpath(*member.parts)
        # Belt and braces: resolve() also catches a folder we created being swapped for a link.
        if not dest.resolve().is_relative_to(root):
            raise UnsafeArchiveError(
                f"The archive member {member.name!r} would be written outside the target folder."
            )
        if member.is_dir:
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            raise UnsafeArchiveError(f"The archive holds {member.name!r} twice; refused.")
        written.append(dest)
        with _open_member(kind, archive, member) as src, open(dest, "xb") as out:
            while chunk := src.read(_CHUNK):
                total += len(chunk)
                if total > max_total_bytes:  # the declared sizes lied
                    raise UnsafeArchiveError(
                        f"The archive expands to more than {_human_bytes(max_total_bytes)}, the cap; "
                        "extraction was stopped and undone."
                    )
                out.write(chunk)


def extract_archive(
    source: str | Path | bytes,
    target: str | Path,
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    label: str | None = None,
) -> Path:
    """Extract a .zip / .tar / .tar.gz archive into `target`, safely; returns `target`.

    Args:
        source: path to the archive, or its bytes (an upload).
        target: folder to extract into (created if missing); nothing is ever written outside it.
        max_total_bytes: cap on the expanded size of all files together.
        max_files: cap on the number of files.
        label: how to name the archive in messages (defaults to its file name).

    Raises:
        UnsafeArchiveError: a member leaves the target, is a link or device, or a cap is exceeded.
        DatasetError: the file is not a readable archive.
    """
    if isinstance(source, bytes):
        stream: BinaryIO = io.BytesIO(source)
        label = label or "The uploaded file"
    else:
        path = Path(source)
        label = label or path.name
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed in finally below
        except OSError as err:
            raise DatasetError(f"Cannot open the archive {path} ({err.strerror}).") from None
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    created_dirs_before = {p for p in target.rglob("*") if p.is_dir()}
    try:
        with _open_archive(stream, label) as (kind, archive):
            _check_members(kind, archive, max_total_bytes, max_files)
        # Reopen: a tar stream is read forwards, and validation has consumed it.
        with _open_archive(stream, label) as (kind, archive):
            _write_members(kind, archive, target, max_total_bytes, written)
    except BaseException:
        _undo(target, written, created_dirs_before)
        raise
    finally:
        stream.close()
    return target


def _undo(target: Path, written: list[Path], dirs_before: set[Path]) -> None:
    """Remove what a failed extraction wrote, leaving anything that was there before."""
    for path in written:
        path.unlink(missing_ok=True)
    new_dirs = sorted((p for p in target.rglob("*") if p.is_dir() and p not in dirs_before), reverse=True)
    for directory in new_dirs:
        shutil.rmtree(directory, ignore_errors=True)

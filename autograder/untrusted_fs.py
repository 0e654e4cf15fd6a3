"""The one way the trusted side reads a student's folder: no link followed, no special file opened, sizes capped.

Every name is looked up one component at a time relative to an open folder (`openat` with
O_NOFOLLOW on Linux and macOS), checked with lstat before it is opened and with fstat after:
only regular files are read (a FIFO, socket, device or link never is), and a file's size is
checked against the cap before a byte is read. Opens use O_NONBLOCK, so even a FIFO swapped in
between the two checks cannot hang us. Where descriptors relative to a folder are missing
(Windows, a student's laptop), the same walk runs on paths with lstat checks: no privilege
boundary exists there, so the race it leaves open gains nothing.
"""

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Descriptor-relative walking needs these; Windows has none of them.
FD_WALK = (
    hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
    and os.open in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and os.scandir in os.supports_fd
)
_EXTRA = sum(getattr(os, flag, 0) for flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_NOCTTY"))  # distinct bits
READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | _EXTRA
FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _EXTRA
KINDS = {  # what a student reads in a note about a file that was not used
    "file": "a regular file",
    "folder": "a folder",
    "link": "a symbolic link",
    "fifo": "a named pipe",
    "socket": "a socket",
    "device": "a device node",
    "other": "a special file",
}


class UntrustedPathError(Exception):
    """A name inside the student's folder cannot be read; the message says why, in words a student can act on."""


class NotFound(UntrustedPathError):
    """Nothing has that name (or a folder on the way is missing)."""


class NotRegular(UntrustedPathError):
    """The name is a link, a special file or a folder where a regular file (or a folder) was needed."""

    def __init__(self, kind: str):
        super().__init__(f"it is {KINDS[kind]}, not a regular file (links and special files are never read)")
        self.kind = kind


class TooLarge(UntrustedPathError):
    """The file is larger than the reader's cap; nothing of it was read."""

    def __init__(self, size: int, cap: int):
        super().__init__(f"it is {size} bytes, more than the {cap} allowed")
        self.size, self.cap = size, cap


def kind_of(info: os.stat_result) -> str:
    """file | folder | link | fifo | socket | device | other, from an lstat result (a Windows junction is a link)."""
    if stat.S_ISLNK(info.st_mode) or getattr(info, "st_reparse_tag", 0):
        return "link"
    tests = {"file": stat.S_ISREG, "folder": stat.S_ISDIR, "fifo": stat.S_ISFIFO, "socket": stat.S_ISSOCK}
    for name, test in tests.items():
        if test(info.st_mode):
            return name
    return "device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "other"


def _check_name(name: str):
    if not name or name in (".", "..") or "/" in name or "\0" in name or (os.sep != "/" and os.sep in name):
        raise UntrustedPathError(f"{name!r} is not a plain file name")


def _same_file(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether fstat after the open saw what lstat saw before it (inode numbers are 0 on some Windows file systems)."""
    if not (before.st_ino and after.st_ino):
        return before.st_size == after.st_size
    return (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)


def _read_capped(fd: int, cap: int) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegular(kind_of(info))
    if info.st_size > cap:
        raise TooLarge(info.st_size, cap)
    chunks, total = [], 0
    while total <= cap:
        chunk = os.read(fd, min(1 << 20, cap + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > cap:  # it grew while we read it
        raise TooLarge(total, cap)
    return b"".join(chunks)


@dataclass
class Entry:
    """One name in a folder, as lstat sees it; `name` is what the file system holds (undecodable bytes escaped)."""

    name: str
    kind: str
    size: int


class Folder:
    """An open folder inside the student's tree; every name below it is reached without following a link.

    On Linux and macOS it holds a descriptor, so a folder renamed or replaced by a link after it
    was opened changes nothing for us. Use as a context manager, or call close().
    """

    def __init__(self, path: Path, fd: int | None):
        self.path, self.fd = Path(path), fd

    @classmethod
    def open(cls, path: str | Path) -> "Folder":
        """Open a folder the caller chose; only its last component must not be a link."""
        path = Path(path)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise NotFound(f"{path.name} does not exist") from None
        if kind_of(info) != "folder":
            raise NotRegular(kind_of(info))
        if not FD_WALK:
            return cls(path, None)
        return cls._opened(path, lambda: os.open(path, FOLDER_FLAGS), info)

    @classmethod
    def _opened(cls, path, opener, before):
        try:
            fd = opener()
        except FileNotFoundError:
            raise NotFound(f"{path.name} does not exist") from None
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise NotRegular("link") from None
            raise
        after = os.fstat(fd)
        if not stat.S_ISDIR(after.st_mode) or not _same_file(before, after):
            os.close(fd)
            raise NotRegular(kind_of(after) if not stat.S_ISDIR(after.st_mode) else "link")
        return cls(path, fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def lstat(self, name: str) -> os.stat_result | None:
        """lstat of `name` in this folder, or None when it does not exist."""
        _check_name(name)
        try:
            if self.fd is not None:
                return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            return os.lstat(self.path / name)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def kind(self, name: str) -> str | None:
        """What `name` is (see kind_of), or None when it does not exist."""
        info = self.lstat(name)
        return None if info is None else kind_of(info)

    def entries(self, limit: int = 100_000) -> list[Entry]:
        """Up to `limit` names of this folder, sorted, each with its kind from lstat; nothing is followed."""
        found = []
        with os.scandir(self.fd if self.fd is not None else self.path) as scan:
            for item in scan:
                if len(found) >= limit:
                    break
                try:
                    info = item.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed while we listed
                found.append(Entry(item.name, kind_of(info), info.st_size))
        return sorted(found, key=lambda entry: entry.name)

    def folder(self, name: str) -> "Folder":
        """The subfolder `name`, opened without following a link."""
        before = self.lstat(name)
        if before is None:
            raise NotFound(f"{name} does not exist")
        if kind_of(before) != "folder":
            raise NotRegular(kind_of(before))
        if self.fd is None:
            return Folder(self.path / name, None)
        return self._opened(self.path / name, lambda: os.open(name, FOLDER_FLAGS, dir_fd=self.fd), before)

    def read(self, name: str, cap: int) -> bytes:
        """The bytes of regular file `name`: lstat-checked, opened without following, fstat-checked, size-capped."""
        before = self.lstat(name)
        if before is None:
            raise NotFound(f"{name} does not exist")
        if kind_of(before) != "file":
            raise NotRegular(kind_of(before))
        if before.st_size > cap:
            raise TooLarge(before.st_size, cap)
        try:
            if self.fd is not None:
                fd = os.open(name, READ_FLAGS, dir_fd=self.fd)
            else:
                fd = os.open(self.path / name, READ_FLAGS)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EOPNOTSUPP):
                raise NotRegular("other") from None
            raise
        try:
            if not _same_file(before, os.fstat(fd)):
                raise NotRegular("other")  # replaced between the two checks
            return _read_capped(fd, cap)
        finally:
            os.close(fd)


def open_path(root: str | Path, relative: str) -> tuple[Folder, str]:
    """The open folder holding `relative` (a '/'-separated path below `root`) and the last name; close the folder."""
    parts = [part for part in str(relative).split("/") if part]
    if not parts:
        raise UntrustedPathError("an empty path")
    current = Folder.open(root)
    try:
        for part in parts[:-1]:
            inner = current.folder(part)
            current.close()
            current = inner
    except BaseException:
        current.close()
        raise
    return current, parts[-1]


def read_file(root: str | Path, relative: str, cap: int) -> bytes:
    """The bytes of the regular file `relative` below `root`, never through a link; raises an UntrustedPathError."""
    folder, name = open_path(root, relative)
    with folder:
        return folder.read(name, cap)


def file_kind(root: str | Path, relative: str) -> str | None:
    """What `relative` below `root` is (file, folder, link, fifo, ...); None when it or a folder on its way is missing.

    When something on its way is no real folder (a link, say), that is what is reported.
    """
    try:
        folder, name = open_path(root, relative)
    except NotFound:
        return None
    except NotRegular as error:
        return error.kind
    with folder:
        return folder.kind(name)


# ----------------------------------------------------------------------------------------------- copying
@dataclass
class CopyLimits:
    """What a copy of a student's folder may hold; whatever exceeds a limit is skipped and reported, never an error."""

    file_bytes: int = 5 << 20  # one file
    total_bytes: int = 64 << 20  # all files together
    files: int = 500  # files copied
    folders: int = 200  # folders copied
    depth: int = 8  # folder levels below the copied folder
    entries: int = 20_000  # names listed per folder


@dataclass
class Skipped:
    """A name that was not copied, and why (for the student)."""

    path: str
    reason: str


@dataclass
class CopyReport:
    """What a copy skipped (each with its reason), and how many files and bytes it copied."""

    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    folders: int = 0
    deep_folders: int = 0
    over_count: int = 0


def not_used(kind: str) -> str:
    """Why a name of this kind was not used, as the end of a sentence that starts with the name."""
    rule = "links are ignored" if kind == "link" else "only regular files and folders are used"
    return f"is {KINDS[kind]}; {rule}"


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count} bytes"


def readable_name(name: str) -> str:
    """A file name as a student may be shown it: undecodable bytes and control characters escaped."""
    raw = os.fsencode(name)
    text = raw.decode("utf-8", errors="backslashreplace")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def plain_name(name: str) -> bool:
    """A name that is valid UTF-8 and holds no control character (the only names copied)."""
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return name.isprintable()


def copy_tree(
    source: str | Path,
    destination: str | Path,
    limits: CopyLimits | None = None,
    first: Iterable[str] = (),
    skip_names: Iterable[str] = (),
    file_mode: int = 0o644,
    folder_mode: int = 0o755,
) -> CopyReport:
    """Copy the regular files and folders of `source` into the new folder `destination`, never following a link.

    Links, FIFOs, sockets, devices and names that are not UTF-8 are skipped and reported; so is
    whatever exceeds `limits` (too large, too many, too deep). Names in `first` are copied
    before any other (the files that are graded), names in `skip_names` silently never.
    """
    limits = limits or CopyLimits()
    report = CopyReport()
    destination = Path(destination)
    with Folder.open(source) as folder:
        os.mkdir(destination, 0o700)
        modes = (file_mode, folder_mode)
        _copy_folder(folder, destination, "", 0, limits, tuple(first), set(skip_names), report, modes)
    os.chmod(destination, folder_mode)
    if report.deep_folders:
        deep = f"{report.deep_folders} folder(s) more than {limits.depth} levels deep were not copied"
        report.skipped.append(Skipped("", deep))
    if report.over_count:
        over = (
            f"{report.over_count} file(s) or folder(s) beyond the first {limits.files} files "
            f"and {limits.folders} folders were not copied"
        )
        report.skipped.append(Skipped("", over))
    return report


def _copy_folder(folder, target, prefix, depth, limits, first, skip_names, report, modes):
    try:
        listed = folder.entries(limits.entries)
    except OSError as error:  # a folder its owner made unlistable (a laptop, not root)
        report.skipped.append(Skipped("", f"the folder {prefix or './'} could not be listed ({error.strerror})"))
        return
    if len(listed) >= limits.entries:
        where = f"the folder {prefix}" if prefix else "the submission"
        report.skipped.append(Skipped("", f"{where} holds more than {limits.entries} names; the rest were not copied"))
    chosen = [Entry(name, kind, 0) for name in first if (kind := folder.kind(name)) is not None]
    chosen += [entry for entry in listed if entry.name not in first]
    chosen.sort(key=lambda entry: entry.kind == "folder")  # stable: this folder's files before any subfolder's
    for entry in chosen:
        shown = prefix + readable_name(entry.name)
        if entry.name in skip_names:
            continue
        if not plain_name(entry.name):
            report.skipped.append(Skipped(shown, "has a name that is not plain UTF-8 text"))
        elif entry.kind == "folder":
            if depth >= limits.depth:
                report.deep_folders += 1
                continue
            if report.folders >= limits.folders or report.files >= limits.files:
                report.over_count += 1
                continue
            report.folders += 1
            try:
                inner = folder.folder(entry.name)
            except (UntrustedPathError, OSError) as error:
                _note_unread(error, shown, report)
                continue
            with inner:
                os.mkdir(target / entry.name, 0o700)
                _copy_folder(inner, target / entry.name, shown + "/", depth + 1, limits, (), skip_names, report, modes)
            os.chmod(target / entry.name, modes[1])
        elif entry.kind != "file":
            report.skipped.append(Skipped(shown, not_used(entry.kind)))
        elif report.files >= limits.files:
            report.over_count += 1
        else:
            _copy_file(folder, entry.name, target, shown, limits, report, modes[0])


def _note_unread(error, shown, report):
    """Why an entry listed a moment ago was not copied: replaced by a link or a special file, or unreadable to its
    owner's choice (a laptop, not root); nothing for one removed since it was listed."""
    if isinstance(error, NotRegular):
        report.skipped.append(Skipped(shown, not_used(error.kind)))
    elif not isinstance(error, UntrustedPathError):
        report.skipped.append(Skipped(shown, f"could not be read ({error.strerror})"))


def _copy_file(folder, name, target, shown, limits, report, mode):
    cap = min(limits.file_bytes, limits.total_bytes - report.bytes)
    try:
        data = folder.read(name, cap)
    except TooLarge as error:
        why = (
            f"is larger than {_size(limits.file_bytes)}, the most one file may be"
            if error.size > limits.file_bytes
            else f"would take the copy beyond {_size(limits.total_bytes)} in all"
        )
        report.skipped.append(Skipped(shown, why + "; it was not copied"))
        return
    except (UntrustedPathError, OSError) as error:
        _note_unread(error, shown, report)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target / name, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.chmod(target / name, mode)
    report.files += 1
    report.bytes += len(data)

"""The safe reader: how the trusted side reads what student code left behind, without following its links.

Standard library only (the worker loads it by path). Every name is opened relative to a folder
descriptor with O_NOFOLLOW | O_NONBLOCK, so a link is refused and a named pipe cannot block; the
opened file must be a regular file within a size cap, checked with fstat before a byte is read.
"""

import os
import stat


class ReadBackError(OSError):
    """What the case left is not a readable regular file within its cap (a link, a pipe, too big, missing)."""


FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_folder(path: str | os.PathLike, dir_fd: int | None = None) -> int:
    """A descriptor of the folder `path` (relative to dir_fd when given); a link in its last part is refused."""
    try:
        return os.open(path, FOLDER_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        name = os.path.basename(str(path))
        raise ReadBackError(error.errno, f"cannot open folder {name!r}: {error.strerror}") from None


def read_file(folder_fd: int, name: str, cap: int) -> bytes:
    """The bytes of the regular file `name` directly in the folder, at most `cap` of them, or ReadBackError."""
    if not name or "/" in name or name in (".", ".."):
        raise ReadBackError(0, f"not a plain file name: {name!r:.60}")
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=folder_fd)
    except OSError as error:
        raise ReadBackError(error.errno, f"cannot open {name!r:.60}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReadBackError(0, f"{name!r:.60} is not a regular file")
        if info.st_size > cap:
            raise ReadBackError(0, f"{name!r:.60} holds {info.st_size} bytes, more than {cap}")
        chunks, left = [], cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > cap:
            raise ReadBackError(0, f"{name!r:.60} grew past {cap} bytes")
        return data
    finally:
        os.close(fd)

"""Closing the project's private folders to the worker user while a grade runs, without namespaces, and reopening them.

With namespaces the warm worker covers them in a mount namespace of its own (confinement.cover_paths) and
nothing on disk changes. Without them, the only way to keep a worker user out of a checkout that others
may read is its modes: ModeHold.take records each path's exact mode, then takes group and other access
away; the last grader to let go puts every mode back. The record and one lock file per live holder lie in
the root-owned locks folder (identity.lock_folder), all changed under one flock, so that graders running
at once share one hiding, and a grader killed before it let go (SIGKILL) leaves a record whose holder is
gone: the next grader adopts it (ModeHold.take) or puts the modes back (restore_left_modes). Before any
mode is put back, every process of the holder's worker user is killed (a case's child lives in a session of
its own and may outlive the worker), unless a live grader has claimed that user again.
"""

import fcntl
import json
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from autograder.confinement import first_closed_folder, kill_all_processes_of
from autograder.identity import LOCK_FOLDER, held_elsewhere, lock_folder

RECORD, MUTEX, HOLDER_PREFIX = "hidden-modes.json", "hidden-modes.lock", "hidden-modes-holder-"
_OPEN_ANY = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # never through a link, never waiting on a FIFO


def closed_to(path: str, uid: int, gid: int) -> bool:
    """True when `uid`/`gid` can neither list nor enter nor read `path`, by mode bits alone (folders on the way
    included)."""
    if first_closed_folder(os.path.dirname(path), uid, gid):
        return True
    info = os.stat(path)
    shift = 6 if info.st_uid == uid else 3 if info.st_gid == gid else 0
    return not (info.st_mode >> shift) & 0o5


@contextmanager
def _locked(folder: Path):
    """The locks folder's descriptor, with the hiding's mutex held."""
    folder_fd = lock_folder(folder)
    try:
        mutex = os.open(MUTEX, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder_fd)
        try:
            fcntl.flock(mutex, fcntl.LOCK_EX)
            yield folder_fd
        finally:
            os.close(mutex)
    finally:
        os.close(folder_fd)


def _live_holders(folder_fd: int, own_uid: int | None = None) -> int:
    """How many holders are alive (their lock is held); the files of dead ones are removed, and what their
    worker user left running is killed, when no live grader claimed that user since or the claimant is the caller
    (`own_uid`: it runs no case yet)."""
    live = 0
    for name in os.listdir(folder_fd):
        if not name.startswith(HOLDER_PREFIX):
            continue
        fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
        if held_elsewhere(fd):
            live += 1
            os.close(fd)
            continue
        with os.fdopen(fd) as holder:  # its grader is gone
            identity = json.loads(holder.read() or "{}")
        if identity and (identity["uid"] == own_uid or not _identity_claimed(folder_fd, identity["uid"])):
            kill_all_processes_of(identity["uid"], identity["gid"])
        os.unlink(name, dir_fd=folder_fd)
    return live


def _identity_claimed(folder_fd: int, uid: int) -> bool:
    """True when a live grader holds the worker identity `uid` (identity.claim_worker_identity's lock)."""
    try:
        fd = os.open(f"worker-{uid}.lock", os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
    except FileNotFoundError:
        return False
    try:
        return held_elsewhere(fd)
    finally:
        os.close(fd)


def _read_record(folder_fd: int) -> dict:
    """path -> {"mode", "dev", "ino"}: the original modes of every path hidden now."""
    try:
        fd = os.open(RECORD, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder_fd)
    except FileNotFoundError:
        return {}
    with os.fdopen(fd) as handle:
        return json.load(handle)


def _write_record(folder_fd: int, record: dict) -> None:
    """Replace the record at once (a new file renamed over it), or remove it when empty."""
    if not record:
        try:
            os.unlink(RECORD, dir_fd=folder_fd)
        except FileNotFoundError:
            pass
        return
    temporary = f".{RECORD}.{secrets.token_hex(4)}"
    fd = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder_fd
    )
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, RECORD, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)


def _set_mode(path: str, mode_of) -> os.stat_result | None:
    """fchmod `path` (opened without following a link) to mode_of(its stat), unless that returns None; its stat."""
    fd = os.open(path, _OPEN_ANY)
    try:
        info = os.fstat(fd)
        mode = mode_of(info)
        if mode is not None and mode != stat.S_IMODE(info.st_mode):
            os.fchmod(fd, mode)
        return info
    finally:
        os.close(fd)


def _restore(record: dict) -> list[str]:
    """Put back every recorded mode on the very file it was taken from (same device and inode); what failed."""
    failed = []
    for path, entry in record.items():

        def same(info, entry=entry):
            return entry["mode"] if (info.st_dev, info.st_ino) == (entry["dev"], entry["ino"]) else None

        try:
            _set_mode(path, same)
        except OSError as error:
            failed.append(f"{path}: {error}")
    return failed


def restore_left_modes(folder: Path = LOCK_FOLDER, own_uid: int | None = None) -> list[str]:
    """When no grader holds the hiding, put back the modes a killed one left closed; the paths restored. `own_uid`:
    the caller's worker user, when it has run no case yet."""
    with _locked(folder) as folder_fd:
        if _live_holders(folder_fd, own_uid):
            return []
        record = _read_record(folder_fd)
        _restore(record)
        _write_record(folder_fd, {})
        return sorted(record)


class ModeHold:
    """One grader's share of the hiding: alive as long as its lock file is locked (it dies with the process)."""

    def __init__(self, handle: IO[str], name: str, folder: Path, identity: tuple[int, int]):
        self._handle, self.name, self.folder, self.identity = handle, name, folder, identity

    @classmethod
    def take(cls, paths: list[str], uid: int, gid: int, folder: Path = LOCK_FOLDER) -> "ModeHold | None":
        """Close every path `uid`/`gid` could reach to group and others (recording its mode first), and hold the
        hiding; None when nothing is hidden, by anyone (the worker user cannot reach any path anyway)."""
        with _locked(folder) as folder_fd:
            _live_holders(folder_fd, uid)  # ours has run no case yet
            record = _read_record(folder_fd)  # a killed grader's hiding is adopted, not undone and redone
            for path in paths:
                if path not in record and not closed_to(path, uid, gid):
                    info = os.stat(path, follow_symlinks=False)
                    record[path] = {"mode": stat.S_IMODE(info.st_mode), "dev": info.st_dev, "ino": info.st_ino}
            if not record:
                return None
            _write_record(folder_fd, record)  # before any mode changes: a grader killed now leaves a true record
            name = f"{HOLDER_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
            fd = os.open(
                name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder_fd
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, json.dumps({"uid": uid, "gid": gid}).encode())  # whose processes to end if this grader dies
            for path, entry in list(record.items()):
                try:
                    _set_mode(
                        path,
                        lambda info, entry=entry: (
                            stat.S_IMODE(info.st_mode) & ~0o077
                            if (info.st_dev, info.st_ino) == (entry["dev"], entry["ino"])
                            else None
                        ),
                    )
                except FileNotFoundError:
                    if path in paths:
                        raise  # ours: no grade without it hidden
                    del record[path]  # a checkout removed since a killed grader closed it
            _write_record(folder_fd, record)
            return cls(os.fdopen(fd, "r"), name, folder, (uid, gid))

    def release(self) -> list[str]:
        """End every process of the worker user, then let go; the last holder puts every recorded mode back.
        What could not be restored (for staff). Call it once the worker is stopped."""
        if self._handle is None:
            return []
        kill_all_processes_of(*self.identity)  # a case's child may outlive its worker: none sees the folders reopen
        with _locked(self.folder) as folder_fd:
            os.unlink(self.name, dir_fd=folder_fd)
            self._handle.close()
            self._handle = None
            if _live_holders(folder_fd):
                return []
            failed = _restore(_read_record(folder_fd))
            _write_record(folder_fd, {})
            return failed


def hide_from_worker(settings: dict, protections: dict, folder: Path = LOCK_FOLDER) -> ModeHold | None:
    """As root, what keeps the worker user out of the hidden paths when its worker could not cover them:
    a ModeHold, or None (not root; covered by the worker's mount namespace; nothing the user could reach)."""
    if os.geteuid() != 0:
        return None
    if protections.get("covered") or not protections.get("other_user"):
        restore_left_modes(folder, settings.get("uid"))
        return None
    return ModeHold.take(settings["hidden_paths"], settings["uid"], settings["gid"], folder)

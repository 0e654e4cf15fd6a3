"""Identities and file-system set-up of the boundary: the worker user, its lock, and the paths workers must not read."""

import fcntl
import os
import pwd
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import IO

from autograder import PROJECT_ROOT
from autograder.config import GraderConfig
from autograder.homework import HOMEWORK, REFERENCE, manifest, worker_files

# What a worker child must never read: the reference, the cases (hidden inputs), our tests, history.
# the homework package (its hidden cases) and its reference, wherever the manifest puts them, are private too
PRIVATE_PATHS = list(
    dict.fromkeys(
        [
            *(PROJECT_ROOT / name for name in ("reference", "homework", "autograder", "tests", "bench", ".git")),
            HOMEWORK,
            REFERENCE,
        ]
    )
)
WORKER_USER, FALLBACK_ID = (
    manifest().worker_user or "hw9worker",
    64321,
)  # setup.sh creates the user on Gradescope; elsewhere the bare id serves
LOCK_FOLDER = Path("/run/hw9-grader-locks")  # in /run, root's and not world-writable (unlike /tmp or /run/lock)


class UnsafeLockFolder(RuntimeError):
    """The identity locks' folder is not a real folder owned by us with mode 0700: someone else may plant in it."""


def lock_folder(path: Path = LOCK_FOLDER) -> int:
    """A descriptor of the locks' folder, made 0700 if missing, checked (owner, mode, no link) once opened."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    info = os.fstat(fd)
    parent = os.stat(path.parent)
    private = info.st_uid == os.geteuid() and not stat.S_IMODE(info.st_mode) & 0o077
    if not private or parent.st_uid != 0 or parent.st_mode & 0o022:
        os.close(fd)
        raise UnsafeLockFolder(f"{path} must be uid {os.geteuid()}'s with mode 0700, in a folder only root may write")
    return fd


def held_elsewhere(fd: int) -> bool:
    """True when another open file holds the flock of `fd`'s file (its holder is alive); otherwise `fd` takes it.

    The one liveness test of every lock here: worker identities, workspaces and the hiding's holders."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True


def claim_worker_identity(slots: int = 1000, folder: Path = LOCK_FOLDER) -> tuple[int, int, IO[str]]:
    """A (uid, gid) no other live warm worker uses, and the open lock file that holds it.

    After every case a worker kills all processes of its user, so two workers (regrade's jobs,
    or two graders on one machine) must never share one. The first is `hw9worker` where that
    user exists; the others are bare ids above it. A lock dies with its process. Lock files are
    opened in a root-owned 0700 folder, relative to its descriptor, never through a link.
    """
    try:
        entry = pwd.getpwnam(WORKER_USER)
        candidates = [(entry.pw_uid, entry.pw_gid)]
    except KeyError:
        candidates = []
    candidates += [(FALLBACK_ID + slot, FALLBACK_ID + slot) for slot in range(slots)]
    folder_fd = lock_folder(folder)
    try:
        for uid, gid in candidates:
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(f"worker-{uid}.lock", flags, 0o600, dir_fd=folder_fd)
            handle = os.fdopen(fd, "a")
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                handle.close()
                continue
            if held_elsewhere(fd):
                handle.close()
                continue
            return uid, gid, handle
    finally:
        os.close(folder_fd)
    raise RuntimeError("no free worker identity")


def worker_settings(config: GraderConfig, workspace: Path) -> dict:
    """What the worker needs to confine its children (hidden_paths: what it must keep its children from reading;
    how is hiding.py's and the worker's, once the probe has told what this machine allows)."""
    extra = [Path(p).resolve() for p in config.hidden_paths]
    outside = [str(p) for p in extra if PROJECT_ROOT not in p.parents]
    if outside:  # the grader hides only what belongs to the project
        raise ValueError(f"hidden_paths must lie inside {PROJECT_ROOT}: {', '.join(outside)}")
    (workspace / ".root").mkdir()  # where each child mounts its own minimal root
    settings = {
        "hidden_paths": [str(p) for p in [*PRIVATE_PATHS, *extra] if p.exists()],
        "new_root": str(workspace / ".root"),
        "processes": config.processes,
        "namespaces": config.namespaces,
        "homework_files": worker_files(),
        "user": WORKER_USER,
    }  # loaded by path by the worker before it covers the private folders
    if os.geteuid() == 0:
        settings["uid"], settings["gid"], settings["identity_lock"] = claim_worker_identity()
        os.chmod(workspace, 0o711)  # workers may reach their own case folder, not list the others
    return settings


WORKSPACE_PREFIX = "hw9-grader-"
WORKSPACE_LOCK = ".in-use"  # held (flock) by the grading process that owns the workspace, for as long as it lives
UNLOCKED_AGE = 3600  # seconds after which a workspace of a grader that took no lock (an older one) counts as left


def make_workspace() -> tuple[Path, object]:
    """A fresh workspace folder in the temporary folder, and the open lock file that marks it in use.

    First removes the workspaces that graders killed before they could clean up left behind (their submission
    copies, case folders and hidden inputs), so that no later submission given the same worker user finds them.
    """
    remove_left_workspaces()
    workspace = Path(tempfile.mkdtemp(prefix=WORKSPACE_PREFIX))
    fd = os.open(workspace / WORKSPACE_LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return workspace, os.fdopen(fd, "r+")


def remove_left_workspaces(folder: str | None = None) -> list[str]:
    """Remove every workspace of ours whose grader is gone (its lock is free), never following a link; their names."""
    folder = folder or tempfile.gettempdir()
    removed = []
    try:
        entries = [entry for entry in os.scandir(folder) if entry.name.startswith(WORKSPACE_PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or not _is_left(entry.path, info):
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)  # fd-based on Linux: a link inside is removed, not followed
        removed.append(entry.name)
    return removed


def _is_left(path, info):
    """True when no live grader holds the workspace's lock (or, with no lock file, when it is old)."""
    try:
        fd = os.open(os.path.join(path, WORKSPACE_LOCK), os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return time.time() - info.st_mtime > UNLOCKED_AGE
    try:
        return not held_elsewhere(fd)
    finally:
        os.close(fd)

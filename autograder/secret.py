"""Per-submission inputs: a secret of the grader's and the submission's content seed each hidden case's generator.

A regrade of the same files draws the same inputs (the same verdicts); another submission, even one
changed by a comment, draws others that nobody can predict without the secret. The secret lives
in autograder/secret.key: `build gradescope` writes a fresh one into the zip, a developer checkout
makes one on first use (the file is gitignored), and tests may set HW9_SECRET. The worker's
environment and file system never hold it (autograder/ is one of the paths workers cannot read),
and neither the secret nor a seed ever goes to the worker: only the inputs drawn here. A grader
that can neither read nor create the key (an ordinary user in a checkout that root owns) draws
from a one-off secret of its process and tells staff: grading still works, regrades may differ.
"""

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

import numpy as np

from autograder.submission import STUDENT_FILES
from autograder.untrusted_fs import TooLarge, UntrustedPathError, read_file

SECRET_FILE = Path(__file__).with_name("secret.key")
SECRET_ENV = "HW9_SECRET"
READ_CAP = 8 << 20  # bytes of a student file that enter the digest (larger files never reach the worker anyway)


class SecretUnavailable(Exception):
    """The grader has no secret and cannot make one (a read-only checkout): hidden inputs cannot be drawn."""


def new_secret() -> str:
    """A fresh secret, as `build gradescope` writes it."""
    return secrets.token_hex(32)


def load_secret(path: str | Path = SECRET_FILE) -> bytes:
    """The grader's secret as bytes: HW9_SECRET, else the key file, made (mode 0600) when it does not exist yet."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode()
    if not os.path.lexists(path):
        make_secret_file(Path(path))
    read = read_no_follow(path, cap=4096)
    text = read[0].strip() if read else b""
    if len(text) < 32:
        raise SecretUnavailable(f"{Path(path).name} is not a file holding a usable secret")
    return text


def make_secret_file(path: Path) -> None:
    """Write a new secret to `path` whole or not at all: two graders starting at once end up sharing one."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        handle = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(handle, "w") as out:
            out.write(new_secret())
        os.link(draft, path)  # fails if another grader's secret got there first: then that one is used
    except FileExistsError:
        pass
    except OSError as error:
        raise SecretUnavailable(f"cannot create {path.name}: {error.strerror}") from None
    finally:
        if os.path.lexists(draft):
            os.unlink(draft)


def read_no_follow(path: str | Path, cap: int) -> tuple[bytes, int] | None:
    """The first `cap` bytes of our own regular file and its size, never through a link; None for anything else."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(handle, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return stream.read(cap), info.st_size


def student_file(root: str | Path, name: str) -> bytes | None:
    """The bytes of a student file through the one reader of student folders; None for a link, a special or no file."""
    try:
        return read_file(root, name, READ_CAP)
    except TooLarge as error:  # never copied to the worker either: its size stands for it
        return f"too large: {error}".encode()
    except (UntrustedPathError, OSError):
        return None


def submission_digest(root: str | Path | None) -> bytes:
    """A SHA-256 of the student files' names and bytes in `root` (links and missing files count as absent)."""
    digest = hashlib.sha256()
    for name in sorted(STUDENT_FILES):
        content = student_file(root, name) if root is not None else None
        digest.update(name.encode() + b"\0")
        digest.update(
            b"absent\0" if content is None else f"{len(content)}\0".encode() + hashlib.sha256(content).digest()
        )
    return digest.digest()


class InputDraws:
    """Generators of one submission's fresh inputs, one per (purpose, case number), from the secret and its digest."""

    def __init__(self, secret: bytes, digest: bytes):
        self._key = hmac.new(secret, digest, hashlib.sha256).digest()

    def generator(self, purpose: str, number: str) -> np.random.Generator:
        """purpose "hidden" draws a hidden case's inputs; "twin" those of a public case's twin."""
        seed = hmac.new(self._key, f"{purpose}:{number}".encode(), hashlib.sha256).digest()
        return np.random.default_rng(int.from_bytes(seed[:16], "big"))


ONE_OFF = secrets.token_bytes(32)  # this process's stand-in when the grader has no secret it may read


def draws_for(root: str | Path | None) -> tuple[InputDraws, str]:
    """The draws of the submission located at `root` (None: nothing was found), and a note for staff when the
    grader had to draw from a one-off secret (a user who cannot read or create the key file)."""
    try:
        return InputDraws(load_secret(), submission_digest(root)), ""
    except SecretUnavailable as error:
        note = f"{error}: hidden inputs were drawn from a one-off secret, so a regrade will draw other inputs"
        return InputDraws(ONE_OFF, submission_digest(root)), note

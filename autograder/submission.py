"""Find a submission's files (top level or one nested folder) without following a link, copy them once, read the log.

The upload is read only through autograder/untrusted_fs.py. It is copied once, regular files
and folders only, into a private folder; everything after that (which files exist, the log,
the worker's own copies) reads that copy, so what is graded cannot change or point elsewhere.
"""

import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from autograder.homework import manifest
from autograder.log_file import LOG_NAME, Log, LogUnreadable, read_log
from autograder.untrusted_fs import (
    CopyLimits,
    Folder,
    NotFound,
    NotRegular,
    UntrustedPathError,
    copy_tree,
    file_kind,
    not_used,
    readable_name,
)

STUDENT_FILES = manifest().submission_files  # the homework's student files, then its log
SKIP_NAMES = (
    ".git",
    "__pycache__",
    ".ipynb_checkpoints",
    ".venv",
)  # never copied, never mentioned; .venv: see the bundle README
MAX_NOTES = 20  # notes shown to the student; the rest are counted
BACKTICK, QUOTE = "`", "'"  # a backtick in a file name would end its code span in the notes


class SubmissionNotFound(Exception):
    """The folder does not exist or holds none of the files a submission may contain."""


@dataclass
class Located:
    """Where the student's files are: `folder` relative to the upload ('' for its top), or None and the `problem`.

    `ignored` lists (path, why) for names that look like the student's files but were not used.
    """

    folder: str | None
    problem: str = ""
    ignored: list = field(default_factory=list)


def _holds_student_file(folder: Folder) -> bool:
    return any(folder.kind(name) == "file" for name in STUDENT_FILES)


def _odd_student_names(folder: Folder, prefix: str) -> list:
    """(path, why) for each student file name in `folder` that is there but is no regular file."""
    kinds = [(name, folder.kind(name)) for name in STUDENT_FILES]
    return [(prefix + name, not_used(kind)) for name, kind in kinds if kind not in (None, "file")]


def _candidates(top: Folder) -> tuple[list, list]:
    """(ignored, nested): what at the top is passed over, and the real subfolders that hold a student file."""
    ignored, nested = [], []
    for entry in top.entries():
        if entry.kind not in ("file", "folder") and entry.name not in SKIP_NAMES:
            ignored.append((readable_name(entry.name), not_used(entry.kind)))
        if entry.kind != "folder" or entry.name in SKIP_NAMES:
            continue
        try:
            with top.folder(entry.name) as inner:
                if _holds_student_file(inner):
                    nested.append(entry.name)
                else:
                    ignored += _odd_student_names(inner, readable_name(entry.name) + "/")
        except (UntrustedPathError, OSError):
            continue  # replaced or removed since it was listed, or unreadable: not a candidate
    return ignored, nested


def find_student_folder(upload: str | Path) -> Located:
    """Find the folder holding the student's files: the upload itself, or its one real subfolder that holds them.

    Nothing is followed: a link to a folder is never a candidate, and a student file that is a
    link or a special file does not count. Names that were passed over are reported.
    """
    try:
        top = Folder.open(upload)
    except NotFound:
        return Located(None, "the submission folder does not exist")
    except NotRegular as error:
        return Located(None, f"the submission {not_used(error.kind)}")
    except OSError as error:
        return Located(None, f"the submission folder cannot be read ({error.strerror})")
    try:
        with top:
            if _holds_student_file(top):
                return Located("")
            ignored, nested = _candidates(top)
    except OSError as error:  # unreadable to us (a laptop, not root)
        return Located(None, f"the submission folder cannot be read ({error.strerror})")
    if len(nested) == 1:
        return Located(nested[0], ignored=ignored)
    if not nested:
        names = ", ".join(STUDENT_FILES)
        return Located(None, f"none of {names} was found in the submission or in a folder inside it", ignored)
    names = ", ".join(readable_name(name) for name in nested)
    return Located(None, f"student files were found in several folders: {names}", ignored)


def locate(folder: str | Path) -> Path:
    """The folder that holds the student's files (`folder` or its one subfolder holding them), links never followed."""
    located = find_student_folder(folder)
    if located.folder is None:
        raise SubmissionNotFound(located.problem)
    return Path(folder) / located.folder


class Submission:
    """A located submission folder (or None when nothing was found), what was not used of the upload, and its log."""

    def __init__(self, root, log_cap_bytes=1 << 20, ignored=(), not_found=None, prefix=""):
        self.root = Path(root) if root is not None else None
        self.log_cap_bytes = log_cap_bytes
        self.ignored = list(ignored)  # (path in the upload, why it was not used), for the student
        self.prefix = prefix  # where `root`'s files were in the upload: "" or "folder/"
        self.not_found = not_found
        self._cleanup = None

    @classmethod
    def from_upload(
        cls, upload: str | Path, log_cap_bytes: int = 1 << 20, limits: CopyLimits | None = None
    ) -> "Submission":
        """Locate the student's files in `upload` and copy them, never following a link, into a private folder.

        The copy is removed by close() or when the Submission is garbage-collected.
        """
        located = find_student_folder(upload)
        if located.folder is None:
            return cls(None, log_cap_bytes, located.ignored, located.problem)
        private = Path(tempfile.mkdtemp(prefix="hw9-submission-"))
        try:
            report = copy_tree(
                Path(upload) / located.folder, private / "files", limits, first=STUDENT_FILES, skip_names=SKIP_NAMES
            )
        except (UntrustedPathError, OSError) as error:  # only the error's words: its file names are the grader's
            shutil.rmtree(private, ignore_errors=True)
            why = getattr(error, "strerror", None) or str(error)
            return cls(None, log_cap_bytes, located.ignored, f"the submission could not be read: {why}")
        prefix = readable_name(located.folder) + "/" if located.folder else ""
        ignored = located.ignored + [
            (prefix + skipped.path if skipped.path else "", skipped.reason) for skipped in report.skipped
        ]
        copied = cls(private / "files", log_cap_bytes, ignored, prefix=prefix)
        copied._cleanup = weakref.finalize(copied, shutil.rmtree, private, ignore_errors=True)
        return copied

    def close(self) -> None:
        """Remove the private copy (if this Submission made one)."""
        if self._cleanup is not None:
            self._cleanup()

    def why_not_used(self, name: str) -> str | None:
        """Why the student file `name` of the located folder was not used, or None."""
        return next((why for path, why in self.ignored if path == self.prefix + name), None)

    def has(self, name: str) -> bool:
        """Whether `name` is a regular file of the submission (never through a link)."""
        return self.root is not None and file_kind(self.root, name) == "file"

    def missing_reason(self, name: str) -> str:
        """Why a case needing `name` cannot run: the file is missing, or it was there but not usable."""
        why = self.why_not_used(name)
        return f"{name} {why}, so it counts as missing" if why else f"{name} is missing from the submission"

    def notes(self) -> str:
        """Markdown saying what of the upload was not used and why (or why nothing was found); empty if all was used."""
        found = f"**No submission found:** {self.not_found}.\n\n" if self.not_found else ""
        if not self.ignored:
            return found
        lines = [
            f"- `{path.replace(BACKTICK, QUOTE)}` {why}" if path else f"- {why}"
            for path, why in self.ignored[:MAX_NOTES]
        ]
        if len(self.ignored) > MAX_NOTES:
            lines.append(f"- and {len(self.ignored) - MAX_NOTES} more")
        return found + "**Not used from your submission:**\n" + "\n".join(lines) + "\n\n"

    @cached_property
    def log(self) -> tuple[Log, None] | tuple[None, str]:
        """(Log, None) when readable, (None, reason) otherwise."""
        if LOG_NAME is None:
            return None, "this homework has no log"
        why = self.why_not_used(LOG_NAME)
        if why:
            return None, f"{LOG_NAME} {why}"
        if self.root is None or file_kind(self.root, LOG_NAME) is None:
            return None, f"{LOG_NAME} is missing from the submission"
        try:
            return read_log(self.root / LOG_NAME, self.log_cap_bytes), None
        except LogUnreadable as error:
            return None, f"{LOG_NAME} cannot be used: {error}"

"""A Gradescope export read as untrusted data: its zip unpacked within limits, its YAML parsed, its names made safe.

Nothing here trusts a name from the export. A zip member lands under the unpack folder only if its
name is a plain relative path, it is a regular file or a folder, and its sizes fit the limits; it is
written by our own loop with O_EXCL | O_NOFOLLOW. Submission folders are found by listing the export
(a metadata key is only ever compared with that listing, never joined to a path), and every output
folder name is made from a sanitized name plus a hash of the original, checked to lie right under
--out. Anything refused is said in `notes`, for the TA; it costs that member or that submission only.
"""

import hashlib
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METADATA = "submission_metadata.yml"
CLASS_FILES = {"grades.csv", "report.html", "regrade-notes.txt"}  # what regrade writes at the top of --out
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")  # a folder name used as it is
LOOKS_HASHED = re.compile(r".*-[0-9a-f]{12}")  # the shape of a made-up name, so a real name never takes one
IGNORED_FOLDERS = {"__MACOSX"}  # what macOS adds to zips it makes
CHUNK = 1 << 20
UNPACKING_ERRORS = (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error)
TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")  # colours, cursor moves and the like
JOINERS = "\u200c\u200d"  # zero-width (non-)joiners, part of how some scripts spell names


class ExportError(Exception):
    """The export as a whole cannot be used (not a folder or a zip, or overlapping --out)."""


class UnsafeName(Exception):
    """An output name that could leave --out or clash with the class's own files."""


class SubmissionTooLarge(Exception):
    """A submission folder with more entries than a submission can sensibly have."""


@dataclass(frozen=True)
class Limits:
    """What unpacking an export zip may cost; every refusal is per member, never the whole export."""

    total_bytes: int = 2 << 30  # uncompressed bytes of the whole zip (the disk it may fill)
    members: int = 100_000  # entries in the zip
    member_bytes: int = 256 << 20  # one file, uncompressed
    ratio: int = 200  # uncompressed / compressed of one file, above `ratio_from` bytes (text rarely passes 20)
    ratio_from: int = 1 << 20
    depth: int = 64  # folders a member may be nested in
    metadata_bytes: int = 8 << 20  # submission_metadata.yml (a class of 1000 makes about 300 KB)
    entries_per_submission: int = 50_000  # files and folders hashed in one submission


@dataclass
class Entry:
    """One submission of the export: where it is (None when it cannot be graded), its safe output name, its students."""

    name: str  # the export's folder name (or metadata key), as text a person can read
    output: str  # the folder under --out, safe by construction
    path: Path | None
    people: list = field(default_factory=list)
    problem: str = ""  # why it cannot be graded ("" when it can)
    submitted_at: str = ""  # the metadata's :created_at:, as written there
    lateness: str = ""  # the metadata's :lateness: (or :late:), as written there; "" when it says nothing


def printable(text: object) -> str:
    """Student or export text fit for a CSV cell, a terminal and JSON: odd bytes escaped, control characters gone."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = TERMINAL_ESCAPE.sub("", text)
    kept = []
    for char in text:
        kind = unicodedata.category(char)
        if kind in ("Cc", "Zl", "Zp"):
            kept.append(" ")  # newlines, escapes and other control characters
        elif kind in ("Cf", "Co", "Cs") and char not in JOINERS:
            continue  # invisible formatting such as a right-to-left override
        else:
            kept.append(char)
    return "".join(kept).strip()


# ---------------------------------------------------------------- output names


def output_name(name: str | bytes) -> str:
    """The folder under --out for an export folder `name` (str or bytes): the name itself when it is plainly safe,
    else its sanitized stem, a dash and 12 hex digits of the original's hash (so two names never meet)."""
    raw = name if isinstance(name, bytes) else str(name).encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "replace")
    plain = SAFE_NAME.fullmatch(text) and ".." not in text and not LOOKS_HASHED.fullmatch(text)
    if plain and text.lower() not in CLASS_FILES:
        return text
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).replace("..", "_").strip("._-")[:40] or "submission"
    return f"{stem}-{hashlib.sha256(raw).hexdigest()[:12]}"


def output_folder(out: str | Path, name: str) -> Path:
    """out/name, after checking that it is one plain component right under `out` and not a link."""
    if (
        not name
        or name in (".", "..")
        or any(c in name for c in "/\\\0")
        or os.path.isabs(name)
        or name.startswith(".")
        or name.lower() in CLASS_FILES
    ):
        raise UnsafeName(f"{printable(name)!r} is not a safe output folder name")
    out = Path(out)
    path = out / name
    if path.is_symlink() or path.resolve().parent != out.resolve():
        raise UnsafeName(f"{printable(name)!r} would not lie directly under {out}")
    return path


# ---------------------------------------------------------------- metadata


class TextLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no object is ever constructed) keeping every plain scalar as the text it was:
    a sid 0123 stays "0123" (not the octal 83), a student named No or Null stays a name. Merge keys (<<) still work."""


TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:merge"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def field_of(mapping: object, key: str) -> Any:
    """mapping[":key"] or mapping["key"] (Gradescope writes Ruby symbols, which YAML reads as ':key')."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(f":{key}", mapping.get(key))


def person(entry: object) -> dict:
    """One submitter as {"name", "email", "sid"} of printable text; anything that is not plain text becomes ""."""
    fields = {}
    for key in ("name", "email", "sid"):
        value = field_of(entry, key)
        fields[key] = printable(value) if isinstance(value, (str, int, float)) else ""
    return fields


def scalar_text(value: object) -> str:
    """A metadata scalar (text, number, date) as printable text; anything else (a list, a mapping) is ""."""
    return printable(value)[:100] if isinstance(value, (str, int, float)) else ""


def read_metadata(folder: str | Path, notes: list[str], limits: Limits = Limits(), times: dict | None = None) -> dict:
    """export key -> [submitter], from submission_metadata.yml; {} (and a note) when it is missing or unusable.

    When a dict is given as `times`, it receives export key -> {"submitted_at", "lateness"} (text, "" when absent).
    """
    path = Path(folder) / METADATA
    if not os.path.lexists(path):
        return {}
    try:
        raw = read_regular_file(path, limits.metadata_bytes)
        data = yaml.load(raw.decode("utf-8"), Loader=TextLoader)  # noqa: S506 - TextLoader is a SafeLoader
    except (OSError, ValueError, RecursionError, yaml.YAMLError) as error:  # RecursionError: [[[[... nested deep
        notes.append(
            f"{METADATA} could not be read ({printable(error)[:300]}); every folder is graded with no students named"
        )
        return {}
    if not isinstance(data, dict):
        notes.append(f"{METADATA} is not a mapping of submissions; every folder is graded with no students named")
        return {}
    people = {}
    for key, value in data.items():
        submitters = field_of(value, "submitters")
        if isinstance(submitters, dict):
            submitters = [submitters]
        if not isinstance(submitters, list):
            notes.append(f"{METADATA}: {printable(key)!r} names no submitters")
            submitters = []
        people[str(key)] = [person(entry) for entry in submitters if isinstance(entry, dict)]
        if times is not None:
            late = field_of(value, "lateness")
            times[str(key)] = {
                "submitted_at": scalar_text(field_of(value, "created_at")),
                "lateness": scalar_text(field_of(value, "late") if late is None else late),
            }
    return people


def read_regular_file(path: str | Path, cap: int) -> bytes:
    """A file's bytes, opened without following a link or blocking; ValueError when not regular or too large."""
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > cap:
            raise ValueError(f"{info.st_size} bytes, more than the {cap} allowed")
        with os.fdopen(os.dup(handle), "rb") as reader:
            return reader.read(cap + 1)[:cap]
    finally:
        os.close(handle)


# ---------------------------------------------------------------- the submissions of an export


def list_submissions(folder: str | Path, people: dict, notes: list[str], times: dict | None = None) -> list[Entry]:
    """Every submission: each real folder of the export, plus each metadata key with no folder (as a problem).

    `times` (export key -> {"submitted_at", "lateness"}, from read_metadata) fills those fields of the entries."""
    folder = Path(folder)
    times = times or {}
    entries, seen = [], set()
    with os.scandir(folder) as listing:
        found = sorted(listing, key=lambda entry: os.fsencode(entry.name))
    for item in found:
        name = item.name
        seen.add(name)
        if name == METADATA or ((name.startswith(".") or name in IGNORED_FOLDERS) and name not in people):
            continue
        entry = Entry(
            name=printable(name),
            output=output_name(name),
            path=folder / name,
            people=people.get(name, []),
            **times.get(name, {}),
        )
        if item.is_symlink():
            entry.path, entry.problem = None, "is a link in the export: it was not followed or graded"
        elif not item.is_dir(follow_symlinks=False):
            if name not in people:
                continue  # a stray file at the top of the export
            entry.path, entry.problem = None, "is not a folder"
        entries.append(entry)
    for key in sorted(set(people) - seen):
        entries.append(
            Entry(
                name=printable(key),
                output=output_name(key),
                path=None,
                people=people[key],
                problem=f"is named in {METADATA} but the export has no such folder",
                **times.get(key, {}),
            )
        )
        notes.append(f"{METADATA} names {printable(key)!r}, which is not a folder of the export")
    return entries


def content_hash(
    folder: str | Path, skip: set[str] | frozenset[str] = frozenset(), max_entries: int = Limits.entries_per_submission
) -> str:
    """sha256 over a folder's tree: every name, kind and file content; a link is hashed as its text, never followed."""
    digest = hashlib.sha256()
    root, pending, count = os.fsencode(folder), [b""], 0

    def add(*parts):
        for part in parts:
            digest.update(len(part).to_bytes(8, "big") + part)

    while pending:
        relative = pending.pop()
        with os.scandir(os.path.join(root, relative) if relative else root) as listing:
            children = sorted((entry for entry in listing if entry.name not in skip), key=lambda entry: entry.name)
        for child in children:
            count += 1
            if count > max_entries:
                raise SubmissionTooLarge(f"more than {max_entries} files and folders")
            path = os.path.join(relative, child.name) if relative else child.name
            mode = child.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                add(b"dir", path)
                pending.append(path)
            elif stat.S_ISLNK(mode):
                add(b"link", path, os.readlink(os.path.join(root, path)))
            elif stat.S_ISREG(mode):
                add(b"file", path, file_digest(os.path.join(root, path)))
            else:
                add(b"other", path, str(stat.S_IFMT(mode)).encode())
    return digest.hexdigest()


def file_digest(path: str | bytes | Path) -> bytes:
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    digest = hashlib.sha256()
    with os.fdopen(handle, "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            return b"not regular"
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


# ---------------------------------------------------------------- zip exports


def member_problem(member: zipfile.ZipInfo, limits: Limits) -> str:
    """Why a zip member is refused ("" when it is fine to write)."""
    name = member.filename
    kind = stat.S_IFMT(member.external_attr >> 16)
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if "\0" in name or "\\" in name:
        return "a NUL or backslash in its name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in parts:
        return "a '..' in its path"
    if len(parts) > limits.depth:
        return f"nested more than {limits.depth} folders deep"
    if kind == stat.S_IFLNK:
        return "a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "a special file (device, pipe or socket)"
    if member.flag_bits & 0x1:
        return "encrypted"
    if member.is_dir():
        return ""
    if member.file_size > limits.member_bytes:
        return f"{member.file_size} bytes uncompressed, more than the {limits.member_bytes} allowed"
    if member.file_size > limits.ratio_from and member.file_size > limits.ratio * max(member.compress_size, 1):
        ratio = member.file_size // max(member.compress_size, 1)
        return f"compressed {ratio}:1, more than {limits.ratio}:1 (a zip bomb?)"
    return ""


def unpack_zip(archive: str | Path, target: str | Path, notes: list[str], limits: Limits = Limits()) -> None:
    """Extract `archive` into the fresh folder `target` member by member; refused members are noted and skipped."""
    target = Path(target)
    try:
        bundle = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as error:
        raise ExportError(f"{archive} is neither a folder nor a readable zip: {error}") from None
    with bundle:
        members = bundle.infolist()
        if len(members) > limits.members:
            notes.append(f"the zip has {len(members)} members; only the first {limits.members} were considered")
            members = members[: limits.members]
        budget = limits.total_bytes
        for member in members:
            problem = member_problem(member, limits)
            if not problem and not member.is_dir() and member.file_size > budget:
                problem = f"the zip's total uncompressed size passed {limits.total_bytes} bytes"
            if problem:
                notes.append(f"zip member {printable(member.filename)!r} skipped: {problem}")
                continue
            try:
                budget -= write_member(bundle, member, target)
            except UNPACKING_ERRORS as error:
                notes.append(f"zip member {printable(member.filename)!r} skipped: {printable(error)[:200]}")


def write_member(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> int:
    """Write one checked member under target (folders made as needed); return the bytes written."""
    parts = [part for part in member.filename.split("/") if part not in ("", ".")]
    if not parts:
        return 0
    if member.is_dir():
        os.makedirs(target.joinpath(*parts), mode=0o755, exist_ok=True)
        return 0
    os.makedirs(target.joinpath(*parts[:-1]), mode=0o755, exist_ok=True)
    path = target.joinpath(*parts)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    written = 0
    try:
        with os.fdopen(handle, "wb") as writer, bundle.open(member) as reader:
            while chunk := reader.read(CHUNK):
                written += len(chunk)
                if written > member.file_size:  # zipfile stops at the declared size; this guards it anyway
                    raise ValueError("more bytes than its header declares")
                writer.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return written


def export_root(folder: str | Path) -> Path:
    """The folder that holds the submissions: `folder`, or its one subfolder when the metadata lives there."""
    folder = Path(folder)
    if (folder / METADATA).exists():
        return folder
    inside = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in IGNORED_FOLDERS]
    if len(inside) == 1 and inside[0].is_dir() and not inside[0].is_symlink() and (inside[0] / METADATA).exists():
        return inside[0]
    return folder


def check_apart(export: str | Path, out: str | Path) -> None:
    """Refuse an --out that is the export folder, inside it or around it: submissions must never see regrade's files."""
    export, out = Path(export).resolve(), Path(out).resolve()
    if export.is_dir() and (out == export or export in out.parents or out in export.parents):
        raise ExportError(f"--out {out} overlaps the export {export}: choose a folder outside it")

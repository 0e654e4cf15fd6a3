"""The student's folder is read without following a link: the reader, the copy, locating the files, the Submission."""

import inspect
import os
import re
import socket
import stat
import threading
import time

import pytest

from autograder import untrusted_fs
from autograder.log_file import LOG_NAME
from autograder.submission import STUDENT_FILES, Submission, SubmissionNotFound, find_student_folder, locate
from autograder.untrusted_fs import (
    CopyLimits,
    Folder,
    NotFound,
    NotRegular,
    TooLarge,
    UntrustedPathError,
    copy_tree,
    file_kind,
    read_file,
)
from tests.corpus import make_chain, remove_chain
from tests.helpers import ROOT

SECRET = b"the hidden reference\n"


@pytest.fixture(params=["descriptors", "paths"])
def walk(request, monkeypatch):
    """Each reader test runs twice: with descriptor-relative opens (Linux, macOS), with the path fallback (Windows)."""
    if request.param == "paths":
        monkeypatch.setattr(untrusted_fs, "FD_WALK", False)
    elif not untrusted_fs.FD_WALK:
        pytest.fail("this platform should walk with descriptors")
    return request.param


def finishes(function, seconds=5.0):
    """Run `function` in a thread; {"value": ...} or {"error": ...}; fails the test if it still runs after `seconds`."""
    box = {}

    def run():
        try:
            box["value"] = function()
        except BaseException as error:  # handed to the test
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return box


def bind_socket(folder, name):
    here = os.getcwd()
    os.chdir(folder)  # a socket's path must be short: bind it relative to its folder
    try:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(name)
    finally:
        os.chdir(here)


@pytest.fixture
def tree(tmp_path):
    """A student folder beside a secret, with every kind of name the reader must refuse."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    upload = tmp_path / "upload"
    (upload / "sub").mkdir(parents=True)
    (upload / "plain.txt").write_bytes(b"hello")
    (upload / "sub" / "inner.txt").write_bytes(b"inside")
    os.symlink(tmp_path / "secret.txt", upload / "link.txt")
    os.symlink(tmp_path, upload / "linked_folder")
    os.symlink("loop", upload / "loop")
    os.mkfifo(upload / "pipe")
    bind_socket(upload, "sock")
    with open(upload / "sparse", "wb") as handle:
        handle.truncate(10 << 30)  # 10 GiB, no block written
    return upload


# ------------------------------------------------------------------------------------------------ the reader
def test_regular_files_are_read_also_one_folder_down(tree, walk):
    assert read_file(tree, "plain.txt", 100) == b"hello"
    assert read_file(tree, "sub/inner.txt", 100) == b"inside"


@pytest.mark.parametrize(
    "name, kind",
    [
        ("link.txt", "link"),  # a link to a file outside the upload
        ("loop", "link"),  # a link to itself
        ("pipe", "fifo"),  # nobody writes to it: opening it for reading would block
        ("sock", "socket"),
        ("sub", "folder"),
    ],
)
def test_anything_but_a_regular_file_is_refused_without_blocking(tree, walk, name, kind):
    box = finishes(lambda: read_file(tree, name, 100))
    assert isinstance(box.get("error"), NotRegular) and box["error"].kind == kind
    assert file_kind(tree, name) == kind


def test_a_link_on_the_way_is_not_followed(tree, walk):
    with pytest.raises(NotRegular) as caught:
        read_file(tree, "linked_folder/secret.txt", 100)
    assert caught.value.kind == "link"
    assert file_kind(tree, "linked_folder/secret.txt") == "link"  # the folder on the way is what is reported


def test_a_device_node_is_never_opened(walk):
    with pytest.raises(NotRegular) as caught:
        read_file("/dev", "zero", 100)  # would read forever
    assert caught.value.kind == "device"


def test_size_is_refused_before_reading(tree, walk):
    started = time.monotonic()
    with pytest.raises(TooLarge) as caught:
        read_file(tree, "sparse", 1 << 20)
    assert caught.value.size == 10 << 30 and time.monotonic() - started < 1
    with pytest.raises(TooLarge):
        read_file(tree, "plain.txt", 4)  # a byte over the cap is too much


@pytest.mark.parametrize("relative", ["../secret.txt", "sub/../../secret.txt", "", "/"])
def test_names_that_climb_or_are_empty_are_refused(tree, walk, relative):
    with pytest.raises(UntrustedPathError):
        read_file(tree, relative, 100)


def test_missing_names(tree, walk):
    with pytest.raises(NotFound):
        read_file(tree, "absent.txt", 100)
    assert file_kind(tree, "absent/inner.txt") is None


def test_the_top_folder_itself_must_not_be_a_link(tree, walk, tmp_path):
    os.symlink(tree, tmp_path / "alias")
    with pytest.raises(NotRegular):
        read_file(tmp_path / "alias", "plain.txt", 100)


def test_an_open_folder_is_not_redirected_by_a_later_swap(tree, tmp_path):
    """Linux and macOS: once a folder is open, replacing it by a link changes nothing for its reader."""
    with Folder.open(tree) as top, top.folder("sub") as sub:
        os.rename(tree / "sub", tmp_path / "moved")
        os.symlink(tmp_path, tree / "sub")
        (tmp_path / "inner.txt").write_bytes(SECRET)
        assert sub.read("inner.txt", 100) == b"inside"


def test_listing_reports_kinds_without_following(tree, walk):
    with Folder.open(tree) as top:
        kinds = {entry.name: entry.kind for entry in top.entries()}
    assert kinds == {
        "plain.txt": "file",
        "sub": "folder",
        "link.txt": "link",
        "linked_folder": "link",
        "loop": "link",
        "pipe": "fifo",
        "sock": "socket",
        "sparse": "file",
    }


# ------------------------------------------------------------------------------------------------ the copy
def copied_files(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_the_copy_holds_regular_files_and_folders_only_and_says_what_it_skipped(tree, walk, tmp_path):
    report = finishes(lambda: copy_tree(tree, tmp_path / "copy", CopyLimits(file_bytes=1 << 20)))["value"]
    assert copied_files(tmp_path / "copy") == ["plain.txt", "sub", "sub/inner.txt"]
    assert not any(path.is_symlink() for path in (tmp_path / "copy").rglob("*"))
    reasons = {skipped.path: skipped.reason for skipped in report.skipped}
    assert set(reasons) == {"link.txt", "linked_folder", "loop", "pipe", "sock", "sparse"}
    assert reasons["link.txt"] == "is a symbolic link; links are ignored"
    assert reasons["pipe"].startswith("is a named pipe") and reasons["sock"].startswith("is a socket")
    assert reasons["sparse"].startswith("is larger than 1 MiB")
    assert (report.files, report.bytes) == (2, len(b"hello") + len(b"inside"))


def test_copied_modes_are_fixed_whatever_the_upload_had(tree, tmp_path):
    os.chmod(tree / "plain.txt", 0o600)
    copy_tree(tree, tmp_path / "copy", file_mode=0o644, folder_mode=0o755)
    assert stat.S_IMODE(os.stat(tmp_path / "copy" / "plain.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "copy" / "sub").st_mode) == 0o755


def test_a_name_that_is_not_utf8_is_skipped_and_shown_escaped(tmp_path, walk):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / os.fsdecode(b"caf\xe9.py")).write_bytes(b"x = 1\n")
    (upload / "bell\x07.py").write_bytes(b"x = 1\n")
    report = copy_tree(upload, tmp_path / "copy")
    assert copied_files(tmp_path / "copy") == []
    assert sorted(skipped.path for skipped in report.skipped) == ["bell\\x07.py", "caf\\xe9.py"]


def test_a_folder_5000_deep_costs_little_and_is_cut_at_the_depth_limit(tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "attention.py").write_bytes(b"x = 1\n")
    make_chain(upload / "junk", 5000)
    try:
        started = time.monotonic()
        report = copy_tree(upload, tmp_path / "copy", CopyLimits(depth=8))
        assert time.monotonic() - started < 5
        assert (tmp_path / "copy" / "attention.py").read_bytes() == b"x = 1\n"
        deepest = max(len(path.relative_to(tmp_path / "copy").parts) for path in (tmp_path / "copy").rglob("*"))
        assert deepest == 8  # junk and 7 folders inside it: eight levels below the copy's top
        assert any("levels deep were not copied" in skipped.reason for skipped in report.skipped)
        located = find_student_folder(upload)
        assert located.folder == ""
    finally:
        remove_chain(upload / "junk")


def test_30000_empty_files_are_cut_at_the_caps_and_the_graded_files_come_first(tmp_path):
    """(The corpus item many_empty_files grades 100,000 end to end.)"""
    upload = tmp_path / "upload"
    upload.mkdir()
    for index in range(30_000):
        os.close(os.open(upload / f"{index:06d}", os.O_CREAT | os.O_WRONLY, 0o644))
    (upload / "purification.py").write_bytes(b"x = 1\n")  # sorts after every junk name
    started = time.monotonic()
    report = copy_tree(upload, tmp_path / "copy", CopyLimits(files=50, entries=20_000), first=STUDENT_FILES)
    assert time.monotonic() - started < 10
    assert (tmp_path / "copy" / "purification.py").is_file()
    assert len(list((tmp_path / "copy").iterdir())) == 50
    reasons = " ".join(skipped.reason for skipped in report.skipped)
    assert "more than 20000 names" in reasons and "beyond the first 50 files" in reasons


def test_total_size_is_capped(tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    for name in ("a", "b", "c"):
        (upload / name).write_bytes(b"x" * 400)
    report = copy_tree(upload, tmp_path / "copy", CopyLimits(total_bytes=1000))
    assert copied_files(tmp_path / "copy") == ["a", "b"]
    assert [skipped.path for skipped in report.skipped] == ["c"] and "1000 bytes in all" in report.skipped[0].reason


# ------------------------------------------------------------------------------------------------ locating the files
def reference_copy(folder):
    folder.mkdir(parents=True)
    for name in STUDENT_FILES:
        (folder / name).write_bytes((ROOT / "reference" / name).read_bytes())
    return folder


def test_files_are_found_at_the_top_or_one_real_folder_down(tmp_path):
    reference_copy(tmp_path / "top")
    reference_copy(tmp_path / "nested" / "hw9")
    assert locate(tmp_path / "top") == tmp_path / "top"
    assert locate(tmp_path / "nested") == tmp_path / "nested" / "hw9"


@pytest.mark.parametrize(
    "layout, message",
    [
        ("only_child_link", "none of"),  # upload/hw9 -> reference/
        ("upload_link", "is a symbolic link"),  # the upload itself -> reference/
        ("two_folders", "several folders"),
    ],
)
def test_links_are_never_where_files_are_found(tmp_path, layout, message):
    upload = tmp_path / "upload"
    if layout == "upload_link":
        os.symlink(ROOT / "reference", upload)
    elif layout == "only_child_link":
        upload.mkdir()
        os.symlink(ROOT / "reference", upload / "hw9")
    else:
        reference_copy(upload / "a")
        reference_copy(upload / "b")
    with pytest.raises(SubmissionNotFound, match=message):
        locate(upload)
    if layout == "only_child_link":
        assert find_student_folder(upload).ignored == [("hw9", "is a symbolic link; links are ignored")]


def test_a_student_file_that_is_a_link_does_not_count(tmp_path):
    upload = tmp_path / "upload"
    reference_copy(upload / "hw9")
    os.symlink(ROOT / "reference" / "attention.py", upload / "attention.py")  # a top-level link beside the real folder
    located = find_student_folder(upload)
    assert located.folder == "hw9" and located.ignored == [("attention.py", "is a symbolic link; links are ignored")]


# ------------------------------------------------------------------------------------------------ the Submission
def test_the_submission_is_graded_from_a_private_copy_with_links_reported(tmp_path):
    upload = reference_copy(tmp_path / "upload" / "hw9").parent
    (upload / "hw9" / "attention.py").unlink()
    os.symlink(ROOT / "reference" / "attention.py", upload / "hw9" / "attention.py")
    (upload / "hw9" / LOG_NAME).unlink()
    (upload / "hw9" / "kernel_attention.py").unlink()
    os.mkfifo(upload / "hw9" / LOG_NAME)
    submission = finishes(lambda: Submission.from_upload(upload))["value"]
    try:
        assert submission.root != upload / "hw9" and not submission.root.is_relative_to(upload)
        assert submission.has("purification.py") and not submission.has("attention.py")
        link = "attention.py is a symbolic link; links are ignored, so it counts as missing"
        assert submission.missing_reason("attention.py") == link
        assert submission.missing_reason("kernel_attention.py") == "kernel_attention.py is missing from the submission"
        log, problem = submission.log
        assert log is None and problem.startswith(f"{LOG_NAME} is a named pipe")
        notes = submission.notes()
        assert "`hw9/attention.py` is a symbolic link; links are ignored" in notes
        assert f"`hw9/{LOG_NAME}` is a named pipe" in notes
        assert str(tmp_path) not in notes and str(ROOT) not in notes
    finally:
        submission.close()
    assert not submission.root.exists()


def test_a_virtual_environment_in_the_folder_is_never_copied(tmp_path):
    # The students' bundle README makes .venv inside the hw9 folder; `check` there must not copy it, nor mention it.
    upload = reference_copy(tmp_path / "upload")
    (upload / ".venv" / "bin").mkdir(parents=True)
    os.symlink("/usr/bin/python3", upload / ".venv" / "bin" / "python")
    (upload / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    submission = Submission.from_upload(upload)
    try:
        assert submission.has("attention.py") and not (submission.root / ".venv").exists()
        assert ".venv" not in submission.notes()
    finally:
        submission.close()


def test_a_linked_upload_is_reported_as_not_found(tmp_path):
    os.symlink(ROOT / "reference", tmp_path / "upload")
    submission = Submission.from_upload(tmp_path / "upload")
    assert submission.root is None and "is a symbolic link" in submission.not_found
    assert submission.notes().startswith("**No submission found:**")


def test_folders_are_capped_too(tmp_path):
    upload = tmp_path / "upload"
    for index in range(30):
        (upload / f"f{index:02d}").mkdir(parents=True)
    report = copy_tree(upload, tmp_path / "copy", CopyLimits(folders=10))
    assert copied_files(tmp_path / "copy") == [f"f{index:02d}" for index in range(10)]
    assert report.over_count == 20 and "beyond the first 500 files and 10 folders" in report.skipped[-1].reason


def test_a_backtick_in_a_name_cannot_end_the_notes_code_span(tmp_path):
    upload = reference_copy(tmp_path / "upload")
    os.symlink("attention.py", upload / "x` <b>y")
    submission = Submission.from_upload(upload)
    submission.close()
    assert "- `x' <b>y` is a symbolic link; links are ignored" in submission.notes()


def test_an_unreadable_folder_is_skipped_not_fatal(tree, tmp_path, monkeypatch):
    """As a student on a laptop, a folder its owner locked cannot be listed; the copy says so and goes on."""
    listing = Folder.entries

    def entries(self, limit=100_000):
        if self.path.name == "sub":
            raise PermissionError(13, "Permission denied")
        return listing(self, limit)

    monkeypatch.setattr(Folder, "entries", entries)
    report = copy_tree(tree, tmp_path / "copy", CopyLimits(file_bytes=1 << 20))
    assert (tmp_path / "copy" / "plain.txt").is_file() and not (tmp_path / "copy" / "sub" / "inner.txt").exists()
    reasons = [skipped.reason for skipped in report.skipped]
    assert any("the folder sub/ could not be listed (Permission denied)" in reason for reason in reasons)


# ------------------------------------------------------------------------------------------------ the audit
FOLLOWING_CALLS = re.compile(
    "|".join(
        [  # calls that open or test a path by name, following links
            r"(?<![.\w])open\(",
            r"os\.open\(",
            r"\.is_file\(",
            r"\.is_dir\(",
            r"\.exists\(",
            r"\.resolve\(",
            r"\.read_(text|bytes)\(",
            r"copytree",
            r"\.iterdir\(",
            r"\.r?glob\(",
            r"os\.(l?stat|listdir|scandir|walk)\(",
        ]
    )
)


@pytest.mark.parametrize(
    "source",
    [
        "autograder/submission.py",
        "autograder/log_file.py",
        "WarmWorker._copy_submission",
        "WarmWorker._submission_for_case",
    ],
)
def test_student_paths_are_opened_only_through_the_helper(source):
    """What reads the upload or its copy calls autograder/untrusted_fs.py, never a call that follows links by name."""
    if source.endswith(".py"):
        text = (ROOT / source).read_text()
    else:
        from autograder import sandbox

        text = inspect.getsource(getattr(sandbox.WarmWorker, source.split(".")[1]))
    code = "\n".join(line.split("#")[0] for line in text.splitlines())  # comments may name the calls
    assert not FOLLOWING_CALLS.search(code), FOLLOWING_CALLS.search(code).group(0)

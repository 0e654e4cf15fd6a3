"""The corpus in every condition the grader may run under, checked by tests/test_corpus.py's own checks.

The whole corpus without namespaces and as a student; its attacks with namespaces (test_corpus.py
grades all of it there).

(a) root with namespaces (this machine, CI); (b) root without namespaces (HW9_NAMESPACES=0), as on
Gradescope's default image, where Python is readable by every user; (c) an ordinary user (uid 1000 in a
user namespace), as a student's `check`; (d) root without namespaces and with a Python the worker user
cannot read: the grader fails closed. Where this machine's Python lies under a folder other users may
not enter (a private home), (b) lays a tmpfs over that folder in a mount namespace of the test alone, and
where it does not, (d) lays a closed one over the folder holding the standard library: nothing on the
machine changes. Each condition runs in a child process (tests/conditions_script.py).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.confinement import first_closed_folder
from autograder.identity import FALLBACK_ID
from autograder.registry import problem_points
from tests.corpus import items
from tests.helpers import ROOT, project_copies
from tests.optional_tools import can_be_a_student, is_root, require

FULL_MARKS = sum(problem_points().values())  # derived from the homework's cases, never written out

SCRIPT = ROOT / "tests" / "conditions_script.py"
AS_A_STUDENT = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
ATTACKS = [
    "snoops_for_secrets",
    "phones_home",
    "fork_bomb",
    "leaves_a_process_behind",
    "kills_the_worker",
    "patches_the_checker",
    "rewrites_its_own_file",
    "int80_socket",
    "x32_socket",
    "reads_worker_memory",
    "reads_proc",
    "leaves_temp_files",
    "finds_temp_files",
    "fills_tmp",
    "nested_reference",
]  # an honest one last, after fills_tmp
EVERY_ITEM = sorted(items())  # the whole corpus without namespaces and as a student (tests/test_corpus.py: with them)
SLOW_AS_A_STUDENT = ["hangs_in_every_function"]  # one 10 s timeout a function there: minutes (graded in the others)
TOGETHER = [["abstract_socket_server", "abstract_socket_client"], ["reads_other_workspaces", "reads_other_workspaces"]]
PYTHON_PATHS = [
    os.path.dirname(os.__file__),
    *{str(Path(importlib.util.find_spec(name).origin).parent.parent) for name in ("numpy", "torch")},
]
MARKER = Path("/tmp/hw9-left-behind.txt")  # what leaves_temp_files writes wherever it runs


def closed_folder():
    """The first folder on the way to Python or its packages that a worker user may not enter, or None."""
    found = [folder for path in PYTHON_PATHS if (folder := first_closed_folder(path, FALLBACK_ID, FALLBACK_ID))]
    return min(found, key=len) if found else None


def kept_under(folder):
    """The entries of `folder` that lead to Python or its packages."""
    return sorted({Path(p).relative_to(folder).parts[0] for p in PYTHON_PATHS if Path(p).is_relative_to(folder)})


def run_condition(request, prefix=(), namespaces=True, timeout=400):
    env = {**os.environ, "HW9_NAMESPACES": "1" if namespaces else "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*prefix, sys.executable, str(SCRIPT), json.dumps(request)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def with_namespaces():
    require(is_root(), "the conditions need root (CI runs the suite as root)")
    return run_condition({"items": ATTACKS, "together": TOGETHER})


@pytest.fixture(scope="module")
def without_namespaces():
    require(is_root(), "the conditions need root (CI runs the suite as root)")
    closed = closed_folder()
    cover = [closed, "0755", kept_under(closed)] if closed else None  # a readable Python, as on Gradescope
    request = {"items": EVERY_ITEM, "together": TOGETHER, "cover": cover, "hide": project_copies(except_for=ROOT)}
    return run_condition(request, namespaces=False, timeout=600)


@pytest.fixture(scope="module")
def as_a_student():
    require(can_be_a_student(), "this test needs `unshare --user` (util-linux, and user namespaces enabled)")
    # as test_not_root.py does, the default timeout: as a plain user fork_bomb's forks take longer than the corpus's 3 s
    items_ = [item for item in EVERY_ITEM if item not in SLOW_AS_A_STUDENT]
    return run_condition({"items": items_, "case_timeout": 10.0}, prefix=AS_A_STUDENT, namespaces=False, timeout=900)


@pytest.fixture(scope="module")
def python_unreadable():
    require(is_root(), "the conditions need root (CI runs the suite as root)")
    MARKER.unlink(missing_ok=True)
    cover = None
    if closed_folder() is None:  # close the folder that holds the standard library, keeping all it holds
        folder = os.path.dirname(os.path.dirname(os.__file__))
        cover = [folder, "0700", sorted(os.listdir(folder))]
    yield run_condition({"items": ["nested_reference", "leaves_temp_files"], "cover": cover}, namespaces=False)
    MARKER.unlink(missing_ok=True)


def assert_checks_hold(report, condition):
    failed = {name: item["failures"] for name, item in report["items"].items() if item["failures"] or item["received"]}
    assert not failed, f"{condition}: {json.dumps(failed, indent=1)[:6000]}"


def test_with_namespaces_every_attack_holds(with_namespaces):
    assert with_namespaces["protections"]["namespaces"] and with_namespaces["protections"]["private_proc"]
    assert set(with_namespaces["items"]) == set(ATTACKS)
    assert_checks_hold(with_namespaces, "root with namespaces")


def test_without_namespaces_the_whole_corpus_holds(without_namespaces):
    protections = without_namespaces["protections"]
    assert not protections["namespaces"] and protections["other_user"] and protections["seccomp"]
    assert set(without_namespaces["items"]) == set(EVERY_ITEM)
    assert_checks_hold(without_namespaces, "root without namespaces")


def test_as_a_student_the_whole_corpus_holds(as_a_student):
    assert as_a_student["uid"] == 1000 and not as_a_student["protections"]["root"]
    assert set(as_a_student["items"]) == {name for name in EVERY_ITEM if not items()[name].get("needs_root")} - set(
        SLOW_AS_A_STUDENT
    )
    assert_checks_hold(as_a_student, "not root")


def processes_in(user_namespace):
    """The processes of this machine that live in `user_namespace` (as /proc/PID/ns/user names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "user") == user_namespace:
                found.append(
                    (entry.name, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                )
        except OSError:
            pass
    return found


def test_as_a_student_no_process_outlives_the_grade(as_a_student):
    # Whatever the cases did (stopped themselves, forged reports, killed their worker), once the graders ended nothing
    # of theirs is left: the student's own processes could not be killed by a worker user there.
    assert as_a_student["user_namespace"] != os.readlink("/proc/self/ns/user")
    assert processes_in(as_a_student["user_namespace"]) == []


def test_without_namespaces_nothing_is_left_in_shared_folders(without_namespaces):
    assert without_namespaces["left_in_shared_folders"] == []
    assert not without_namespaces["lock_link_followed"]  # the planted lock link was never followed


def test_proc_shows_no_other_process_with_namespaces(with_namespaces):
    printed = with_namespaces["items"]["reads_proc"]["printed"]
    assert "processes outside my session: 0; command lines naming the grader: 0; environments read: 0" in printed


def test_proc_without_namespaces_shows_command_lines_but_no_environment(without_namespaces):
    printed = without_namespaces["items"]["reads_proc"]["printed"]
    assert "environments read: 0" in printed
    outside = int(printed.split("processes outside my session: ")[1].split(";")[0])
    assert outside > 0  # what remains visible without namespaces, as docs/SECURITY.md says


@pytest.mark.parametrize("condition", ["with_namespaces", "without_namespaces"])
def test_two_submissions_graded_at_once_cannot_talk(condition, request):
    together = request.getfixturevalue(condition)["together"]
    assert together["abstract_socket_server"]["score"] == together["abstract_socket_client"]["score"] == FULL_MARKS
    assert "heard 0 messages" in together["abstract_socket_server"]["printed"]
    assert "reached the other submission: False" in together["abstract_socket_client"]["printed"]


def test_fails_closed_when_the_worker_user_cannot_read_python(python_unreadable):
    protections = python_unreadable["protections"]
    assert protections["root"] and not protections["other_user"] and protections["root_only"]
    assert "Fix:" in protections["refusal"]
    for name, item in python_unreadable["items"].items():
        assert "FAILING CLOSED" in item["staff"] and item["errors_say_contact_staff"]
        ran = {number: category for number, category in item["categories"].items() if not number.startswith("0.")}
        assert set(ran.values()) == {"grader error"} and item["score"] == 0, (name, ran)  # the log's cases too
    assert not MARKER.exists()  # leaves_temp_files never ran: as root it would have written this file


@pytest.mark.parametrize("condition", ["with_namespaces", "without_namespaces"])
def test_two_submissions_graded_at_once_cannot_read_each_others_folders(condition, request):
    together = request.getfixturevalue(condition)["together"]
    for key in ("reads_other_workspaces#0", "reads_other_workspaces#1"):
        assert (
            together[key]["score"] == FULL_MARKS and "read 0 files of other submissions" in together[key]["printed"]
        ), key

"""A TA's checkout is never changed by grading: what workers must not read is hidden for the grade only, then reopened.

Unit tests of autograder/hiding.py in a locks folder of the test's own; then, as root, real grades in a
world-readable copy of the project (as a TA's checkout under /srv would be), with namespaces and without,
and a grader killed mid-grade whose closed modes the next grader puts back.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import confinement
from autograder.hiding import ModeHold, closed_to, restore_left_modes
from tests.conditions_script import cover
from tests.helpers import project_copies, world_readable_copy
from tests.optional_tools import needs
from tests.test_conditions import closed_folder, kept_under

WORKER = (64999, 64999)  # an id no file here belongs to
pytestmark = needs(os.geteuid() == 0, "hiding is root's business (CI runs the suite as root)")


def modes(folder: Path) -> dict:
    """relative path -> (mode, uid, gid) of every entry under `folder`, links not followed."""
    found = {}
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            info = os.lstat(os.path.join(parent, name))
            found[os.path.relpath(os.path.join(parent, name), folder)] = (info.st_mode, info.st_uid, info.st_gid)
    return found


@pytest.fixture
def locks(tmp_path):
    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def project():
    """A checkout others may read (pytest's own temporary folders are closed): folders of unusual but open modes,
    a file, one folder already closed."""
    open_folder = Path(tempfile.mkdtemp(prefix="hw9-hiding-test-"))
    yield from _filled(open_folder / "project")
    shutil.rmtree(open_folder)


def _filled(root):
    for name, mode in (("reference", 0o2755), ("autograder", 0o751), ("tests", 0o755), ("closed", 0o700)):
        (root / name).mkdir(parents=True)
        (root / name / "inner.py").write_text("secret = 1\n")
        os.chmod(root / name, mode)
    (root / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    os.chmod(root / ".git", 0o644)
    os.chmod(root, 0o755)
    os.chmod(root.parent, 0o755)
    yield root


def hidden_paths(project):
    return [str(project / name) for name in ("reference", "autograder", "tests", "closed", ".git")]


def test_a_hold_closes_what_the_worker_could_read_and_its_release_restores_every_mode(project, locks):
    before = modes(project)
    hold = ModeHold.take(hidden_paths(project), *WORKER, folder=locks)
    assert all(closed_to(path, *WORKER) for path in hidden_paths(project))
    assert stat.S_IMODE(os.stat(project / "reference").st_mode) == 0o2700  # only group and others lose access
    assert stat.S_IMODE(os.stat(project / ".git").st_mode) == 0o600
    assert json.loads((locks / "hidden-modes.json").read_text()).keys() == {
        str(project / name) for name in ("reference", "autograder", "tests", ".git")
    }  # not the closed one
    hold.release()
    assert modes(project) == before
    assert not (locks / "hidden-modes.json").exists()


def test_the_last_of_two_holders_restores(project, locks):
    before = modes(project)
    first = ModeHold.take(hidden_paths(project), *WORKER, folder=locks)
    second = ModeHold.take(hidden_paths(project), *WORKER, folder=locks)  # sees them closed, holds them all the same
    first.release()
    assert closed_to(str(project / "reference"), *WORKER)
    assert restore_left_modes(locks) == []  # a live holder: nothing is put back
    second.release()
    assert modes(project) == before


def test_nothing_is_held_when_the_worker_cannot_reach_the_paths(project, locks):
    os.chmod(project, 0o700)  # as a checkout under /root
    before = modes(project)
    assert ModeHold.take(hidden_paths(project), *WORKER, folder=locks) is None
    assert modes(project) == before and not (locks / "hidden-modes.json").exists()


def take_and_die(paths, folder):
    """In a child: take a hold, then die by SIGKILL before letting go."""
    pid = os.fork()
    if pid == 0:
        try:
            ModeHold.take(paths, *WORKER, folder=folder)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)


def test_modes_left_closed_by_a_killed_holder_are_put_back_by_the_next_grader(project, locks):
    before = modes(project)
    take_and_die(hidden_paths(project), locks)
    assert closed_to(str(project / "tests"), *WORKER)
    assert restore_left_modes(locks) == sorted(str(project / n) for n in (".git", "autograder", "reference", "tests"))
    assert modes(project) == before


def test_a_killed_holders_hiding_is_adopted_with_the_original_modes(project, locks):
    before = modes(project)
    take_and_die(hidden_paths(project), locks)
    hold = ModeHold.take(hidden_paths(project), *WORKER, folder=locks)  # finds them closed: must not record that
    assert closed_to(str(project / "autograder"), *WORKER)
    hold.release()
    assert modes(project) == before


def test_a_killed_holders_checkout_removed_since_is_dropped_from_the_record(project, locks, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chmod(tmp_path, 0o755)
    take_and_die([str(gone)], locks)
    gone.rmdir()
    hold = ModeHold.take(hidden_paths(project), *WORKER, folder=locks)  # still grades, and hides its own
    assert str(gone) not in json.loads((locks / "hidden-modes.json").read_text())
    hold.release()
    assert not (locks / "hidden-modes.json").exists()


def test_a_path_replaced_while_hidden_is_left_alone(project, locks):
    hold = ModeHold.take(hidden_paths(project), *WORKER, folder=locks)
    (project / "new").mkdir(mode=0o700)  # made before the old one goes, so that it cannot reuse its inode
    shutil.rmtree(project / "tests")
    os.rename(project / "new", project / "tests")
    hold.release()
    assert stat.S_IMODE(os.stat(project / "tests").st_mode) == 0o700  # another folder now: its mode is not the record's
    assert stat.S_IMODE(os.stat(project / "reference").st_mode) == 0o2755


# ----------------------------------------------------------------------------- real grades in a copy of the project


def python_cover():
    """[folder, mode, kept]: a readable path to this machine's Python for other users, when it lies in a closed
    folder."""
    closed = closed_folder()
    return [closed, "0755", kept_under(closed)] if closed else None


@pytest.fixture(scope="module")
def checkout():
    """A world-readable copy of this checkout under /srv: folders 0755, files 0644 (0755 where executable)."""
    root = world_readable_copy("hw9-checkout-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def grader(checkout, items, namespaces):
    """conditions_script.py of the copy, run from the copy (so that its grader is the one graded from) as a Popen."""
    request = {"items": items, "cover": python_cover(), "hide": project_copies(except_for=checkout)}
    env = {
        **os.environ,
        "HW9_NAMESPACES": "1" if namespaces else "0",
        "PYTHONPATH": str(checkout),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.Popen(
        [sys.executable, str(checkout / "tests" / "conditions_script.py"), json.dumps(request)],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def graded(checkout, items, namespaces):
    process = grader(checkout, items, namespaces)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def unchanged(before, after):
    """Entries whose mode or owner changed (entries the grade created, such as the secret key, aside)."""
    return {name: (before[name], after.get(name)) for name in before if after.get(name) != before[name]}


def with_readable_python(uid=None):
    """For preexec_fn: a mount namespace of the child's own where other users can reach this Python; then `uid`."""

    def prepare():
        confinement.unshare(confinement.CLONE_NEWNS)
        confinement.mount(None, "/", None, confinement.MS_REC | confinement.MS_PRIVATE)
        if python_cover():
            cover(*python_cover())
        if uid is not None:
            confinement.become(uid, uid)

    return prepare


def imports_as(uid, checkout):
    """Whether `uid` can start the grader's command line from the copy (with a readable Python, as the grades had)."""
    done = subprocess.run(
        [sys.executable, "-c", "import autograder.__main__"],
        cwd=checkout,
        preexec_fn=with_readable_python(uid),
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stderr[-2000:]


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "no-namespaces"])
def test_grading_in_a_readable_checkout_hides_the_reference_and_changes_no_mode(checkout, namespaces):
    before = modes(checkout)
    report = graded(checkout, ["snoops_for_secrets"], namespaces)
    assert report["protections"]["namespaces"] == namespaces and report["protections"]["covered"] == namespaces
    item = report["items"]["snoops_for_secrets"]
    assert not item["failures"], item["failures"]  # it found neither the reference nor any case
    assert unchanged(before, modes(checkout)) == {}
    code, errors = imports_as(1000, checkout)
    assert code == 2 and "No module named" not in errors, errors  # argparse's usage error: the package was found


def grading_a_sleeper(checkout, folder):
    """`python -m autograder grade` without namespaces, started on a submission whose every case sleeps, and returned
    once a case's child runs (the private folders closed by then): (the process, the name its children take)."""
    submission = folder / "submission"
    submission.mkdir()
    name = f"h4orph{os.getpid() % 10**8:08d}"  # a process name to find what outlives the grader (PR_SET_NAME)
    (submission / "attention.py").write_text(
        # named, and rid of its parent-death signal as an attacker would be: it outlives its killed worker
        f"import ctypes, time\nctypes.CDLL(None).prctl(15, b'{name}', 0, 0, 0)\n"
        "ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\ntime.sleep(60)\n"
    )
    env = {**os.environ, "HW9_NAMESPACES": "0", "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(submission), "--results", str(folder / "results.json")],
        cwd=checkout,
        env=env,
        preexec_fn=with_readable_python(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while name not in processes_named():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-3000:]
        time.sleep(0.05)
    assert closed_to(str(checkout / "reference"), *WORKER)
    return process, name


def test_a_grader_killed_mid_grade_has_its_modes_restored_by_the_next(checkout, tmp_path):
    before = modes(checkout)
    process, name = grading_a_sleeper(checkout, tmp_path)
    workers = children_of(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert workers and wait_until_gone(workers, seconds=3), "the warm worker outlived its grading process"
    assert closed_to(str(checkout / "reference"), *WORKER)  # killed while hiding: nothing could put the modes back
    assert name in processes_named()  # the case's child lives on, in a session of its own
    report = graded(checkout, ["snoops_for_secrets"], namespaces=False)
    assert not report["items"]["snoops_for_secrets"]["failures"]
    assert unchanged(before, modes(checkout)) == {}
    assert name not in processes_named(), "a killed grader's case outlived the reopening of the folders"


def test_a_grader_stopped_by_sigterm_restores_the_modes_itself(checkout, tmp_path):
    before = modes(checkout)
    process, name = grading_a_sleeper(checkout, tmp_path)
    process.send_signal(signal.SIGTERM)  # run_autograder's time limit
    process.communicate(timeout=60)
    assert json.loads((tmp_path / "results.json").read_text())["tests"]  # it wrote its results, then let go
    assert unchanged(before, modes(checkout)) == {}
    assert name not in processes_named(), "a case's child outlived the grader that reopened the folders"


def processes_named():
    """The names (comm) of every live process on the machine (not the dead ones waiting to be reaped)."""
    names = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = dict(
                line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if not status.get("State", "").startswith(("Z", "X")):
            names.append(status.get("Name", "").strip())
    return names


def children_of(pid):
    """The pids of a process's children (of all its threads)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def wait_until_gone(pids, seconds=20):
    """True when none of `pids` is alive (zombies aside) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = []
        for pid in pids:
            try:
                states.append(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if all(state in "ZX" for state in states):
            return True
        time.sleep(0.1)
    return False

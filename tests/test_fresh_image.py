"""The Gradescope zip set up and graded in a bare Debian root file system (debootstrap), as on a fresh image."""

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
from functools import partial
from pathlib import Path

import pytest

from autograder.registry import problem_points
from tests.helpers import ROOT
from tests.optional_tools import needs

FULL_MARKS = sum(problem_points().values())  # derived from the homework's cases, never written out

SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"  # bookworm's python3 is 3.11: the wheel below must be cp311
CACHE = Path("/var/cache/hw9-fresh-image")  # the root file system, kept between runs (debootstrap takes a while)
DEBOOTSTRAP = shutil.which("debootstrap") or (
    "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
)
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SCHEMA_KEYS = {"name", "number", "score", "max_score", "status", "output", "visibility"}
STAFF = "contact course staff"

pytestmark = [
    needs(os.geteuid() == 0, "debootstrap and chroot need root"),
    needs(DEBOOTSTRAP, "debootstrap is not installed (setup.sh installs it as root)"),
]
TIMINGS = {}


def timed(what, command, **options):
    """subprocess.run, remembering how long it took under `what`."""
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, **options)
    TIMINGS[what] = time.monotonic() - start
    return done


def torch_pin():
    line = next(line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch=="))
    return line.split("==", 1)[1].split("#")[0].strip()


def local_torch_wheel():
    """A CPU torch wheel for bookworm's Python 3.11 among pip's find-links folders, or None."""
    folders = [folder for folder in os.environ.get("PIP_FIND_LINKS", "").split() if os.path.isdir(folder)]
    for folder in folders:
        for wheel in sorted(Path(folder).glob(f"torch-{torch_pin()}+cpu-cp311-cp311-manylinux*_x86_64.whl")):
            return wheel
    return None


def root_file_system():
    """A tar of `debootstrap --variant=minbase`, made once per debootstrap version and kept in CACHE."""
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "debootstrap"], capture_output=True, text=True
    ).stdout
    key = hashlib.sha256(f"{SUITE} minbase {MIRROR} {version}".encode()).hexdigest()[:16]
    tar = CACHE / f"{SUITE}-minbase-{key}.tar"
    if tar.exists():
        return tar
    CACHE.mkdir(parents=True, exist_ok=True)
    building = CACHE / f"building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        done = timed("debootstrap", [DEBOOTSTRAP, "--variant=minbase", SUITE, str(building), MIRROR], timeout=1800)
        assert done.returncode == 0, f"debootstrap failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        partial_tar = tar.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(building), "-cf", str(partial_tar), "."], check=True, timeout=600)
        partial_tar.rename(tar)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return tar


def mounted_under(folder):
    """Mount points of this namespace at or below `folder` (never delete through one)."""
    prefix = str(folder)
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [point for point in points if point == prefix or point.startswith(prefix + "/")]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def torch_index(tmp_path_factory):
    """A PEP 503 index on 127.0.0.1 with the CPU torch wheel, and an empty one; yields their two URLs."""
    wheel = local_torch_wheel()
    if wheel is None:
        yield None, None  # no local wheel: setup.sh takes torch's own CPU index
        return
    served = tmp_path_factory.mktemp("torch-index")
    (served / "full" / "torch").mkdir(parents=True)
    (served / "empty").mkdir()
    try:
        os.link(wheel, served / "full" / "torch" / wheel.name)
    except OSError:
        shutil.copy(wheel, served / "full" / "torch" / wheel.name)
    link = f'<a href="{urllib.parse.quote(wheel.name)}">{wheel.name}</a>'
    (served / "full" / "torch" / "index.html").write_text(f"<!DOCTYPE html><html><body>{link}</body></html>\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield f"{base}/full/", f"{base}/empty/"
    server.shutdown()
    server.server_close()


class Image:
    """A root file system in a folder; commands run chrooted into it, with /proc and /dev mounted for them alone
    (in a mount namespace of their own: the mounts vanish with the command)."""

    def __init__(self, folder):
        self.folder = folder

    def run(self, what, command, env=None, timeout=1200):
        clean = {"PATH": CLEAN_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        inside = ["env", "-i", *(f"{name}={value}" for name, value in clean.items()), *command]
        # The root is bound onto itself first, so that "/" is a mount point inside, as a container's root is: the grader
        # makes "/" private in its own mount namespace, which a plain folder refuses (EINVAL: no namespaces then).
        script = (
            'mount --bind "$1" "$1" && mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && '
            'root="$1" && shift && exec chroot "$root" "$@"'
        )
        return timed(
            what,
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--fork",
                "sh",
                "-c",
                script,
                "sh",
                str(self.folder),
                *inside,
            ],
            timeout=timeout,
        )

    def path(self, inside):
        return self.folder / inside.lstrip("/")

    def grade(self, what, files):
        """Put `files` (name -> bytes) as the only submission, run run_autograder, return the parsed results.json."""
        for folder in ("/autograder/submission", "/autograder/results"):
            shutil.rmtree(self.path(folder), ignore_errors=True)
        self.path("/autograder/submission").mkdir(parents=True)
        for name, content in files.items():
            self.path(f"/autograder/submission/{name}").write_bytes(content)
        done = self.run(what, ["/autograder/source/run_autograder"], timeout=900)
        assert done.returncode == 0, done.stderr
        results = json.loads(self.path("/autograder/results/results.json").read_text())
        assert isinstance(results["tests"], list) and results["tests"]
        for test in results["tests"]:
            assert set(test) >= SCHEMA_KEYS - {"status"}, test
            # no status: only an optional task left out (neither passed nor failed), worth nothing
            assert "status" in test or (test["max_score"] == 0 and test["name"].endswith("(not attempted)")), test
        assert results["score"] == pytest.approx(sum(test["score"] for test in results["tests"]))
        return results


@pytest.fixture(scope="module")
def image(tmp_path_factory, torch_index):
    """The zip unpacked to /autograder/source of a fresh bookworm, set up once with a wrong torch index, then right."""
    tar = root_file_system()
    folder = tmp_path_factory.mktemp("fresh-image") / "root"
    folder.mkdir()
    try:
        unpacked = timed("unpacking the root file system", ["tar", "-C", str(folder), "-xpf", str(tar)], timeout=600)
        assert unpacked.returncode == 0, unpacked.stderr
        shutil.copy("/etc/resolv.conf", folder / "etc" / "resolv.conf")
        pip_env = {}
        if os.path.isfile(os.environ.get("PIP_CERT", "")):  # this machine's CA bundle (e.g. a TLS-inspecting proxy)
            shutil.copy(os.environ["PIP_CERT"], folder / "etc" / "hw9-host-ca.crt")
            pip_env["PIP_CERT"] = "/etc/hw9-host-ca.crt"
        bundle = folder / "bundle.zip"
        subprocess.run(
            [sys.executable, "-m", "autograder", "build", "gradescope", str(bundle)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        with zipfile.ZipFile(bundle) as archive:  # keeping the run bits, as Gradescope does
            for info in archive.infolist():
                os.chmod(archive.extract(info, folder / "autograder" / "source"), (info.external_attr >> 16) & 0o777)
        bundle.unlink()
        full, empty = torch_index
        image = Image(folder)
        image.failed_setup = image.run(
            "setup.sh with an index that has no torch",
            ["bash", "/autograder/source/setup.sh"],
            env={**pip_env, "TORCH_INDEX_URL": empty or "http://127.0.0.1:9/"},
        )
        image.after_failed_setup = sorted(path.name for path in image.path("/autograder/source").iterdir())
        image.failed_results = image.grade("run_autograder after the failed setup.sh", {})
        env = pip_env if full is None else {**pip_env, "TORCH_INDEX_URL": full}
        image.setup = image.run("setup.sh", ["bash", "/autograder/source/setup.sh"], env=env)
        yield image
    finally:
        with_times = ", ".join(f"{what}: {seconds:.0f} s" for what, seconds in TIMINGS.items())
        venv = folder / "autograder" / "source" / ".venv"
        size = "-"
        if venv.exists():
            size = subprocess.run(["du", "-sh", str(venv)], capture_output=True, text=True).stdout.split("\t")[0]
        print(f"\nfresh image: {with_times}; .venv {size}")
        if not mounted_under(folder):  # never remove through a mount that outlived its namespace
            shutil.rmtree(folder.parent, ignore_errors=True)


def test_a_failed_setup_leaves_nothing_that_passes_for_ready(image):
    assert image.failed_setup.returncode != 0
    assert "could not install torch" in image.failed_setup.stderr
    assert not any(name.startswith(".venv") for name in image.after_failed_setup), image.after_failed_setup
    visible = [test for test in image.failed_results["tests"] if test["visibility"] == "visible"]
    hidden = [test for test in image.failed_results["tests"] if test["visibility"] == "hidden"]
    assert image.failed_results["score"] == 0 and STAFF in visible[0]["output"]
    assert "setup.sh did not finish" in hidden[0]["output"]


def test_setup_builds_a_venv_the_worker_user_can_run(image):
    assert image.setup.returncode == 0, image.setup.stdout[-3000:] + image.setup.stderr[-3000:]
    assert image.path("/autograder/source/.venv/.requirements.sha256").is_file()
    assert not list(image.path("/autograder/source").glob(".venv-building*"))
    check = [
        "chroot",
        "--userspec=hw9worker:hw9worker",
        "/",
        "/autograder/source/.venv/bin/python",
        "-c",
        "import numpy, torch, pydantic, yaml; print(numpy.__version__)",
    ]
    done = image.run("import as hw9worker", check)
    assert done.returncode == 0, done.stderr
    again = image.run("setup.sh again", ["bash", "/autograder/source/setup.sh"])
    assert again.returncode == 0 and "ready already" in again.stdout


def test_the_reference_scores_full_marks(image):
    reference = {path.name: path.read_bytes() for path in sorted((ROOT / "reference").glob("*.py"))}
    reference["submission_log.json"] = (ROOT / "reference" / "submission_log.json").read_bytes()
    results = image.grade("run_autograder on the reference", reference)
    failed = [
        f"{test['number']}: {test['output'][:300]}" for test in results["tests"] if test.get("status") == "failed"
    ]
    assert results["score"] == sum(test["max_score"] for test in results["tests"]) == FULL_MARKS, "\n".join(failed)
    staff = next(test["output"] for test in results["tests"] if test["number"] == "0.1")
    print(f"\nthe grader's protections in the fresh image:\n{staff}")


def test_a_broken_submission_is_graded_without_a_grader_error(image):
    results = image.grade("run_autograder on a broken submission", {"purification.py": b"def purify(:\n    return\n"})
    assert results["score"] == 0
    assert not any(STAFF in test["output"] for test in results["tests"] if test["visibility"] == "visible")

"""The parent's side of isolation: one warm worker process, a scratch folder per case, outputs read back as data.

All worker start-up lives in WarmWorker.start, so that running workers as another user or in
other namespaces later changes this one place. Nothing here imports student code; outputs come
back only as .npy files loaded with allow_pickle=False and a JSON report.
"""
import fcntl
import json
import os
import pwd
import re
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import PROJECT_ROOT
from autograder.config import GraderConfig

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
# What a worker child must never read: the reference, the cases (hidden inputs), our tests, history.
PRIVATE_PATHS = [PROJECT_ROOT / name for name in ("reference", "autograder", "tests", "bench", ".git")]
WORKER_USER, FALLBACK_ID = "hw9worker", 64321  # setup.sh creates the user on Gradescope; elsewhere the bare id serves
SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints", ".git"}
CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")  # ANSI sequences, control bytes


class WorkerDied(Exception):
    """The warm worker stopped answering (killed, crashed, or hung past its grace period)."""


class WorkerStartFailed(Exception):
    """The warm worker could not start: the grader's fault, never the student's."""

    max_attempts = 2  # after this many failed starts, every further case is a grader error at once


@dataclass
class Outcome:
    """What one case's run produced, as plain data.

    status: ok | exception | timeout | memory | crash | unsupported | grader_error.
    outputs: name -> float64 array, or None where the student returned None.
    """

    status: str
    outputs: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)
    error: str = ""
    error_type: str = ""
    stdout: str = ""
    stderr: str = ""
    left_behind: bool = False  # the case returned but left a process or thread running


@dataclass
class Job:
    """One run: a recipe (a plain call or a torch procedure), its arguments, and which class source to use."""

    recipe: str
    module: str = ""
    function: str = ""
    args: tuple = ()
    transformer_source: dict | None = None
    timeout: float | None = None
    seed: int = 0


def claim_worker_identity(slots=1000):
    """A (uid, gid) no other live warm worker uses, and the open lock file that holds it.

    After every case a worker kills all processes of its user, so two workers (regrade's jobs,
    or two graders on one machine) must never share one. The first is `hw9worker` where that
    user exists; the others are bare ids above it. A lock dies with its process.
    """
    try:
        entry = pwd.getpwnam(WORKER_USER)
        candidates = [(entry.pw_uid, entry.pw_gid)]
    except KeyError:
        candidates = []
    candidates += [(FALLBACK_ID + slot, FALLBACK_ID + slot) for slot in range(slots)]
    for uid, gid in candidates:
        handle = open(f"/run/lock/hw9-worker-{uid}.lock" if os.path.isdir("/run/lock") else f"/tmp/.hw9-worker-{uid}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return uid, gid, handle
        except BlockingIOError:
            handle.close()
    raise RuntimeError("no free worker identity")


def worker_settings(config, workspace):
    """What the worker needs to confine its children; as root, also lock up what workers must not read."""
    extra = [Path(p).resolve() for p in config.hidden_paths]
    outside = [str(p) for p in extra if PROJECT_ROOT not in p.parents]
    if outside:  # the grader changes modes only of what it owns
        raise ValueError(f"hidden_paths must lie inside {PROJECT_ROOT}: {', '.join(outside)}")
    (workspace / ".root").mkdir()  # where each child mounts its own minimal root
    settings = {"hidden_paths": [str(p) for p in [*PRIVATE_PATHS, *extra] if p.exists()],
                "new_root": str(workspace / ".root"), "processes": config.processes}
    settings["namespaces"] = config.namespaces
    if os.geteuid() == 0:
        settings["uid"], settings["gid"], settings["identity_lock"] = claim_worker_identity()
        for path in settings["hidden_paths"]:
            os.chmod(path, 0o700)  # owned by root: the permission layer, which holds even without namespaces
        os.chmod(workspace, 0o711)  # workers may reach their own case folder, not list the others
    return settings


def describe_protections(protections):
    """What the probe found, in sentences for course staff (and for a student running check)."""
    if not protections:
        return ["protections unknown: the worker never started"]
    lines = []
    if protections.get("root_only"):
        lines.append("FAILING CLOSED: the grader runs as root and student code could not be given another user, so no student "
                     "code runs and every case is a grader error (0 points). Why: " + protections.get("refusal", "unknown"))
    elif not protections.get("root"):
        lines.append("not root: isolation is process-only (a separate process per case, resource limits, timeouts); "
                     "student code runs as this user and could read the project's files")
    else:
        lines.append("student code runs as an unprivileged user: it cannot read reference/, autograder/ or tests/ (mode 0700), "
                     "cannot signal the grader, and the process limit applies; what it leaves in /tmp, /var/tmp, /dev/shm "
                     "and /run/lock is removed after every child")
    if protections.get("namespaces"):
        lines.append("minimal root: each case is chrooted into an empty tmpfs holding only Python, the installed packages, "
                     "system libraries, its own folder and the submission; nothing else of the machine exists there; "
                     "/tmp, /var/tmp and /dev/shm are its own small tmpfs, gone with it")
        lines.append("private network namespace: no network at all")
        lines.append("/proc shows only the case's own processes" if protections.get("private_proc")
                     else "/proc is the machine's: every process and command line is visible (a fresh /proc was refused)")
    elif not protections.get("namespaces_allowed", True):
        lines.append("namespaces turned off (HW9_NAMESPACES=0): no minimal root; /proc lists every process and command line")
    else:
        lines.append("namespaces unavailable: no minimal root; /proc lists every process and command line")
    if protections.get("seccomp"):
        lines.append("seccomp filter: no socket of any family (abstract unix sockets included), no socket pair, no io_uring, "
                     "no ptrace or reading another process's memory, and no system call through another ABI (i386, x32)")
    elif not protections.get("namespaces"):
        lines.append("WARNING: no network protection available")
    lines.append("leftover processes are killed after every child, and a case that leaves one behind ends its child" + (" (the grader is their subreaper)" if protections.get("subreaper") else ""))
    return lines


class WarmWorker:
    """A worker process that has imported numpy and torch and forks children that run batches of cases."""

    def __init__(self, config=None):
        self.config = config or GraderConfig()
        self.workspace = Path(tempfile.mkdtemp(prefix="hw9-grader-"))
        self.process = None
        self.cases_run = 0
        self.failed_starts = 0
        self.protections = {}
        self.settings = worker_settings(self.config, self.workspace)
        self._shared_copy = None  # (submission folder, its read-only copy)

    # --------------------------------------------------------------- lifecycle
    def start(self):
        """Start the worker without waiting for its imports; run() waits for it when first needed."""
        env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
        with open(self.workspace / "worker-stderr.txt", "ab") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(WORKER_SCRIPT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                cwd=self.workspace, env=env, start_new_session=True,
            )
        self._buffer = b""
        self._ready = False
        self.process.stdin.write((json.dumps({k: v for k, v in self.settings.items() if k != "identity_lock"}) + "\n").encode())
        self.process.stdin.flush()
        return self

    def _ensure_ready(self):
        if self.failed_starts >= WorkerStartFailed.max_attempts:
            raise WorkerStartFailed(f"the warm worker failed to start {self.failed_starts} times")
        if self.process is None or self.process.poll() is not None:
            self.start()
        if not self._ready:
            try:
                hello = json.loads(self._read_line(self.config.worker_start_timeout))
                if not hello.get("ready"):
                    raise WorkerDied(f"unexpected greeting {hello!r}")
                self.protections = hello["protections"]
            except (WorkerDied, ValueError) as error:
                self.failed_starts += 1
                self._kill()
                raise WorkerStartFailed(f"the warm worker did not start: {error}") from None
            self._ready = True

    def stop(self):
        """Stop the worker, remove every scratch folder, give the worker identity back."""
        self._kill()
        shutil.rmtree(self.workspace, ignore_errors=True)
        if self.settings.get("identity_lock"):
            self.settings["identity_lock"].close()

    def _kill(self):
        if self.process is not None:
            try:
                os.killpg(self.process.pid, 9)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                raise WorkerDied("the warm worker did not answer in time")
            chunk = os.read(fd, 65536)
            if not chunk:
                errors = (self.workspace / "worker-stderr.txt").read_text(errors="replace")[-2000:]
                raise WorkerDied(f"the warm worker exited{': ' + errors if errors.strip() else ''}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    # --------------------------------------------------------------- cases
    def run(self, job, submission_root):
        """Run one job on a submission folder (or None); always returns an Outcome."""
        return self.run_batch([job], submission_root)[0]

    def run_batch(self, jobs, submission_root):
        """Run jobs in order on a submission folder (or None), in as few children as isolation allows; one Outcome each.

        Callers put cases whose feedback is visible and hidden cases in separate batches, so no
        hidden input can reach a visible output.
        """
        if not jobs:
            return []
        timeouts = [job.timeout or self.config.case_timeout for job in jobs]
        batch = self.workspace / f"batch-{self.cases_run}"
        self.cases_run += 1
        scratches = [batch / f"case-{index}" for index in range(len(jobs))]
        batch.mkdir(mode=0o700)  # closed to other worker users from the start: it is about to hold hidden inputs
        for scratch in scratches:
            scratch.mkdir()
        try:
            try:
                self._ensure_ready()
            except WorkerStartFailed as error:
                return [Outcome("grader_error", error=str(error)) for _ in jobs]
            request = self._request(jobs, timeouts, submission_root, batch, scratches)
            try:
                self.process.stdin.write((json.dumps(request) + "\n").encode())
                self.process.stdin.flush()
                answers = json.loads(self._read_line(sum(timeouts) + self.config.worker_grace))["answers"]
            except (WorkerDied, BrokenPipeError, ValueError, KeyError, TypeError) as error:
                self._kill()  # the next batch starts a fresh worker
                if len(jobs) > 1:  # one of them took the worker down (possible only as the same user): one job per child finds it
                    return [self.run_batch([job], submission_root)[0] for job in jobs]
                return [Outcome("crash", error=f"the case stopped the grader's worker ({error})")]
            outcomes = [self._outcome(answer, scratch, timeout) for answer, scratch, timeout in zip(answers, scratches, timeouts)]
            for outcome, answer in zip(outcomes, answers):
                outcome.left_behind = bool(answer.get("left_behind"))
            return outcomes
        finally:
            shutil.rmtree(batch, ignore_errors=True)

    def _copy_submission(self, submission_root, destination):
        cap = self.config.submission_file_cap_mb * 2**20
        shutil.copytree(submission_root, destination, symlinks=True, ignore=lambda folder, names: [
            n for n in names if n in SKIP_NAMES or (Path(folder, n).is_file() and Path(folder, n).stat().st_size > cap)])

    def _submission_for_case(self, submission_root, scratch):
        """The folder a case imports the student's files from, as no case can change it for another.

        With a worker user, one read-only copy owned by root serves every case of a submission;
        otherwise each case gets its own copy in its scratch folder.
        """
        if submission_root is None:
            (scratch / "submission").mkdir()
            return scratch / "submission"
        if not self.protections.get("other_user"):
            self._copy_submission(submission_root, scratch / "submission")
            return scratch / "submission"
        if self._shared_copy is None or self._shared_copy[0] != submission_root:
            if self._shared_copy is not None:
                shutil.rmtree(self._shared_copy[1], ignore_errors=True)
            copy = self.workspace / f"submission-{secrets.token_hex(8)}"  # a name other worker users cannot guess
            self._copy_submission(submission_root, copy)
            for path in [copy, *copy.rglob("*")]:
                if not path.is_symlink():
                    os.chmod(path, 0o755 if path.is_dir() else 0o644)
            self._shared_copy = (submission_root, copy)
        return self._shared_copy[1]

    def _request(self, jobs, timeouts, submission_root, batch, scratches):
        """Put each job's inputs in its folder, pick the submission's copy; describe the batch as JSON."""
        submission = self._submission_for_case(submission_root, batch)
        described = []
        for job, timeout, scratch in zip(jobs, timeouts, scratches):
            args = []
            for index, arg in enumerate(job.args):
                if isinstance(arg, np.ndarray):
                    np.save(scratch / f"in{index}.npy", arg, allow_pickle=False)  # a copy per case
                    args.append({"npy": f"in{index}.npy"})
                elif isinstance(arg, dict):
                    args.append(arg)  # {"callable": name}
                else:
                    args.append({"value": arg})
            described.append({"recipe": job.recipe, "module": job.module, "function": job.function, "args": args,
                              "transformer_source": job.transformer_source, "scratch": str(scratch), "seed": job.seed, "timeout": timeout})
        if self.protections.get("other_user"):  # the batch's folders belong to the worker user, nothing else does
            for path in [batch, *batch.rglob("*")]:
                os.lchown(path, self.settings["uid"], self.settings["gid"])
        limits = {**self.config.limits(sum(timeouts)), "own_user": bool(self.protections.get("other_user"))}
        return {"jobs": described, "scratch": str(batch), "submission": str(submission), "limits": limits}

    def _outcome(self, answer, scratch, timeout):
        stdout, stderr = (self._read_capped(scratch / name) for name in ("stdout.txt", "stderr.txt"))
        report = answer.get("report") or {}
        if answer.get("timed_out"):
            return Outcome("timeout", error=f"timed out after {timeout:g} s", stdout=stdout, stderr=stderr)
        status = report.get("status")
        if status is None:
            code = answer.get("exit_code")
            reason = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with status {code}"
            return Outcome("crash", error=f"the code {reason} before returning", stdout=stdout, stderr=stderr)
        if status == "setup_error":
            return Outcome("grader_error", error=report.get("error", ""), stdout=stdout, stderr=stderr)
        if status != "ok":
            return Outcome(status if status in ("exception", "memory", "unsupported") else "crash", error=self.redact(report.get("error", "")),
                           error_type=report.get("error_type", ""), stdout=stdout, stderr=stderr)
        try:
            outputs = {name: None if path is None else self._load_output(scratch, path) for name, path in report["outputs"].items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            return Outcome("unsupported", error=f"the output could not be read back: {error}", stdout=stdout, stderr=stderr)
        return Outcome("ok", outputs=outputs, kinds=report.get("kinds", {}), stdout=stdout, stderr=stderr)

    def _load_output(self, scratch, relative):
        path = scratch / relative
        if not path.resolve().is_relative_to(scratch.resolve()):  # every process of the case is gone: no race
            raise ValueError("output outside the case's folder")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > self.config.output_file_cap_mb * 2**20:
                raise ValueError("output larger than the cap")
            array = np.load(handle, allow_pickle=False)
        if array.dtype != np.float64:
            raise ValueError(f"output of dtype {array.dtype}")
        return np.array(array)  # a base ndarray

    def redact(self, text):
        """Student-visible text names neither the grader's folder nor the sandbox's, whoever printed them."""
        return text.replace(str(self.workspace), "<sandbox>").replace(str(PROJECT_ROOT), "<grader>")

    def _read_capped(self, path):
        cap = self.config.output_cap_kb * 1024
        try:
            with open(path, "rb") as handle:
                data = handle.read(cap + 1)
        except OSError:
            return ""
        text = self.redact(CONTROL.sub("", data[:cap].decode("utf-8", errors="replace")))
        return text + ("\n[... output cut at %d KiB]" % self.config.output_cap_kb if len(data) > cap else "")

"""The grading process's side of isolation: one warm worker process, a scratch folder per case, replies as typed data.

All worker start-up lives in WarmWorker.start, so that running workers as another user or in
other namespaces later changes this one place. Nothing here imports student code, and nothing
here opens a file in a folder student code could write: a case's outputs and what it printed
come back inside the worker's protocol.CaseReply, checked against the request and its caps.
"""

import dataclasses
import json
import os
import re
import secrets
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import PROJECT_ROOT, protocol
from autograder.config import GraderConfig
from autograder.homework import HOMEWORK, REFERENCE
from autograder.protocol import BatchRequest, CaseReply, CaseRequest, ProtocolError, Status

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
SETUP_SECONDS = 10.0  # a fresh child's set-up, which a reply may include beside its case's own time (supervisor.py)
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

    status: a protocol.Status value (ok | exception | timeout | memory | crash | unsupported | grader_error).
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
    staff_note: str = ""  # something unexpected about this case, for course staff only
    skipped_after: str = ""  # not run: its function timed out in this case earlier in the grade (grade.run_jobs)


@dataclass
class Job:
    """One run: a recipe (a plain call or a torch procedure), its arguments, and which class source to use."""

    recipe: str
    module: str = ""
    function: str = ""
    args: tuple = ()
    class_source: dict | None = None
    timeout: float | None = None
    seed: int = 0


def describe_protections(protections: dict) -> list[str]:
    """What the probe found, in sentences for course staff (and for a student running check)."""
    if not protections:
        return ["protections unknown: the worker never started"]
    lines = []
    if protections.get("portable") and not protections.get("root_only"):
        return [
            "portable path (no Linux worker here): each batch of cases runs in a plain subprocess as this user, "
            "with per-case timeouts and crash isolation only; no confinement, no file, network or process "
            "protection, and a memory limit only where the system enforces RLIMIT_AS"
        ]
    if protections.get("root_only"):
        lines.append(
            "FAILING CLOSED: the grader runs as root and student code could not be given another user, so no student "
            "code runs and every case is a grader error (0 points). Why: " + protections.get("refusal", "unknown")
        )
    elif not protections.get("root"):
        lines.append(
            "not root: isolation is process-only (a separate process per case, resource limits, timeouts); "
            "student code runs as this user and could read the project's files"
        )
    else:
        lines.append(
            "student code runs as an unprivileged user: it cannot read reference/, homework/, autograder/ or tests/ ("
            + (
                "covered in the worker's own mount namespace"
                if protections.get("covered")
                else "closed by their modes for this grade only, unless out of its reach already"
            )
            + "), "
            "cannot signal the grader, and the process limit applies; what it leaves in /tmp, /var/tmp, /dev/shm "
            "and /run/lock is removed after every child"
        )
    if protections.get("namespaces"):
        lines.append(
            "minimal root: each case is chrooted into an empty tmpfs holding only Python, the installed packages, "
            "system libraries, its own folder and the submission; nothing else of the machine exists there; "
            "/tmp, /var/tmp and /dev/shm are its own small tmpfs, gone with it"
        )
        lines.append("private network namespace: no network at all")
        lines.append(
            "/proc shows only the case's own processes"
            if protections.get("private_proc")
            else "/proc is the machine's: every process and command line is visible (a fresh /proc was refused)"
        )
    elif not protections.get("namespaces_allowed", True):
        lines.append(
            "namespaces turned off (HW9_NAMESPACES=0): no minimal root; /proc lists every process and command line"
        )
    else:
        lines.append("namespaces unavailable: no minimal root; /proc lists every process and command line")
    if protections.get("seccomp"):
        lines.append(
            "seccomp filter: no socket of any family (abstract unix sockets included), no socket pair, no io_uring, "
            "no ptrace or reading another process's memory, and no system call through another ABI (i386, x32)"
        )
    elif not protections.get("namespaces"):
        lines.append("WARNING: no network protection available")
    lines.append(
        "leftover processes are killed after every child, and a case that leaves one behind ends its child"
        + (" (the grader is their subreaper)" if protections.get("subreaper") else "")
    )
    return lines


def caps_of(config: GraderConfig) -> protocol.Caps:
    """How much of a case the grading process takes in, from the config."""
    return protocol.Caps(
        output_count=config.output_count_cap,
        output_bytes=config.output_file_cap_mb * 2**20,
        case_bytes=config.case_output_cap_mb * 2**20,
        printed_bytes=config.output_cap_kb * 1024,
    )


class WarmWorker:
    """A worker process that has imported numpy and torch and forks children that run batches of cases."""

    def __init__(self, config: GraderConfig | None = None):
        from autograder.identity import make_workspace, worker_settings  # Linux only: portable.py never gets here

        self.config = config or GraderConfig()
        self.caps = caps_of(self.config)
        self.workspace, self._workspace_lock = make_workspace()  # and remove what killed graders left
        self.process = None
        self.cases_run = 0
        self.failed_starts = 0
        self.protections = {}
        self.settings = worker_settings(self.config, self.workspace)
        self._shared_copy = None  # (submission folder, its read-only copy)
        self._hiding = None  # a hiding.ModeHold while the project's private folders are closed by their modes

    # --------------------------------------------------------------- lifecycle
    def start(self) -> "WarmWorker":
        """Start the worker without waiting for its imports; run() waits for it when first needed."""
        env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
        with open(self.workspace / "worker-stderr.txt", "ab") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(WORKER_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                cwd=self.workspace,
                env=env,
                start_new_session=True,
            )
        self._buffer = bytearray()
        self._ready = False
        self.process.stdin.write(
            (json.dumps({k: v for k, v in self.settings.items() if k != "identity_lock"}) + "\n").encode()
        )
        self.process.stdin.flush()
        return self

    def _ensure_ready(self):
        from autograder.identity import UnsafeLockFolder  # Linux only, as in __init__

        if self.failed_starts >= WorkerStartFailed.max_attempts:
            raise WorkerStartFailed(f"the warm worker failed to start {self.failed_starts} times")
        if self.process is None or self.process.poll() is not None:
            self.start()
        if not self._ready:
            try:
                hello = json.loads(self._read_line(self.config.worker_start_timeout, 1 << 20))
                if not hello.get("ready"):
                    raise WorkerDied(f"unexpected greeting {hello!r}")
                self.protections = hello["protections"]
                if self._hiding is None and self.protections.get("root"):  # before any student code runs
                    from autograder import hiding  # root's alone: covered by the worker, or closed by their modes

                    self._hiding = hiding.hide_from_worker(self.settings, self.protections)
            except (WorkerDied, ValueError, OSError, UnsafeLockFolder) as error:  # hiding failed: no student code
                self.failed_starts += 1
                self._kill()
                raise WorkerStartFailed(f"the warm worker did not start: {error}") from None
            self._ready = True

    def stop(self) -> None:
        """Stop the worker and whatever still runs as its user (a case under way when grading was interrupted: it
        outlives the worker, in its own session), remove every scratch folder, give the worker identity back."""
        self._kill()
        if self.protections.get("other_user"):
            from autograder.confinement import kill_all_processes_of  # Linux only, as in __init__

            kill_all_processes_of(self.settings["uid"], self.settings["gid"])
        shutil.rmtree(self.workspace, ignore_errors=True)
        self._workspace_lock.close()
        hold, self._hiding = self._hiding, None
        try:
            if hold is not None:  # the worker is gone: the private folders may reopen (hiding.py)
                hold.release()
        finally:
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

    def _read_line(self, timeout, cap):
        """The worker's next line, if it comes within `timeout` seconds and `cap` bytes."""
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        scanned = 0
        while (end := self._buffer.find(b"\n", scanned)) < 0:
            scanned = len(self._buffer)
            if scanned > cap:
                raise WorkerDied(f"a reply line longer than {cap} bytes")
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                raise WorkerDied("the warm worker did not answer in time")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                errors = (self.workspace / "worker-stderr.txt").read_text(errors="replace")[-2000:]
                raise WorkerDied(f"the warm worker exited{': ' + errors if errors.strip() else ''}")
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    # --------------------------------------------------------------- cases
    def run(self, job: Job, submission_root: str | Path | None) -> Outcome:
        """Run one job on a submission folder (or None); always returns an Outcome."""
        return self.run_batch([job], submission_root)[0]

    def run_batch(self, jobs: list[Job], submission_root: str | Path | None) -> list[Outcome]:
        """Run jobs in order on a submission folder (or None), in as few children as isolation allows; one Outcome each.

        Callers put cases whose feedback is visible and hidden cases in separate batches, so no
        hidden input can reach a visible output. Every reply must name this batch and its case;
        anything else costs that case only and is flagged for staff.
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
            outcomes = self._exchange(self._request(jobs, timeouts, submission_root, batch, scratches), timeouts)
            # the cases after a failure run one per child in a fresh worker, so that the one at fault is found
            return outcomes + [self.run_batch([job], submission_root)[0] for job in jobs[len(outcomes) :]]
        finally:
            shutil.rmtree(batch, ignore_errors=True)

    def _exchange(self, request, timeouts):
        """Send the batch and read one checked reply per case, in order, until all came or one is wrong.

        A reply that is not the next case's (a forgery, garbage, another batch's) costs that case only
        and is flagged for staff; the worker is then replaced, as when it dies or stops answering.
        """
        outcomes, batch_id, folder = [], request.batch_id, Path(request.scratch)
        try:
            self.process.stdin.write((request.to_json() + "\n").encode())
            self.process.stdin.flush()
            del request  # the inputs: nothing of them is needed while the cases run
            for index, timeout in enumerate(timeouts):
                line = self._read_line(timeout + SETUP_SECONDS + self.config.worker_grace, self._reply_cap())
                if line.startswith(b'{"refused"'):  # the worker could not read our request: our fault
                    self._kill()
                    return outcomes + [Outcome("grader_error", error=f"the worker refused the batch: {line[:500]!r}")]
                outcomes.append(self._outcome(CaseReply.from_json(line).check(batch_id, index, self.caps), folder))
        except ProtocolError as error:
            self._kill()
            outcomes.append(
                Outcome(
                    "crash",
                    error="the case's reply could not be read",
                    staff_note=f"the worker's reply was refused: {error}"[:2000],
                )
            )
        except (WorkerDied, BrokenPipeError, OSError) as error:
            self._kill()  # the next batch starts a fresh worker
            if len(timeouts) - len(outcomes) == 1:
                outcomes.append(Outcome("crash", error=f"the case stopped the grader's worker ({error})"))
        return outcomes

    def _reply_cap(self):
        """The longest reply line: every output in base64, the printed text escaped in JSON, and room for the rest."""
        return self.caps.case_bytes * 4 // 3 + 2 * 6 * (self.caps.printed_bytes + 200) + (1 << 20)

    def _copy_submission(self, submission_root, destination):
        from autograder.untrusted_fs import CopyLimits, copy_tree  # regular files and folders only, never a link

        copy_tree(
            submission_root,
            destination,
            CopyLimits(file_bytes=self.config.submission_file_cap_mb * 2**20),
            skip_names=SKIP_NAMES,
        )

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
            self._copy_submission(submission_root, copy)  # folders 0755, files 0644, owned by root
            os.chown(
                copy, 0, self.settings["gid"]
            )  # entered by this worker's group only: not by a submission graded beside it
            os.chmod(copy, 0o750)
            self._shared_copy = (submission_root, copy)
        return self._shared_copy[1]

    def _request(self, jobs, timeouts, submission_root, batch, scratches):
        """The batch as a protocol.BatchRequest (large inputs as files beside it); each case's folder made for its
        user."""
        submission = self._submission_for_case(submission_root, batch)
        inputs = batch / "inputs"
        inputs.mkdir(mode=0o700)
        spilled = []

        def spill(data):  # a large input: a file of the grader's, never one the student could have placed
            spilled.append(inputs / f"{len(spilled)}.npy")
            spilled[-1].write_bytes(data)
            return spilled[-1].name

        cases = [
            CaseRequest(
                index=index,
                recipe=job.recipe,
                module=job.module,
                function=job.function,
                args=[protocol.encode_arg(arg, spill) for arg in job.args],
                class_source=job.class_source,
                seed=job.seed,
                timeout=float(timeout),
                scratch=str(scratch),
            )
            for index, (job, timeout, scratch) in enumerate(zip(jobs, timeouts, scratches, strict=True))
        ]
        if self.protections.get("other_user"):  # each case's folder is the worker user's; the batch's stays root's
            os.chmod(batch, 0o711)  # the worker user may reach its cases' folders, not list or rename them
            for scratch in scratches:
                os.lchown(scratch, self.settings["uid"], self.settings["gid"])
                os.chmod(scratch, 0o700)
            for path in [inputs, *spilled]:  # readable by the worker's own group only, writable by root only
                os.chown(path, 0, self.settings["gid"])
                os.chmod(path, 0o750 if path == inputs else 0o640)
        limits = {**self.config.limits(sum(timeouts)), "own_user": bool(self.protections.get("other_user"))}
        return BatchRequest(
            batch_id=secrets.token_hex(8),
            cases=cases,
            submission=str(submission),
            scratch=str(batch),
            inputs=str(inputs),
            limits=limits,
            caps=dataclasses.asdict(self.caps),
        )

    def _outcome(self, reply, batch):
        """An Outcome from a checked reply: outputs decoded (float64, within the caps), printed text cleaned."""
        stdout, stderr = (self.redact(CONTROL.sub("", text)) for text in (reply.stdout, reply.stderr))
        outcome = Outcome(
            reply.status,
            kinds=reply.kinds,
            error=self.redact(reply.error),
            error_type=reply.error_type,
            stdout=stdout,
            stderr=stderr,
            left_behind=reply.left_behind,
            staff_note=reply.staff_note,
        )
        if reply.status == Status.OK.value:
            try:
                outcome.outputs = {
                    name: None if text is None else self._decode_output(text, batch)
                    for name, text in reply.outputs.items()
                }
            except (ProtocolError, OSError) as error:
                return Outcome(
                    "crash",
                    error="the case's outputs could not be read back",
                    stdout=stdout,
                    stderr=stderr,
                    staff_note=f"outputs refused: {error}",
                )
        return outcome

    def _decode_output(self, text, batch):
        """One output of a reply: inline base64, or a file the worker kept in the batch's folder (read without
        following a link, within the cap)."""
        cap = self.caps.output_bytes
        name = protocol.kept_name(text)
        if name is None:
            return protocol.decode_array(text, cap, float64_only=True)
        from autograder import readback  # Linux only (O_DIRECTORY): the portable worker keeps no file

        folder = readback.open_folder(batch / protocol.KEPT_FOLDER)
        try:
            return protocol.decode_npy(readback.read_file(folder, name, cap), cap)
        finally:
            os.close(folder)

    def redact(self, text: str) -> str:
        """Student-visible text names neither the grader's folders (engine, homework, reference) nor the sandbox's,
        whoever printed them."""
        text = text.replace(str(self.workspace), "<sandbox>")
        for folder in (
            HOMEWORK,
            REFERENCE,
            PROJECT_ROOT,
        ):  # the homework may live outside the project (AUTOGRADER_HOMEWORK)
            text = text.replace(str(folder), "<grader>")
        return text

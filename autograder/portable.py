"""The grading side of the portable path: where the Linux warm worker cannot run, plain subprocesses run the cases.

A students' `check` on Windows, macOS or any Python without fcntl, pwd, grp, resource or os.fork
runs each batch in one subprocess (portable_worker.py) started with subprocess.Popen: no fork, no
session, no signal but Popen.kill(), no select() (a reader thread per pipe feeds a queue). A case
that hangs past its clock is killed with its process, one that ends the process is a crash, and the
cases after either run in a fresh process, as sandbox.WarmWorker.run_batch does. Nothing is
confined: this path never runs student code as root outside the students' bundle (it fails closed).
"""

import importlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from autograder.config import GraderConfig
from autograder.homework import STUDENT_BUNDLE, worker_files
from autograder.protocol import Capture, CaseReply, ProtocolError, case_end_marker
from autograder.sandbox import CONTROL, Job, Outcome, WarmWorker, WorkerStartFailed, caps_of

PORTABLE_SCRIPT = Path(__file__).with_name("portable_worker.py")
LINUX_ONLY_MODULES = ("fcntl", "pwd", "grp", "resource")
SLACK_SECONDS = 2.0  # past a case's timeout before its process is killed (the worker itself fails a late return)
DRAIN_SECONDS = 1.0  # how long what a killed or ended process printed may take to arrive
POLL_SECONDS = 0.25  # how often a quiet process is checked for having ended
KEPT_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "HOME",
    "TMPDIR",  # and what Python and torch need on Windows
    "SYSTEMROOT",
    "WINDIR",
    "PATHEXT",
    "COMSPEC",
    "TEMP",
    "TMP",
    "USERPROFILE",
    "LOCALAPPDATA",
    "APPDATA",
)


def needs_portable() -> bool:
    """True where the Linux worker cannot run (not Linux, or a Linux-only module or os.fork missing), or when
    HW9_PORTABLE=1 asks for the portable path."""
    if os.environ.get("HW9_PORTABLE") == "1" or sys.platform != "linux" or not hasattr(os, "fork"):
        return True
    for name in LINUX_ONLY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            return True
    return False


def make_worker(config: GraderConfig | None = None) -> "PortableWorker | WarmWorker":
    """The worker grade() uses: the Linux warm worker where it works, the portable one elsewhere."""
    return PortableWorker(config) if needs_portable() else WarmWorker(config)


def portable_protections() -> dict:
    """What this path offers; as root outside the students' bundle it refuses to run anything (fails closed)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not STUDENT_BUNDLE:
        return {
            "portable": True,
            "root": True,
            "root_only": True,
            "refusal": "the portable path (no Linux worker) never runs student code unconfined as root",
        }
    return {"portable": True, "root": bool(hasattr(os, "geteuid") and os.geteuid() == 0)}


class Splitter:
    """One stream of the portable worker, cut at the batch's marker into what each case printed (head and tail
    kept); on stdout, the line after each marker is that case's reply."""

    def __init__(self, end: bytes, cap: int, replies: bool, line_cap: int):
        self.end, self.cap, self.replies, self.line_cap = end, cap, replies, line_cap
        self.pending, self.capture, self.line, self.printed = b"", Capture(cap), None, ""
        self.parts = []  # (what the case printed, its reply line or None), one per marker

    def feed(self, chunk: bytes) -> None:
        data, self.pending = self.pending + chunk, b""
        while data:
            if self.line is not None:  # inside a reply line
                stop = data.find(b"\n")
                self.line += data if stop < 0 else data[:stop]
                if len(self.line) > self.line_cap:
                    raise ProtocolError(f"a reply line longer than {self.line_cap} bytes")
                if stop < 0:
                    return
                self.parts.append((self.printed, bytes(self.line)))
                self.line, data = None, data[stop + 1 :]
                continue
            at = data.find(self.end)
            if at < 0:  # keep what could be the start of a marker cut by the chunk's end
                keep = min(len(data), len(self.end) - 1)
                self.capture.add(data[: len(data) - keep])
                self.pending = data[len(data) - keep :]
                return
            self.capture.add(data[:at])
            data, text, self.capture = data[at + len(self.end) :], self.capture.text(), Capture(self.cap)
            if self.replies:
                self.line, self.printed = bytearray(), text
            else:
                self.parts.append((text, None))

    def unfinished(self) -> str:
        """What the running case printed so far (at the stream's end, or when its process was killed)."""
        self.capture.add(self.pending)
        self.pending = b""
        return self.capture.text()


def pump(stream: IO[bytes], name: str, events: queue.Queue) -> None:
    """A reader thread: every chunk of one pipe into the queue, then b"" at its end."""
    fd = stream.fileno()
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            chunk = b""
        events.put((name, chunk))
        if not chunk:
            return


class BatchProcess:
    """One portable worker process running one batch, its two streams split per case."""

    def __init__(self, workspace: Path, end: bytes, printed_cap: int, line_cap: int):
        env = {key: value for key, value in os.environ.items() if key.upper() in KEPT_ENV}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(PORTABLE_SCRIPT), json.dumps(worker_files())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workspace,
            env=env,
        )
        self.events, self.ended = queue.Queue(), set()
        self.streams = {"out": Splitter(end, printed_cap, True, line_cap), "err": Splitter(end, printed_cap, False, 0)}
        for name, stream in (("out", self.process.stdout), ("err", self.process.stderr)):
            threading.Thread(target=pump, args=(stream, name, self.events), daemon=True).start()

    def send(self, line: bytes) -> None:
        self.process.stdin.write(line + b"\n")
        self.process.stdin.close()

    def wait_for(self, name: str, count: int, seconds: float) -> bool:
        """True once stream `name` holds `count` parts; False at the deadline, or when that stream or the process
        ended first."""
        deadline = time.monotonic() + seconds
        while len(self.streams[name].parts) < count:
            if name in self.ended or (left := deadline - time.monotonic()) <= 0:
                return False
            try:
                which, chunk = self.events.get(timeout=min(left, POLL_SECONDS))
            except queue.Empty:
                if self.process.poll() is not None:  # ended, though a process it started may hold its pipes open
                    self.kill()
                continue
            if chunk:
                self.streams[which].feed(chunk)
            else:
                self.ended.add(which)
        return True

    def printed(self, index: int) -> tuple[str, ...]:
        """(stdout, stderr) of case `index` (part 0 is the worker's start-up): its own part, or what came so far."""
        return tuple(
            stream.parts[index + 1][0] if len(stream.parts) > index + 1 else stream.unfinished()
            for stream in self.streams.values()
        )

    def kill(self) -> None:
        """End the process (Popen.kill: SIGKILL, or TerminateProcess on Windows) and take in what it printed."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        deadline = time.monotonic() + DRAIN_SECONDS
        while len(self.ended) < 2 and (left := deadline - time.monotonic()) > 0:  # a process it started may hold a pipe
            try:
                which, chunk = self.events.get(timeout=left)
                if not chunk:
                    self.ended.add(which)
                    continue
                self.streams[which].feed(chunk)
            except queue.Empty:
                break
            except ProtocolError:  # a reply line over its cap: nothing more of that stream is needed
                self.ended.add(which)
        self.ended.update(("out", "err"))  # what comes later (from a process it left) is not waited for again

    def exit_reason(self) -> str:
        self.kill()
        code = self.process.returncode
        return f"killed by signal {-code}" if code < 0 else f"exited with status {code}"


class PortableWorker(WarmWorker):
    """WarmWorker's interface (start, stop, run, run_batch, protections, a context manager) over one plain
    subprocess per batch; requests and reply checks are WarmWorker's own."""

    def __init__(self, config: GraderConfig | None = None):
        self.config = config or GraderConfig()
        self.caps = caps_of(self.config)
        self.workspace = Path(tempfile.mkdtemp(prefix="hw9-check-"))
        self.process, self.cases_run, self.failed_starts = None, 0, 0
        self.settings, self._shared_copy = {}, None
        self.protections = portable_protections()

    def start(self) -> "PortableWorker":
        return self  # each batch starts its own process

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.workspace, ignore_errors=True)

    def _kill(self):
        if self.process is not None:
            self.process.kill()
            self.process = None

    def run_batch(self, jobs: list[Job], submission_root: str | Path | None) -> list[Outcome]:
        """Run jobs in order in a fresh process; after a timeout, a crash or a thread left running, the rest
        run in another fresh process. One Outcome each."""
        if not jobs:
            return []
        if self.protections.get("root_only"):
            return [Outcome("grader_error", error=self.protections["refusal"]) for _ in jobs]
        if self.failed_starts >= WorkerStartFailed.max_attempts:
            return [
                Outcome("grader_error", error=f"the portable worker failed to start {self.failed_starts} times")
                for _ in jobs
            ]
        timeouts = [job.timeout or self.config.case_timeout for job in jobs]
        batch = self.workspace / f"batch-{self.cases_run}"
        self.cases_run += 1
        scratches = [batch / f"case-{index}" for index in range(len(jobs))]
        batch.mkdir(mode=0o700)
        for scratch in scratches:
            scratch.mkdir()
        try:
            outcomes = self._exchange(self._request(jobs, timeouts, submission_root, batch, scratches), timeouts)
        finally:
            self._kill()
            shutil.rmtree(batch, ignore_errors=True)
        return outcomes + self.run_batch(jobs[len(outcomes) :], submission_root)

    def _exchange(self, request, timeouts):
        """Send the batch; one Outcome per case until all came back or one ended the process (then those so far)."""
        self.process = worker = BatchProcess(
            self.workspace, case_end_marker(request.batch_id), self.caps.printed_bytes, self._reply_cap()
        )
        batch_id, folder = request.batch_id, Path(request.scratch)
        try:
            worker.send(request.to_json().encode())
            del request
            started = worker.wait_for("out", 1, self.config.worker_start_timeout)
        except (OSError, ProtocolError):  # the process ended before reading the request, or wrote junk before it
            started = False
        if (
            not started or worker.streams["out"].parts[0][1] != b'{"ready": true}'
        ):  # before student code: the grader's fault
            self.failed_starts += 1
            reason = worker.exit_reason()
            said = " ".join(text.strip()[-1000:] for text in worker.printed(-1))
            return [
                Outcome("grader_error", error=f"the portable worker did not start ({reason}): {said}") for _ in timeouts
            ]
        return self._replies(worker, batch_id, folder, timeouts)

    def _replies(self, worker, batch_id, folder, timeouts):
        """One checked Outcome per case, in order, until all came or one ended the process (or its reply was bad)."""
        outcomes = []
        for index, timeout in enumerate(timeouts):
            try:
                if not worker.wait_for("out", index + 2, timeout + SLACK_SECONDS):
                    if "out" in worker.ended:
                        outcome = Outcome("crash", error=f"the code {worker.exit_reason()} before returning")
                    else:
                        worker.kill()
                        outcome = Outcome("timeout", error=f"timed out after {timeout:g} s")
                    return outcomes + [self._cleaned(outcome, worker, index)]
                worker.wait_for(
                    "err", index + 2, DRAIN_SECONDS
                )  # written before the reply: a thread's lag behind at most
                reply = CaseReply.from_json(worker.streams["out"].parts[index + 1][1]).check(batch_id, index, self.caps)
            except ProtocolError as error:
                worker.kill()
                outcome = Outcome(
                    "crash",
                    error="the case's reply could not be read",
                    staff_note=f"the worker's reply was refused: {error}"[:2000],
                )
                return outcomes + [self._cleaned(outcome, worker, index)]
            reply.stdout, reply.stderr = worker.printed(index)
            outcomes.append(self._outcome(reply, folder))
            if reply.left_behind:
                break
        return outcomes

    def _cleaned(self, outcome, worker, index):
        """An outcome of the grading side's own, with what the case printed (cleaned as replies are)."""
        outcome.stdout, outcome.stderr = (self.redact(CONTROL.sub("", text)) for text in worker.printed(index))
        return outcome

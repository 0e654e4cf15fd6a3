"""The supervisor: forks a batch's child, confines it, runs its cases one at a time, and says how each one ended.

Standard library and numpy only; worker.py loads it by path. The child, before any student
code, holds no descriptor but 0 (/dev/null), 1 and 2 (pipes the worker drains) and its case
folder as cwd. After each case it saves the outputs and a ChildReport in the case's folder and
stops itself (SIGSTOP). The worker, woken by SIGCHLD, checks that nothing else of the case runs,
reads the report and outputs with the safe reader while nothing can write them, then resumes the
child for the next case. Printing is captured per case, between two stops, first and last parts kept.
"""

import importlib.util
import io
import os
import resource
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def load_sibling(name: str) -> ModuleType:
    """A module of the grader's folder, loaded by path once: that folder never goes on a worker's sys.path."""
    key = f"_grader_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


protocol = load_sibling("protocol")
readback = load_sibling("readback")
confinement = load_sibling("confinement")
Status, ChildReport, CaseReply, ProtocolError = (
    protocol.Status,
    protocol.ChildReport,
    protocol.CaseReply,
    protocol.ProtocolError,
)
UnsupportedReturn, Capture = protocol.UnsupportedReturn, protocol.Capture  # shared with the portable worker

REPORT_NAME = "report.json"
REPORT_CAP = 1 << 20  # bytes of a child's report read back
SETUP_SECONDS = 10.0  # a child's confinement and first preparation, before any student code (sandbox.py waits as long)
CONFINEMENT = "confinement"  # a set-up error there holds for every case of the batch (it fails closed)


# ----------------------------------------------------------------------------- in the child


def apply_limits(limits: dict) -> None:
    """Resource limits of one child: address space, CPU seconds, file size, process count."""
    vm_now = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    caps = [
        (resource.RLIMIT_AS, vm_now + limits["memory_mb"] * 2**20),
        (resource.RLIMIT_CPU, int(limits["cpu_seconds"])),
        (resource.RLIMIT_FSIZE, limits["file_mb"] * 2**20),
    ]
    if os.geteuid() != 0:  # root ignores RLIMIT_NPROC; elsewhere it counts every process of the user
        others = 0 if limits.get("own_user") else len(confinement.processes(os.getuid())[0])
        caps.append((resource.RLIMIT_NPROC, others + limits["processes"]))
    for which, value in caps:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value if which != resource.RLIMIT_CPU else value + 1))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap raises instead of killing


def only_stdio(stdout_fd: int, stderr_fd: int) -> None:
    """Make 0 /dev/null, 1 and 2 the given pipes, and close every other descriptor of this process."""
    null = os.open(os.devnull, os.O_RDONLY)
    for target, source in ((0, null), (1, stdout_fd), (2, stderr_fd)):
        os.dup2(source, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536)
    sys.stdin = open(0, closefd=False)  # the worker's buffered stdin may hold read-ahead of its channel
    sys.stdout = open(1, "w", closefd=False, errors="backslashreplace")  # fresh buffers on the pipes
    sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), errors="backslashreplace", line_buffering=True)


def _write_new(folder, name, data):
    """Write a fresh file in the case's folder: whatever the case left under that name is removed, never followed."""
    path = os.path.join(folder, name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def save_outputs(case: "protocol.CaseRequest", values: dict, caps: "protocol.Caps") -> dict:
    """Save a case's outputs (name -> float64 array or None) as .npy files in its folder; the report's outputs field."""
    protocol.check_output_sizes(values, caps)
    saved = {}
    for number, (name, array) in enumerate(values.items()):
        saved[name] = None if array is None else f"out-{number}.npy"
        if array is not None:
            _write_new(case.scratch, saved[name], protocol.encode_npy(array))
    return saved


def child_main(
    batch: "protocol.BatchRequest",
    start: int,
    stdout_fd: int,
    stderr_fd: int,
    protections: dict,
    settings: dict,
    readable_paths: list[str],
    runner: Any,
) -> None:
    """All a batch's child does: confine itself, prepare case `start`, stop (ready), run its cases; never returns."""
    caps, step = protocol.Caps(**batch.caps), CONFINEMENT
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        confinement.die_with_parent()  # a worker that ends leaves no child behind, even one stopped mid-protocol
        only_stdio(stdout_fd, stderr_fd)
        confinement.confine_child(protections, settings, readable_paths, batch.scratch, batch.submission)
        confinement.die_with_parent()  # again: a change of user clears it
        os.environ.update(USER=settings.get("user", "worker"))
        apply_limits(batch.limits)
        sys.path.insert(0, batch.submission)
        step = "preparing the case"
        args = prepare(batch, batch.cases[start], runner)
    except BaseException as error:  # the grader's own set-up failed: no student code ran in this child
        error = "".join(traceback.format_exception(error))[-3000:]
        _report(batch, start, Status.SETUP_ERROR, stop=False, error=error, error_type=step)
        os._exit(3)
    os.kill(os.getpid(), signal.SIGSTOP)  # ready: student code runs only after this
    for case in batch.cases[start:]:
        if case.index > start:
            try:
                args = prepare(batch, case, runner)
            except BaseException as error:  # student code ran here before: the worker retries in a fresh child
                _report(batch, case.index, Status.SETUP_ERROR, error="".join(traceback.format_exception(error))[-3000:])
                continue
        kinds = {}
        try:
            status, values, kinds, error, error_type = runner.run(case, args, batch.submission)
            outputs = save_outputs(case, values, caps) if status == Status.OK else {}
        except UnsupportedReturn as unsupported:
            status, outputs, error, error_type = Status.UNSUPPORTED, {}, f"unsupported return type: {unsupported}", ""
        except BaseException as failure:  # saving failed for a reason of the student's (a full disk, a broken numpy)
            status, outputs, error, error_type = Status.EXCEPTION, {}, repr(failure)[-2000:], type(failure).__name__
        _report(
            batch,
            case.index,
            status,
            outputs=outputs,
            kinds=kinds if status == Status.OK else {},
            error=error,
            error_type=error_type,
        )
    os._exit(0)


def prepare(batch: "protocol.BatchRequest", case: "protocol.CaseRequest", runner: Any) -> Any:
    """Into the case's folder, HOME and TMPDIR there; its arguments decoded and its generators seeded."""
    os.chdir(case.scratch)
    os.environ.update(HOME=case.scratch, TMPDIR=case.scratch)

    def read_input(name, cap):  # the grader's own file, read without following a link all the same
        folder = readback.open_folder(batch.inputs)
        try:
            return readback.read_file(folder, name, cap)
        finally:
            os.close(folder)

    return runner.prepare(case, read_input)


def _report(batch, index, status, stop=True, **details):
    """Write case `index`'s report to its folder, flush what was printed, and stop until the worker resumes us."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        report = ChildReport(batch_id=batch.batch_id, index=index, status=Status(status).value, **details)
        _write_new(batch.cases[index].scratch, REPORT_NAME, report.to_json().encode())
    finally:
        if stop:
            os.kill(os.getpid(), signal.SIGSTOP)


# ----------------------------------------------------------------------------- in the worker


class Streams:
    """The child's stdout and stderr pipes, drained into the running case's Captures."""

    def __init__(self, fds: list[int], cap: int):
        self.order, self.fds, self.cap = list(fds), list(fds), cap  # fds: those not at their end yet
        for fd in self.fds:
            os.set_blocking(fd, False)
        self.new_case()

    def new_case(self) -> None:
        self.captures = {fd: Capture(self.cap) for fd in self.order}

    def drain(self, fd: int) -> None:
        """Read what `fd` holds now; close it at its end."""
        while fd in self.fds:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                os.close(fd)
                self.fds.remove(fd)
                return
            self.captures[fd].add(chunk)

    def drain_all(self) -> None:
        for fd in list(self.fds):
            self.drain(fd)

    def printed(self) -> list[str]:
        """What the running case printed: stdout, stderr."""
        return [self.captures[fd].text() for fd in self.order]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


class Wakeup:
    """SIGCHLD written to a pipe (signal.set_wakeup_fd), so the worker sleeps in select until a child stops or ends."""

    def __enter__(self):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self.old_handler = signal.signal(signal.SIGCHLD, lambda *_: None)
        self.old_fd = signal.set_wakeup_fd(self.write_fd)
        return self

    def clear(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def __exit__(self, *exc):
        signal.set_wakeup_fd(self.old_fd)
        signal.signal(signal.SIGCHLD, self.old_handler)
        os.close(self.read_fd)
        os.close(self.write_fd)


def wait_for(pid: int, deadline: float, streams: Streams, wakeup: Wakeup) -> tuple[str, int | None]:
    """("stopped" | "exited" | "timeout", wait status): the next thing the child does, draining its output meanwhile."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
        if done:
            return ("stopped" if os.WIFSTOPPED(status) else "exited"), status
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout", None
        ready, _, _ = select.select([wakeup.read_fd, *streams.fds], [], [], left)
        for fd in ready:
            wakeup.clear() if fd == wakeup.read_fd else streams.drain(fd)


def leftovers(child: int, uid: int | None) -> str:
    """What of the case runs beside its stopped child: threads, children, orphans, its user's processes ("": none)."""
    try:
        mine = [str(pid) for pid in confinement.own_children()]
        its = confinement.read_proc_file(f"/proc/{child}/task/{child}/children").decode().split()
        threads = len(os.listdir(f"/proc/{child}/task"))
    except (OSError, ValueError) as error:
        return f"cannot tell ({error})"  # start afresh, which is always safe
    of_user = set(confinement.processes(uid)[0] if uid is not None else []) - {child}
    found = [
        f"{threads - 1} more threads" if threads > 1 else "",
        f"its children {its}" if its else "",
        f"other children of the worker {sorted(set(mine) - {str(child)})}" if mine != [str(child)] else "",
        f"other processes of its user {sorted(of_user)}" if of_user else "",
    ]
    return ", ".join(text for text in found if text)


def read_report(
    case: "protocol.CaseRequest", batch_id: str, caps: "protocol.Caps", keep: Callable[[int, bytes], str] | None = None
) -> tuple["protocol.ChildReport", dict]:
    """The child's report on `case` and its outputs (base64 of checked .npy bytes), read with the safe reader.

    Raises ProtocolError or readback.ReadBackError for anything but a valid report of this case.
    """
    try:
        return _read_report(case, batch_id, caps, keep)
    except (ProtocolError, OSError):
        raise
    except Exception as error:  # whatever a case left, it costs that case only, never the worker
        raise ProtocolError(f"unreadable report: {type(error).__name__}: {error}"[:500]) from None


def keep_output(batch: "protocol.BatchRequest", index: int, number: int, data: bytes) -> str:
    """A large output's bytes, already read and checked, written to the batch's kept folder (the worker's alone, so
    nothing of the case can change them afterwards); its reply value names the file instead of carrying base64."""
    batch_fd = readback.open_folder(batch.scratch)
    try:
        try:
            os.mkdir(protocol.KEPT_FOLDER, 0o700, dir_fd=batch_fd)
        except FileExistsError:
            pass
        folder = readback.open_folder(protocol.KEPT_FOLDER, dir_fd=batch_fd)  # never through a link
    finally:
        os.close(batch_fd)
    name = f"{index}-{number}.npy"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder)
    finally:
        os.close(folder)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return protocol.KEPT + name


def _read_report(case, batch_id, caps, keep=None):
    folder = readback.open_folder(case.scratch)
    try:
        data = readback.read_file(folder, REPORT_NAME, REPORT_CAP)
        report = ChildReport.from_json(data).check(batch_id, case.index, caps)
        outputs, total = {}, 0
        for name, file in report.outputs.items():
            if file is None:
                outputs[name] = None
                continue
            data = readback.read_file(folder, file, caps.output_bytes)
            total += len(data)
            if total > caps.case_bytes:
                raise ProtocolError(f"outputs of more than {caps.case_bytes} bytes")
            protocol.decode_npy(data, caps.output_bytes)  # a float64 array whose header matches its size
            large = keep is not None and len(data) > protocol.INLINE_BYTES
            outputs[name] = keep(len(outputs), data) if large else protocol.b64(data)
    finally:
        os.close(folder)
    return report, outputs


def exit_reason(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exited with status {code}"


NO_REPORT = "the case stopped without a valid report"
NOT_RETURNED = {Status.TIMEOUT.value, Status.GRADER_ERROR.value}


class ChildRun:
    """One child running batch.cases[start:], watched from the worker: its replies, and where to retry from."""

    def __init__(
        self,
        batch: "protocol.BatchRequest",
        start: int,
        protections: dict,
        settings: dict,
        wakeup: Wakeup,
        send: Callable[["protocol.CaseReply"], None],
    ):
        self.batch, self.start, self.index, self.wakeup, self.send = batch, start, start, wakeup, send
        self.protections, self.settings = protections, settings
        self.caps = protocol.Caps(**batch.caps)
        self.uid = settings.get("uid") if protections.get("other_user") else None
        # As the case's subreaper the worker sees every process the case started, orphans and daemons included, as
        # a descendant of the child or a child of its own; the scan of all /proc for the worker user's processes
        # (about 3 ms) is then left to the sweep after the child, and made per case only without a subreaper.
        self.scan_uid = None if protections.get("subreaper") else self.uid
        self.answered, self.held, self.retry, self.pid, self.streams = 0, None, None, None, None

    def fork(self, readable_paths: list[str], runner: Any) -> None:
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                child_main(
                    self.batch, self.start, stdout_w, stderr_w, self.protections, self.settings, readable_paths, runner
                )
            finally:
                os._exit(4)
        os.close(stdout_w)
        os.close(stderr_w)
        self.streams = Streams([stdout_r, stderr_r], self.caps.printed_bytes)

    def reply(self, status: str, **details: Any) -> None:
        """Answer the running case; what it printed since the last stop goes with it."""
        self.streams.drain_all()
        stdout, stderr = self.streams.printed()
        reply = CaseReply(
            batch_id=self.batch.batch_id,
            index=self.index,
            status=Status(status).value,
            stdout=stdout,
            stderr=stderr,
            **details,
        )
        self.streams.new_case()
        self.answered += 1
        if self.index == len(self.batch.cases) - 1:
            self.held = reply  # the batch's last case: sent once its child is gone and swept
        else:
            self.send(reply)  # at once, so that the grading process's clock runs case by case

    def watch(self) -> tuple[int, int | None]:
        """Follow the child until its cases are done or one ends it; then end it and everything it left.

        Returns (how many cases were answered, the case to retry in a fresh child or None).
        """
        try:
            if self.until_ready():
                while self.next_case():
                    pass
        finally:
            swept = end_child(self.pid, self.protections, self.settings)
            self.streams.close()
        if self.held is not None:
            if swept and self.held.status not in NOT_RETURNED:
                self.held.left_behind = True  # something of the last case was still running when its child ended
            self.send(self.held)
        return self.answered, self.retry

    def until_ready(self) -> bool:
        """Before any student code, whatever goes wrong is the grader's; True once the child stopped, ready."""
        event, status = wait_for(self.pid, time.monotonic() + SETUP_SECONDS, self.streams, self.wakeup)
        if event == "stopped":
            os.kill(self.pid, signal.SIGCONT)
            return True
        if event == "timeout":
            error, every_case = "the child's set-up did not finish", True
        else:
            error, every_case = self.setup_error(status)
        for _ in self.batch.cases[self.index : len(self.batch.cases) if every_case else self.index + 1]:
            self.reply(Status.GRADER_ERROR, error=error, staff_note=f"the child's set-up failed: {error}")
            self.index += 1
        return False

    def setup_error(self, status: int | None) -> tuple[str, bool]:
        """What a child that ended before it was ready said (trusted: no student code ran in it), and whether
        it holds for every case (confinement failed) or for this case only (preparing it failed)."""
        try:
            report = read_report(self.batch.cases[self.index], self.batch.batch_id, self.caps)[0]
            return report.error, report.error_type == CONFINEMENT
        except (ProtocolError, OSError) as error:
            return f"the child {exit_reason(status)} before it was ready, without a report ({error})", True

    def next_case(self) -> bool:
        """Wait for the running case to end; answer it; True if the child goes on to the next case."""
        case = self.batch.cases[self.index]
        event, status = wait_for(self.pid, time.monotonic() + case.timeout, self.streams, self.wakeup)
        if event == "timeout":
            self.reply(Status.TIMEOUT, error=f"timed out after {case.timeout:g} s")
            return False
        if event == "exited":
            self.reply(Status.CRASH, error=f"the code {exit_reason(status)} before returning")
            self.pid = None
            return False
        found = leftovers(self.pid, self.scan_uid)
        if found:  # nothing else of the case may run while its report is read
            end_child(self.pid, self.protections, self.settings)
            self.pid = None
        try:
            keep = lambda number, data: keep_output(self.batch, case.index, number, data)  # noqa: E731
            report, outputs = read_report(case, self.batch.batch_id, self.caps, keep)
        except (ProtocolError, OSError) as error:
            self.reply(Status.CRASH, error=NO_REPORT, staff_note=f"the child's report was refused: {error}")
            return False
        if report.status == Status.SETUP_ERROR.value:
            if self.index == self.start:  # prepared before the child was ready: the claim comes from student code
                self.reply(Status.CRASH, error=NO_REPORT, staff_note="a set-up error claimed after student code ran")
            else:
                self.retry = self.index  # student code ran in this child before: prepare it again in a fresh one
            return False
        self.reply(
            report.status,
            outputs=outputs,
            kinds=report.kinds,
            error=report.error,
            error_type=report.error_type,
            left_behind=bool(found),
            staff_note=f"left running: {found}" if found else "",
        )
        self.index += 1
        if found or self.index == len(self.batch.cases):
            return False
        os.kill(self.pid, signal.SIGCONT)
        return True


def end_child(pid: int | None, protections: dict, settings: dict) -> int | None:
    """Kill the child's group and every process the case left; returns how many processes were left beside the child."""
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    uid = settings.get("uid") if protections.get("other_user") else None
    return confinement.clean_up(uid, settings.get("gid"))


def supervise_batch(
    batch: "protocol.BatchRequest",
    protections: dict,
    settings: dict,
    readable_paths: list[str],
    runner: Any,
    send: Callable[["protocol.CaseReply"], None] | None = None,
) -> list["protocol.CaseReply"]:
    """Every case of a batch, in as few children as possible: one CaseReply per case, in order, each
    passed to `send` as soon as it is known (and all returned at the end).

    A case that crashes, hangs, leaves something running or sends a bad report ends its child,
    and the cases after it get a fresh one. runner.prepare(case, read_input) -> args and
    runner.run(case, args, submission) -> (status, {name: float64 array | None}, kinds, error, error_type)
    run in the child.
    """
    replies = []

    def collect(reply):
        replies.append(reply)
        if send is not None:
            send(reply)

    with Wakeup() as wakeup:
        while len(replies) < len(batch.cases):
            run = ChildRun(batch, len(replies), protections, settings, wakeup, collect)
            run.fork(readable_paths, runner)
            answered, retry = run.watch()
            assert answered or retry is not None, "a child that answered nothing"
    return replies

"""The portable worker: runs one batch of cases, one after the other, in this very process, unconfined.

The students' `check` starts it where the Linux worker cannot run (Windows, macOS, a Python
without fcntl, pwd, grp, resource or os.fork): see portable.py, its other side. It reads one
protocol.BatchRequest line on stdin and leaves what each case prints on its own stdout and stderr,
where the grading process captures it. After each case it writes the batch's marker to stderr, then
the marker and the case's protocol.CaseReply line (outputs inline) to stdout, so the grading process
can tell one case's printing from the next. Standard library, numpy and torch only; it imports no
Linux-only module and never forks: a case that hangs or kills this process costs this process only.
"""

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in worker.py: no thread pools
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def _load_case_runner():
    """case_runner.py, loaded by path: the grader's folder never goes on a worker's sys.path."""
    spec = importlib.util.spec_from_file_location("_grader_case_runner", Path(__file__).with_name("case_runner.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


case_runner = protocol = Status = (
    None  # loaded by serve() once the request is read: the grading process never waits on a pipe
)


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def apply_memory_limit(memory_mb: int) -> None:
    """The Linux worker's address-space headroom, where `resource` and /proc exist (macOS ignores RLIMIT_AS)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            now = int(statm.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError, ValueError):
        return
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    limit = now + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def input_reader(folder: str) -> Callable[[str, int], bytes]:
    """read_input(name, cap) for Runner.prepare: one of the grader's input files in the batch's inputs folder."""

    def read_input(name, cap):
        if not name or os.path.basename(name) != name or name in (".", ".."):
            raise protocol.ProtocolError(f"not a plain file name: {name!r:.60}")
        with open(os.path.join(folder, name), "rb") as handle:
            data = handle.read(cap + 1)
        if len(data) > cap:
            raise protocol.ProtocolError(f"{name!r:.60} holds more than {cap} bytes")
        return data

    return read_input


def run_case(
    batch: "protocol.BatchRequest", case: "protocol.CaseRequest", runner: "case_runner.Runner", caps: "protocol.Caps"
) -> "protocol.CaseReply":
    """One case, start to reply: prepared, run, its outputs checked and encoded inline; a timeout when it
    returned later than its clock allowed (the grading process kills it when it does not return at all)."""
    started = time.monotonic()
    os.chdir(case.scratch)
    os.environ.update(HOME=case.scratch, TMPDIR=case.scratch, TEMP=case.scratch, TMP=case.scratch)
    try:
        args = runner.prepare(case, input_reader(batch.inputs))
    except BaseException as error:  # the grader's own inputs could not be read
        return protocol.CaseReply(
            batch_id=batch.batch_id,
            index=case.index,
            status=Status.GRADER_ERROR.value,
            error="the grader could not prepare this case",
            staff_note="".join(traceback.format_exception(error))[-2000:],
        )
    kinds, outputs = {}, {}
    try:
        status, values, kinds, error, error_type = runner.run(case, args, batch.submission)
        if status == Status.OK:
            protocol.check_output_sizes(values, caps)
            outputs = {name: None if array is None else protocol.encode_array(array) for name, array in values.items()}
    except protocol.UnsupportedReturn as unsupported:
        status, error, error_type = Status.UNSUPPORTED, f"unsupported return type: {unsupported}", ""
    except BaseException as failure:  # encoding failed for a reason of the student's (a broken numpy)
        status, error, error_type = Status.EXCEPTION, repr(failure)[-2000:], type(failure).__name__
    if time.monotonic() - started > case.timeout:
        status, outputs, error, error_type = Status.TIMEOUT, {}, f"timed out after {case.timeout:g} s", ""
    ok = status == Status.OK
    return protocol.CaseReply(
        batch_id=batch.batch_id,
        index=case.index,
        status=Status(status).value,
        outputs=outputs if ok else {},
        kinds=kinds if ok else {},
        error=error,
        error_type=error_type,
    )


def flush_streams() -> None:
    for stream in {
        id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None
    }.values():
        try:
            stream.flush()
        except BaseException:
            pass


def serve() -> NoReturn:
    """Read the batch, say ready, run its cases; stop after the last, or after one that left a thread running."""
    global case_runner, protocol, Status
    replies, notes = os.dup(1), os.dup(2)  # the student may close or replace 1 and 2; these stay ours
    line = sys.stdin.buffer.readline()
    case_runner = _load_case_runner()
    case_runner.load_homework(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})  # the homework's recipes, by path
    protocol, Status = case_runner.protocol, case_runner.protocol.Status
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # nothing more comes on stdin: a case that reads it gets end of file
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace")  # as on Linux, whatever the console's code page
    try:
        batch = protocol.BatchRequest.from_json(line)
    except protocol.ProtocolError as error:
        write_all(replies, json.dumps({"refused": str(error)[:500]}).encode() + b"\n")
        os._exit(2)
    end = protocol.case_end_marker(batch.batch_id)
    caps, runner = protocol.Caps(**batch.caps), case_runner.Runner()
    sys.path.insert(0, batch.submission)
    apply_memory_limit(batch.limits["memory_mb"])
    write_all(notes, end)
    write_all(replies, end + b'{"ready": true}\n')
    for case in batch.cases:
        reply = run_case(batch, case, runner, caps)
        flush_streams()
        if threading.active_count() > 1:  # a thread of the case still runs: nothing more runs in this process
            reply.left_behind, reply.staff_note = True, f"left running: {threading.active_count() - 1} more threads"
        write_all(notes, end)
        write_all(replies, end + reply.to_json().encode() + b"\n")
        if reply.left_behind:
            break
    os._exit(0)  # a thread the student left must not keep this process alive


if __name__ == "__main__":
    serve()

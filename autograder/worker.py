"""The warm worker: imports numpy and torch once, then forks a child per batch of test cases.

This script is the only code that runs student code, and it runs it only in the forked
children. It never imports the grader, the reference or the test cases: the parent sends a
batch of jobs (the public or the hidden cases of one submission) as one JSON line on stdin,
inputs as .npy files in each case's folder, and the answers come back as one JSON line, with
outputs as .npy files.

A batch's child, before touching student code: starts its own session (so the whole group can
be killed), confines itself (chroot, namespaces, another user: confinement.py), points stdin at
/dev/null and applies resource limits. Then, for each case: stdout/stderr to files in the
case's folder, into that folder, every generator seeded, the student's call, whatever it returns
reduced to float64 arrays (or None) and saved with allow_pickle=False, one report line through a
pipe only this side of the fork reads. A case that crashes, hangs or leaves a process or thread
behind ends the child; the cases after it run in a fresh one, so it costs that case only.
"""
import gc
import importlib
import importlib.util
import json
import math
import os
import random
import resource
import select
import signal
import sys
import textwrap
import time
import traceback
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # Gradescope gives half a CPU: no thread pools
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import numpy.linalg  # noqa: E402,F401  numpy imports its submodules lazily: once here, not once per case
import numpy.random  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional  # noqa: E402,F401

torch.set_num_threads(1)
np.random.seed(0)  # the first seeding initialises state that every child would otherwise rebuild
torch.manual_seed(0)

META_CAP = 1 << 20  # bytes of the child's report kept


def _load_sibling(name):
    """A module of the grader's folder, loaded by path: that folder never goes on a worker's sys.path."""
    spec = importlib.util.spec_from_file_location(f"_grader_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GRADER_CALLABLES = _load_sibling("grader_callables").GRADER_CALLABLES
confinement = _load_sibling("confinement")
# What student code must be able to read: the standard library and the installed packages.
READABLE_PATHS = sorted({os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(np.__file__)), os.path.dirname(os.path.dirname(torch.__file__))})


class UnsupportedReturn(Exception):
    """The student returned something that is not real numbers (object, complex, string...)."""


# ----------------------------------------------------------------------------- in the child


def reduce_output(value):
    """A returned value as a base float64 ndarray, or None; raises UnsupportedReturn otherwise."""
    if value is None:
        return None, "None"
    kind = type(value).__name__
    if isinstance(value, torch.Tensor):
        kind = f"torch.Tensor ({str(value.dtype).replace('torch.', '')})"
        if value.is_complex():
            raise UnsupportedReturn(f"a complex {kind}")
        value = value.detach().cpu().to(torch.float64).numpy()
    elif isinstance(value, np.ndarray):
        kind = f"numpy.ndarray ({value.dtype})"
        if type(value) is not np.ndarray:
            value = value.view(np.ndarray)
    elif isinstance(value, (bool, int, float, np.number, list, tuple)):
        kind = type(value).__name__
    else:
        raise UnsupportedReturn(f"a {kind}")
    array = np.array(value, dtype=object) if isinstance(value, (list, tuple)) else np.asarray(value)
    if array.dtype == object:  # nested lists: every leaf must be a real number
        leaves = array.ravel().tolist()
        if not all(isinstance(x, (bool, int, float, np.integer, np.floating)) for x in leaves):
            raise UnsupportedReturn(f"a {kind} holding non-numbers or ragged rows")
    elif array.dtype.kind not in "biuf":
        raise UnsupportedReturn(f"a {kind}" if kind.startswith("numpy") else f"a {kind} of dtype {array.dtype}")
    return np.array(array.astype(np.float64), dtype=np.float64, copy=True), kind


def load_input(spec, scratch):
    """One argument from its JSON description: an .npy file, a plain value or a grader callable."""
    if "npy" in spec:
        return np.load(scratch / spec["npy"], allow_pickle=False)
    if "callable" in spec:
        return GRADER_CALLABLES[spec["callable"]]
    return spec["value"]


def transformer_class(job):
    """PytorchTransformer: from the submitted transformer.py, or rebuilt from the log's source text."""
    source = job.get("transformer_source")
    if source is None:
        return importlib.import_module("transformer").PytorchTransformer
    body = textwrap.indent(textwrap.dedent(source["init"]), "    ") + "\n" + textwrap.indent(textwrap.dedent(source["forward"]), "    ")
    namespace = {"torch": torch, "nn": torch.nn, "math": math, "np": np, "__name__": "submission_log"}
    exec(compile("class PytorchTransformer(nn.Module):\n" + body, "submission_log.json", "exec"), namespace)  # student code, in this child only
    return namespace["PytorchTransformer"]


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)  # torch.manual_seed also probes every accelerator (1.3 ms a case); a CPU worker has none


MAX_DICT_ITEMS = 16  # a weights dict has four matrices


def recipe_call(job, args):
    """Call module.function(*args); a returned dict (hand-designed weights) gives one output per key."""
    module = importlib.import_module(job["module"])
    result = getattr(module, job["function"])(*args)
    if not isinstance(result, dict):
        return {"value": result}
    if len(result) > MAX_DICT_ITEMS:
        raise UnsupportedReturn(f"a dict of {len(result)} items")
    return {f"dict:{key}": item for key, item in result.items()}


def recipe_torch_forward(job, args):
    """Build PytorchTransformer(*dims), copy in Km, Qm, Vm (and pos), run forward on seq."""
    dims, Km, Qm, Vm, pos, seq = args
    model = transformer_class(job)(*dims)
    with torch.no_grad():
        for name, matrix in (("Km", Km.T), ("Qm", Qm.T), ("Vm", Vm.T), ("pos", pos)):
            if matrix is None:
                continue
            weight = getattr(model, name).weight
            if tuple(weight.shape) != matrix.shape:
                raise ValueError(f"{name}.weight has shape {tuple(weight.shape)}, expected {matrix.shape}")
            weight.copy_(torch.as_tensor(matrix))
    return {"value": model(torch.as_tensor(seq, dtype=torch.float32))}


def recipe_torch_attributes(job, args):
    """Facts about fresh models PytorchTransformer(*dims), one per dims in args[0].

    Key "i:layer" holds [is the spec's type, has a bias, *weight shape]; [-1] when the
    attribute is None and [0] when it is missing or of another type.
    """
    facts = {}
    for index, dims in enumerate(args[0]):
        model = transformer_class(job)(*dims)
        for name, layer_type in (("Km", torch.nn.Linear), ("Qm", torch.nn.Linear), ("Vm", torch.nn.Linear), ("pos", torch.nn.Embedding)):
            layer = getattr(model, name, "missing")
            if layer is None:
                facts[f"{index}:{name}"] = np.array([-1.0])
            elif not isinstance(layer, layer_type):
                facts[f"{index}:{name}"] = np.array([0.0])
            else:
                has_bias = float(getattr(layer, "bias", None) is not None)
                facts[f"{index}:{name}"] = np.array([1.0, has_bias, *layer.weight.shape], dtype=np.float64)
    return facts


def recipe_torch_seeded(job, args):
    """The notebook's logged run: PytorchTransformer(7, 4, 3, 2, 9) on torch.randn(8, 7) after seeding 1998."""
    seed_all(1998)
    out = transformer_class(job)(7, 4, 3, 2, 9)(torch.randn(8, 7))
    return {"shape": np.array(list(out.shape), dtype=np.float64), "value": out.reshape(-1)[2:7]}


# Every recipe returns a dict of named outputs: name -> anything reduce_output accepts.
RECIPES = {
    "call": recipe_call,
    "torch_forward": recipe_torch_forward,
    "torch_attributes": recipe_torch_attributes,
    "torch_seeded": recipe_torch_seeded,
}


def student_traceback(error, submission):
    """The exception with only the frames in the student's own files, paths relative to the submission."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(submission) or f.filename == "submission_log.json"]
    for frame in frames:
        frame.filename = os.path.relpath(frame.filename, submission) if frame.filename.startswith(submission) else frame.filename
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "".join(lines).replace(submission + os.sep, "")[-4000:]  # a SyntaxError names the file by its full path


def apply_limits(limits):
    """Resource limits of one case: address space, CPU seconds, file size, process count."""
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


def run_batch_child(batch, report_fd, protections, settings):
    """Everything a batch's child does: confine itself once, then run its jobs in order, one report line each; never returns."""
    try:
        os.setsid()
        confinement.confine_child(protections, settings, READABLE_PATHS, batch["scratch"], batch["submission"])
        os.environ.update(USER="hw9worker")
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.stdin = open(os.devnull)
        apply_limits(batch["limits"])
        sys.path.insert(0, batch["submission"])
    except BaseException as error:  # the grader's own set-up failed (or refused to run as root): every job is the grader's error
        for index in range(len(batch["jobs"])):
            _report_line(report_fd, {"index": index, "status": "setup_error", "error": "".join(traceback.format_exception(error))[-3000:]})
        os._exit(0)
    for index, job in enumerate(batch["jobs"]):
        report = run_job(job, batch["submission"])
        if report["status"] == "setup_error" and index > 0:  # student code ran here before: it may be to blame
            _report_line(report_fd, {"index": index, "status": "retry"})
            os._exit(0)
        report["index"] = index
        _report_line(report_fd, report)
    os._exit(0)


def run_job(job, submission):
    """One job in the batch's child: its own folder, output files, inputs and seed; the student's call; the outputs saved."""
    scratch = Path(job["scratch"])
    try:
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            opened = os.open(scratch / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        os.environ.update(HOME=str(scratch), TMPDIR=str(scratch))
        os.chdir(scratch)
        args = [load_input(spec, scratch) for spec in job["args"]]
        seed_all(job["seed"])
    except BaseException as error:
        return {"status": "setup_error", "error": "".join(traceback.format_exception(error))[-3000:]}
    try:
        reduced, kinds = {}, {}
        for name, value in RECIPES[job["recipe"]](job, args).items():
            reduced[name], kinds[name] = reduce_output(value)
        out_dir = scratch / "out"
        out_dir.mkdir(exist_ok=True)
        saved = {}
        for index, (name, array) in enumerate(reduced.items()):
            if array is not None:
                np.save(out_dir / f"{index}.npy", array, allow_pickle=False)
            saved[name] = None if array is None else f"out/{index}.npy"
        report = {"status": "ok", "outputs": saved, "kinds": kinds}
    except UnsupportedReturn as error:
        report = {"status": "unsupported", "error": f"unsupported return type: {error}"}
    except MemoryError as error:
        report = {"status": "memory", "error": student_traceback(error, submission)}
    except BaseException as error:  # SystemExit and KeyboardInterrupt included: they are the student's
        status = "memory" if "alloc" in str(error).lower() and "memory" in str(error).lower() else "exception"
        report = {"status": status, "error": student_traceback(error, submission), "error_type": type(error).__name__}
    for stream in (sys.stdout, sys.stderr):  # the next job's output goes to other files
        try:
            stream.flush()
        except BaseException:
            pass
    return report


def _report_line(fd, report):
    data = json.dumps(report).encode() + b"\n"
    while data:
        data = data[os.write(fd, data):]


# ----------------------------------------------------------------------------- in the warm worker


def leftovers(child):
    """Did the batch's child leave a process or a thread behind after a job (or does something else run as ours)?"""
    try:
        mine = Path(f"/proc/self/task/{os.getpid()}/children").read_text().split()
        its = Path(f"/proc/{child}/task/{child}/children").read_text().split()
        threads = int(next(line.split()[1] for line in Path(f"/proc/{child}/status").read_text().splitlines() if line.startswith("Threads:")))
    except (OSError, StopIteration, ValueError):
        return True  # cannot tell: start afresh, which is always safe
    return bool(its) or mine != [str(child)] or threads > 1


def supervise(pid, read_fd, timeouts):
    """Collect the child's report lines, one per job, until it exits, a job overruns, or a job leaves something behind.

    Returns (reports, timed out?, wait status, why it stopped early: "" | "left behind" | "retry" | "garbled").
    Each job's clock starts when the previous one reports. The group is killed at the end in
    every case. A line that is not the next job's report (a forgery, or garbage) ends the batch
    like a crash.
    """
    reports, buffer, status, timed_out = [], b"", None, False
    deadline = time.monotonic() + timeouts[0]
    stop = ""
    while status is None and not stop and len(reports) < len(timeouts):
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        if read_fd is not None and select.select([read_fd], [], [], min(left, 0.05))[0]:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                os.close(read_fd)
                read_fd = None
            buffer += chunk
            while b"\n" in buffer and not stop:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    report = json.loads(line)
                    assert isinstance(report, dict) and report.get("index") == len(reports)
                except (ValueError, AssertionError):
                    stop = "garbled"
                    break
                if report.get("status") == "retry":  # run this job again, first in a fresh child
                    stop = "retry"
                    break
                reports.append(report)
                if len(reports) < len(timeouts):
                    deadline = time.monotonic() + timeouts[len(reports)]
                    stop = "left behind" if leftovers(pid) else ""
            if len(buffer) > META_CAP:
                stop = "garbled"
        elif read_fd is None:
            time.sleep(0.002)
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = wait_status
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if status is None:
        _, status = os.waitpid(pid, 0)
    if read_fd is not None:
        os.close(read_fd)
    return reports, timed_out, status, stop


def run_batch(batch, protections, settings):
    """Every job of a batch, in as few children as possible: a job that crashes, hangs or leaves
    processes behind ends its child, and the jobs after it get a fresh one. One answer per job."""
    jobs, answers = batch["jobs"], []
    while len(answers) < len(jobs):
        remaining = jobs[len(answers):]
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            run_batch_child({**batch, "jobs": remaining}, write_fd, protections, settings)
        os.close(write_fd)
        reports, timed_out, status, stopped = supervise(pid, read_fd, [job["timeout"] for job in remaining])
        swept = clean_up_after_case(protections, settings)
        answers += [{"timed_out": False, "exit_code": 0, "report": report} for report in reports]
        if reports and (stopped == "left behind" or (swept and len(reports) == len(remaining))):
            answers[-1]["left_behind"] = True  # the last job that returned left a process or thread running
        if len(answers) < len(jobs) and not (stopped and reports):
            answers.append({"timed_out": timed_out, "exit_code": os.waitstatus_to_exitcode(status), "report": None})
    return answers


def warm_up():
    """Run once what numpy and torch initialise lazily on first use, so that no child pays for it."""
    x = np.eye(3) + 0.1
    np.linalg.svd(x), np.linalg.solve(x, x), np.linalg.eigh(x), np.linalg.inv(x), np.linalg.norm(x)
    layer, embedding = torch.nn.Linear(3, 2, bias=False), torch.nn.Embedding(4, 3)
    with torch.no_grad():
        out = torch.softmax(layer(torch.tensor(x, dtype=torch.float32) + embedding(torch.arange(3))), dim=-1)
    out.numpy().astype(np.float64)


def clean_up_after_case(protections, settings):
    """No process a case started survives it: every process of the worker user, and our own orphans; returns how many there were."""
    uid = settings.get("uid") if protections.get("other_user") else None
    return confinement.clean_up(uid, settings.get("gid"))


def serve():
    """Read the settings line, probe the protections, then run jobs: one JSON line in, one out, each."""
    control_out = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing but answers goes to the parent
    settings = json.loads(sys.stdin.readline())
    protections = confinement.probe_protections(settings, READABLE_PATHS)
    try:
        confinement.prctl(confinement.PR_SET_CHILD_SUBREAPER, 1)  # orphans of a case come back to us
        protections["subreaper"] = True
    except OSError:
        protections["subreaper"] = False
    warm_up()
    gc.freeze()  # a child's garbage collections then never touch, and so never copy, the worker's objects
    print(json.dumps({"ready": True, "pid": os.getpid(), "protections": protections}), file=control_out, flush=True)
    for line in sys.stdin:
        answers = run_batch(json.loads(line), protections, settings)
        print(json.dumps({"answers": answers}), file=control_out, flush=True)


if __name__ == "__main__":
    serve()

"""The warm worker: imports numpy and torch once, then has the supervisor fork a child per batch of test cases.

This script runs student code only in those children, through Runner. It never imports the
grader, the reference or the test cases: the grading process sends a batch (the public or the
hidden cases of one submission) as one protocol.BatchRequest line on stdin (small inputs inside
it, large ones as the grader's .npy files beside the batch), and gets one protocol.CaseReply line
per case back on stdout, as each case ends, outputs included.
How a child is started, confined and watched is supervisor.py; what it left is read back with
readback.py; the messages are protocol.py.
"""

import gc
import importlib.util
import json
import os
import sys
from collections.abc import Callable
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


def _load_supervisor():
    """The supervisor, loaded by path: the grader's folder never goes on a worker's sys.path."""
    spec = importlib.util.spec_from_file_location("_grader_supervisor", Path(__file__).with_name("supervisor.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


supervisor = _load_supervisor()
protocol, confinement = supervisor.protocol, supervisor.confinement
case_runner = supervisor.load_sibling("case_runner")
Runner = case_runner.Runner  # what runs each case in a child
# What student code must be able to read: the standard library and the installed packages.
READABLE_PATHS = sorted(
    {
        os.path.dirname(os.__file__),
        os.path.dirname(os.path.dirname(np.__file__)),
        os.path.dirname(os.path.dirname(torch.__file__)),
    }
)


# ----------------------------------------------------------------------------- in the warm worker


def warm_up() -> None:
    """Run once what numpy and torch initialise lazily on first use, so that no child pays for it."""
    x = np.eye(3) + 0.1
    np.linalg.svd(x), np.linalg.solve(x, x), np.linalg.eigh(x), np.linalg.inv(x), np.linalg.norm(x)
    layer, embedding = torch.nn.Linear(3, 2, bias=False), torch.nn.Embedding(4, 3)
    with torch.no_grad():
        out = torch.softmax(layer(torch.tensor(x, dtype=torch.float32) + embedding(torch.arange(3))), dim=-1)
    out.numpy().astype(np.float64)


def read_request(line: str, send: Callable[[str], None]) -> "protocol.BatchRequest | None":
    """The batch in one request line, or None after sending a refusal."""
    try:
        return protocol.BatchRequest.from_json(line)
    except protocol.ProtocolError as error:
        send(json.dumps({"refused": str(error)[:500]}))
        return None


def serve() -> None:
    """Read the settings line, probe the protections, then run batches: a request line in, a reply line per case out."""
    control_out = os.fdopen(os.dup(1), "w")  # os.dup makes it close-on-exec; every child closes it anyway
    os.dup2(os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC), 1)  # nothing but replies goes to the grading process
    settings = json.loads(sys.stdin.readline())
    case_runner.load_homework(
        settings.get("homework_files", {})
    )  # the homework's recipes, by path, before any covering
    confinement.die_with_parent()  # killed with its grading process, so that no orphan runs cases on
    protections = confinement.probe_protections(settings, READABLE_PATHS)
    # the project's private folders, covered in this worker's own mount namespace (the checkout is not changed)
    protections["covered"] = bool(protections["namespaces"]) and confinement.cover_paths(settings["hidden_paths"])
    try:
        confinement.prctl(confinement.PR_SET_CHILD_SUBREAPER, 1)  # orphans of a case come back to us
        protections["subreaper"] = True
    except OSError:
        protections["subreaper"] = False
    warm_up()
    gc.freeze()  # a child's garbage collections then never touch, and so never copy, the worker's objects
    print(json.dumps({"ready": True, "pid": os.getpid(), "protections": protections}), file=control_out, flush=True)
    send = lambda text: print(text, file=control_out, flush=True)  # noqa: E731
    while line := sys.stdin.readline():
        batch = read_request(line, send)
        del line  # every child forked from here would carry it
        if batch is not None:
            supervisor.supervise_batch(
                batch, protections, settings, READABLE_PATHS, Runner(), lambda reply: send(reply.to_json())
            )
        del batch


if __name__ == "__main__":
    serve()

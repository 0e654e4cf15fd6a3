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
import importlib
import importlib.util
import json
import math
import os
import random
import sys
import textwrap
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



def _load_supervisor():
    """The supervisor, loaded by path: the grader's folder never goes on a worker's sys.path."""
    spec = importlib.util.spec_from_file_location("_grader_supervisor", Path(__file__).with_name("supervisor.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


supervisor = _load_supervisor()
protocol, confinement = supervisor.protocol, supervisor.confinement
GRADER_CALLABLES = supervisor.load_sibling("grader_callables").GRADER_CALLABLES
Status, UnsupportedReturn = protocol.Status, supervisor.UnsupportedReturn
# What student code must be able to read: the standard library and the installed packages.
READABLE_PATHS = sorted({os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(np.__file__)), os.path.dirname(os.path.dirname(torch.__file__))})


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


def transformer_class(job):
    """PytorchTransformer: from the submitted transformer.py, or rebuilt from the log's source text."""
    source = job.transformer_source
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
    module = importlib.import_module(job.module)
    result = getattr(module, job.function)(*args)
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


class Runner:
    """What a batch's child runs for each case: the supervisor calls prepare, then run."""

    input_cap = 256 * 2**20  # an input array the grading process sends

    def prepare(self, case, read_input):
        """The case's arguments decoded and every generator seeded (before its student code runs)."""
        args = [protocol.decode_arg(spec, GRADER_CALLABLES, self.input_cap, read_input) for spec in case.args]
        seed_all(case.seed)
        return args

    def run(self, case, args, submission):
        """The student's call: (status, name -> float64 array or None, name -> kind, error, error type)."""
        try:
            values, kinds = {}, {}
            for name, value in RECIPES[case.recipe](case, args).items():
                values[name], kinds[name] = reduce_output(value)
            return Status.OK, values, kinds, "", ""
        except UnsupportedReturn as error:
            return Status.UNSUPPORTED, {}, {}, f"unsupported return type: {error}", ""
        except MemoryError as error:
            return Status.MEMORY, {}, {}, student_traceback(error, submission), ""
        except BaseException as error:  # SystemExit and KeyboardInterrupt included: they are the student's
            memory = "alloc" in str(error).lower() and "memory" in str(error).lower()
            status = Status.MEMORY if memory else Status.EXCEPTION
            return status, {}, {}, student_traceback(error, submission), type(error).__name__


# ----------------------------------------------------------------------------- in the warm worker


def warm_up():
    """Run once what numpy and torch initialise lazily on first use, so that no child pays for it."""
    x = np.eye(3) + 0.1
    np.linalg.svd(x), np.linalg.solve(x, x), np.linalg.eigh(x), np.linalg.inv(x), np.linalg.norm(x)
    layer, embedding = torch.nn.Linear(3, 2, bias=False), torch.nn.Embedding(4, 3)
    with torch.no_grad():
        out = torch.softmax(layer(torch.tensor(x, dtype=torch.float32) + embedding(torch.arange(3))), dim=-1)
    out.numpy().astype(np.float64)


def read_request(line, send):
    """The batch in one request line, or None after sending a refusal."""
    try:
        return protocol.BatchRequest.from_json(line)
    except protocol.ProtocolError as error:
        send(json.dumps({"refused": str(error)[:500]}))
        return None


def serve():
    """Read the settings line, probe the protections, then run batches: a request line in, a reply line per case out."""
    control_out = os.fdopen(os.dup(1), "w")  # os.dup makes it close-on-exec; every child closes it anyway
    os.dup2(os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC), 1)  # nothing but replies goes to the grading process
    settings = json.loads(sys.stdin.readline())
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
            supervisor.supervise_batch(batch, protections, settings, READABLE_PATHS, Runner(),
                                       lambda reply: send(reply.to_json()))
        del batch


if __name__ == "__main__":
    serve()

"""The typed messages between the grading process, the warm worker and a batch's child: one status enum, one codec.

Standard library and numpy only: worker.py loads this file by path. Every message is a
dataclass that becomes one JSON line (to_json) and is rebuilt only through from_json, which
checks every field and raises ProtocolError for anything unexpected. Every reply names the
batch and the case it answers, and the receiver checks both.
"""

import base64
import binascii
import enum
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np


class ProtocolError(ValueError):
    """A message that is not the one expected: malformed, of the wrong batch or case, or over a cap."""


class UnsupportedReturn(Exception):
    """The student returned something that is not real numbers, or more of it than the caps allow."""


class Status(str, enum.Enum):
    """How one case ended, for every side of the boundary."""

    OK = "ok"  # returned; outputs hold what it returned
    EXCEPTION = "exception"  # the student's code raised
    TIMEOUT = "timeout"  # it ran past its clock and was killed
    MEMORY = "memory"  # it ran out of its memory budget
    CRASH = "crash"  # its process died, or stopped without a valid report
    UNSUPPORTED = "unsupported"  # it returned something that is not real numbers, or too much of it
    GRADER_ERROR = "grader_error"  # the grader's own set-up failed before any student code ran in that child
    SETUP_ERROR = "setup_error"  # child -> worker only: preparing a case failed (trusted only before student code ran)


CHILD_STATUSES = {Status.OK, Status.EXCEPTION, Status.MEMORY, Status.UNSUPPORTED, Status.SETUP_ERROR}


@dataclass(frozen=True)
class Caps:
    """How much of a case the trusted side will take in; the grading process sends them with every batch."""

    output_count: int = 64
    output_bytes: int = 16 * 2**20
    case_bytes: int = 64 * 2**20
    printed_bytes: int = 64 * 1024  # stdout and stderr each: first half and last half kept


def check_output_sizes(values: dict, caps: Caps) -> None:
    """A case's outputs (name -> float64 array or None) within the caps, before they are sent; else
    UnsupportedReturn."""
    if len(values) > caps.output_count:
        raise UnsupportedReturn(f"{len(values)} outputs, more than {caps.output_count}")
    sizes = [0 if array is None else array.nbytes + 128 for array in values.values()]
    if max(sizes, default=0) > caps.output_bytes or sum(sizes) > caps.case_bytes:
        raise UnsupportedReturn(
            f"outputs of {sum(sizes) / 2**20:.1f} MiB, the largest {max(sizes) / 2**20:.1f} MiB "
            f"(at most {caps.output_bytes / 2**20:g} MiB each, {caps.case_bytes / 2**20:g} MiB in all)"
        )


def case_end_marker(batch_id: str) -> bytes:
    """The portable worker's bytes after each case on stdout and stderr; on stdout the case's reply line follows."""
    return f"\x00hw9-case-end:{batch_id}\x00".encode()


class Capture:
    """What a case printed on one stream: the first and the last halves of the cap, the middle dropped."""

    def __init__(self, cap: int):
        self.half, self.head, self.tail, self.dropped = cap // 2, bytearray(), bytearray(), 0

    def add(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.half:
            self.dropped += len(self.tail) - self.half
            del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        cut = f"\n[... output cut at {2 * self.half // 1024} KiB: {self.dropped} bytes left out here ...]\n"
        middle = cut if self.dropped else ""
        return self.head.decode("utf-8", errors="replace") + middle + self.tail.decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- the codec


def encode_npy(array: np.ndarray) -> bytes:
    """An array's .npy bytes (never pickled)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_array(array: np.ndarray) -> str:
    """An array as base64 of its .npy bytes."""
    return b64(encode_npy(array))


PLAIN_HEADER = re.compile(
    rb"\{'descr': '([<>|]?[fiub][1248])', 'fortran_order': (True|False), "
    rb"'shape': \(((?:[0-9]{1,12}, )*[0-9]{1,12},?|)\), \} *\n"
)


def _plain_header(data: bytes):
    """((shape, fortran order, dtype), data offset) of a version 1.0 header exactly as np.save writes one, else None.

    The common case, read by a strict pattern: numpy's own reader (ast.literal_eval) is the fallback for anything
    else, and costs more than the rest of a small array's decoding.
    """
    if data[:8] != b"\x93NUMPY\x01\x00" or len(data) < 10:
        return None
    end = 10 + int.from_bytes(data[8:10], "little")
    match = PLAIN_HEADER.fullmatch(data[10:end])
    if match is None:
        return None
    shape = tuple(int(part) for part in match.group(3).split(b",") if part.strip())
    return (shape, match.group(2) == b"True", np.dtype(match.group(1).decode())), end


def decode_npy(data: bytes, cap: int, float64_only: bool = True) -> np.ndarray:
    """An array from .npy bytes, its header checked against the data's size before any allocation."""
    if len(data) > cap:
        raise ProtocolError(f"an output of {len(data)} bytes is over the cap of {cap}")
    header = _plain_header(data)
    if header is not None:
        (shape, fortran, dtype), offset = header
    else:
        stream = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(stream)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(stream, max_header_size=10000)
        except (ValueError, TypeError, SyntaxError, EOFError) as error:
            raise ProtocolError(f"not an .npy array: {error}") from None
        offset = stream.tell()
    if dtype.hasobject or (float64_only and dtype != np.float64) or dtype.kind not in "biuf":
        raise ProtocolError(f"an output of dtype {dtype}")
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if count * dtype.itemsize != len(data) - offset:
        raise ProtocolError("an .npy header that does not match its data")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return np.array(array.reshape(shape, order="F" if fortran else "C"), dtype=dtype, order="C")


def decode_array(text: str, cap: int, float64_only: bool = False) -> np.ndarray:
    """The inverse of encode_array, with the size checked before decoding."""
    if not isinstance(text, str) or len(text) > cap * 4 // 3 + 8:
        raise ProtocolError("an encoded array over the cap")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ProtocolError(f"bad base64: {error}") from None
    return decode_npy(data, cap, float64_only)


INLINE_BYTES = 64 * 1024  # larger arrays travel as .npy files beside the batch, not inside its JSON line
KEPT = "kept:"  # an output value "kept:<name>": a file the worker wrote in the batch's KEPT_FOLDER (not base64)
KEPT_FOLDER = "kept"  # in the batch's folder, the worker's alone (0700): a case's large outputs, copied there by it
KEPT_NAME = re.compile(r"[0-9]{1,4}-[0-9]{1,3}\.npy")  # case index - output number: never a name a student chose


def kept_name(value: str) -> str | None:
    """The file name of a kept output ("kept:3-0.npy" -> "3-0.npy"), None for an inline one; ProtocolError if bad."""
    if not value.startswith(KEPT):
        return None
    name = value[len(KEPT) :]
    if not KEPT_NAME.fullmatch(name):
        raise ProtocolError(f"bad kept output name {name!r:.40}")
    return name


def encode_arg(value: object, spill: Callable[[bytes], str] | None = None) -> dict:
    """A case's argument: {"array": base64 .npy} for a small ndarray, {"file": name} for a large one (written by
    spill(npy bytes) -> file name), {"callable": name} as given, {"value": ...} for plain JSON."""
    if isinstance(value, np.ndarray):
        data = encode_npy(value)
        return {"file": spill(data)} if spill is not None and len(data) > INLINE_BYTES else {"array": b64(data)}
    if isinstance(value, dict):
        if set(value) != {"callable"} or not isinstance(value["callable"], str):
            raise ProtocolError(f"a dict argument must name a grader callable, not {sorted(value)}")
        return dict(value)
    json.dumps(value, allow_nan=False)  # plain values only; raises for anything else
    return {"value": value}


def decode_arg(spec: dict, callables: dict, cap: int, read_file: Callable[[str, int], bytes] | None = None) -> Any:
    """The inverse of encode_arg: a callable looked up among the grader's own, a file read by read_file(name, cap)."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ProtocolError(f"bad argument {spec!r:.80}")
    ((kind, value),) = spec.items()
    if kind == "array":
        return decode_array(value, cap)
    if kind == "file" and read_file is not None and isinstance(value, str):
        return decode_npy(read_file(value, cap), cap, float64_only=False)
    if kind == "callable" and value in callables:
        return callables[value]
    if kind == "value":
        return value
    raise ProtocolError(f"bad argument kind {kind!r}")


# ----------------------------------------------------------------------------- the messages


def _checked(cls, data):
    """An instance of dataclass `cls` from a dict with exactly its fields, each of the declared plain type."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{cls.__name__}: not an object")
    names = {f.name for f in fields(cls)}
    if set(data) != names:
        raise ProtocolError(f"{cls.__name__}: fields {sorted(set(data) ^ names)} unexpected or missing")
    for item in fields(cls):
        expected = _TYPES.get(item.type, object)
        value = data[item.name]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ProtocolError(f"{cls.__name__}.{item.name}: {type(value).__name__}, not {item.type}")
    return cls(**data)


_TYPES = {str: str, int: int, bool: bool, float: (int, float), dict: dict, list: list, dict | None: (dict, type(None))}


M = TypeVar("M", bound="Message")  # the class a from_json or from_dict is called on


class Message:
    """One JSON line each way."""

    def plain(self) -> dict:
        """The fields as they are (JSON types already): no deep copy, unlike dataclasses.asdict."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.plain(), allow_nan=False)

    @classmethod
    def from_json(cls: type[M], line: str | bytes) -> M:
        try:
            data = json.loads(line)
        except (ValueError, RecursionError) as error:
            raise ProtocolError(f"{cls.__name__}: not JSON: {error}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls: type[M], data: object) -> M:
        return _checked(cls, data)


@dataclass
class CaseRequest(Message):
    """One case of a batch: a recipe and its arguments (encoded with encode_arg)."""

    index: int
    recipe: str
    module: str
    function: str
    args: list
    class_source: dict | None
    seed: int
    timeout: float
    scratch: str  # the case's own folder


@dataclass
class BatchRequest(Message):
    """Grading process -> worker: the cases of one batch, run in order in as few children as isolation allows."""

    batch_id: str
    cases: list
    submission: str
    scratch: str  # the batch's folder, made writable inside the child's minimal root
    inputs: str  # the folder of the batch's large inputs (encode_arg's files): the grader's, readable by the child
    limits: dict
    caps: dict

    @classmethod
    def from_dict(cls: type[M], data: object) -> M:
        batch = _checked(cls, data)
        batch.cases = [CaseRequest.from_dict(case) for case in batch.cases]
        if [case.index for case in batch.cases] != list(range(len(batch.cases))):
            raise ProtocolError("a batch's cases must be numbered 0, 1, ... in order")
        Caps(**batch.caps)
        return batch

    def to_json(self) -> str:
        return json.dumps({**self.plain(), "cases": [case.plain() for case in self.cases]}, allow_nan=False)


@dataclass
class CaseReply(Message):
    """Worker -> grading process: how one case ended. outputs: name -> encode_array text, or None."""

    batch_id: str
    index: int
    status: str
    outputs: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)
    error: str = ""
    error_type: str = ""
    stdout: str = ""
    stderr: str = ""
    left_behind: bool = False
    staff_note: str = ""  # something unexpected that staff should look at; never shown to the student

    def check(self, batch_id: str, index: int, caps: Caps) -> "CaseReply":
        """This reply, if it answers case `index` of batch `batch_id` and keeps to the caps; else ProtocolError."""
        if (self.batch_id, self.index) != (batch_id, index):
            raise ProtocolError(
                f"a reply for batch {self.batch_id!r:.40} case {self.index}, expected {batch_id!r} case {index}"
            )
        if self.status not in {s.value for s in Status} - {Status.SETUP_ERROR.value}:
            raise ProtocolError(f"unknown status {self.status!r:.40}")
        check_outputs(self.outputs, caps, encoded=True)
        return self


@dataclass
class ChildReport(Message):
    """Child -> worker, written to the case's folder before the child stops itself: how the case ended.

    outputs: name -> file name of the saved .npy in the case's folder, or None.
    """

    batch_id: str
    index: int
    status: str
    outputs: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)
    error: str = ""
    error_type: str = ""

    def check(self, batch_id: str, index: int, caps: Caps) -> "ChildReport":
        if (self.batch_id, self.index) != (batch_id, index):
            raise ProtocolError(f"a report for case {self.index}, expected case {index}")
        if self.status not in {s.value for s in CHILD_STATUSES}:
            raise ProtocolError(f"a child may not report status {self.status!r:.40}")
        check_outputs(self.outputs, caps, encoded=False)
        if not all(isinstance(v, str) for v in self.kinds.values()) or set(self.kinds) - set(self.outputs):
            raise ProtocolError("bad kinds")
        for text in (self.error, self.error_type):
            if len(text) > 10_000:
                raise ProtocolError("an error message over 10,000 characters")
        return self


def check_outputs(outputs: dict, caps: Caps, encoded: bool) -> None:
    """The caps on a case's outputs, checked before anything is loaded."""
    if len(outputs) > caps.output_count:
        raise ProtocolError(f"{len(outputs)} outputs, more than {caps.output_count}")
    total = 0
    for name, value in outputs.items():
        if not isinstance(name, str) or len(name) > 200 or not (value is None or isinstance(value, str)):
            raise ProtocolError(f"bad output {name!r:.40}")
        if encoded and value is not None and kept_name(value) is None:  # kept files are capped where they are read
            total += len(value) * 3 // 4
            if len(value) * 3 // 4 > caps.output_bytes + 3:
                raise ProtocolError(f"output {name!r:.40} is over {caps.output_bytes} bytes")
    if total > caps.case_bytes + 3 * len(outputs):
        raise ProtocolError(f"outputs of {total} bytes in all, more than {caps.case_bytes}")

"""The protocol's messages and codec, the safe reader, and the identity lock: each refuses what it must."""

import os
import struct

import numpy as np
import pytest

from autograder import identity, protocol, readback
from autograder.protocol import BatchRequest, CaseReply, CaseRequest, ChildReport, ProtocolError, Status
from tests.optional_tools import needs

CAPS = protocol.Caps(output_count=4, output_bytes=1024, case_bytes=2048, printed_bytes=1024)


# ----------------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    "value",
    [
        np.arange(6.0).reshape(2, 3),
        np.arange(4, dtype=np.int64),
        np.asfortranarray(np.eye(3)),
        np.float64(2.5) * np.ones(()),
    ],
)
def test_arrays_round_trip_with_shape_dtype_and_values(value):
    back = protocol.decode_arg(protocol.encode_arg(value), {}, 2**20)
    assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)


def test_a_large_array_travels_as_a_file_of_the_graders_and_comes_back_whole(tmp_path):
    files = {}

    def spill(data):
        files[f"{len(files)}.npy"] = data
        return f"{len(files) - 1}.npy"

    small, large = np.ones(3), np.arange(20_000.0).reshape(100, 200)
    assert "array" in protocol.encode_arg(small, spill) and not files
    spec = protocol.encode_arg(large, spill)
    assert spec == {"file": "0.npy"}
    back = protocol.decode_arg(spec, {}, 2**20, lambda name, cap: files[name])
    assert back.shape == large.shape and np.array_equal(back, large)
    with pytest.raises(ProtocolError, match="cap"):
        protocol.decode_arg(spec, {}, 1000, lambda name, cap: files[name])


def test_plain_values_and_callables_round_trip():
    callables = {"f": len}
    assert protocol.decode_arg(protocol.encode_arg([1, [2, 3], None]), callables, 10) == [1, [2, 3], None]
    assert protocol.decode_arg(protocol.encode_arg({"callable": "f"}), callables, 10) is len
    with pytest.raises(ProtocolError):
        protocol.decode_arg({"callable": "os.system"}, callables, 10)
    with pytest.raises(ProtocolError):
        protocol.encode_arg({"anything": 1})


def npy_with_header(shape, dtype="<f8", data=b""):
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def test_a_header_claiming_a_huge_shape_is_refused_before_any_allocation():
    with pytest.raises(ProtocolError, match="does not match"):
        protocol.decode_npy(npy_with_header((10**12,), data=b"\0" * 8), cap=1024)


ARRAYS_AS_SAVED = [
    np.zeros(3),
    np.arange(6.0).reshape(2, 3),
    np.ones(()),
    np.zeros((0, 3)),
    np.zeros((7, 1, 2)),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.arange(3, dtype=np.float32),
    np.arange(4, dtype=np.int64),
    np.ones(2, dtype=bool),
    np.arange(5.0).astype(">f8"),
]


@pytest.mark.parametrize("value", ARRAYS_AS_SAVED)
def test_the_quick_header_reader_agrees_with_numpys(value):
    # np.save's own headers are read by a strict pattern; numpy's reader (literal_eval) decides the rest.
    data = protocol.encode_npy(value)
    quick = protocol._plain_header(data)
    stream = __import__("io").BytesIO(data)
    np.lib.format.read_magic(stream)
    assert quick == (np.lib.format.read_array_header_1_0(stream), stream.tell())


def test_a_saved_header_claiming_a_huge_shape_is_refused_before_any_allocation():
    data = protocol.encode_npy(np.zeros(1)).replace(b"(1,)", b"(10000000000,)")
    assert protocol._plain_header(data) is None  # the header's length changed: numpy's reader decides, and refuses
    padded = protocol.encode_npy(np.zeros(1)).replace(b"(1,), }       ", b"(99999999,), }")
    assert protocol._plain_header(padded)[0][0] == (99999999,)
    with pytest.raises(ProtocolError, match="does not match"):
        protocol.decode_npy(padded, cap=1024)


def test_a_kept_output_is_named_by_the_worker_never_by_the_case():
    # Large outputs travel as "kept:<case>-<n>.npy", a file the worker wrote in the batch's root-only folder.
    assert protocol.kept_name("kept:3-0.npy") == "3-0.npy" and protocol.kept_name("AAAA") is None
    for forged in ("kept:../../etc/shadow", "kept:/etc/shadow", "kept:3-0.npy/..", "kept:x.npy", "kept:"):
        with pytest.raises(ProtocolError):
            protocol.kept_name(forged)


@pytest.mark.parametrize(
    "data, why",
    [
        (npy_with_header((1,), "|O", b"\0" * 8), "dtype"),  # objects: a pickle
        (npy_with_header((1,), "<c16", b"\0" * 16), "dtype"),  # complex
        (npy_with_header((1,), "<i8", b"\0" * 8), "dtype"),  # not float64 where float64 is required
        (b"not an npy file at all", "not an .npy"),
        (npy_with_header((200,), data=b"\0" * 1600), "cap"),
    ],
)
def test_outputs_that_are_not_plain_float64_within_the_cap_are_refused(data, why):
    with pytest.raises(ProtocolError, match=why):
        protocol.decode_npy(data, cap=1024, float64_only=True)


# ----------------------------------------------------------------------------- messages


def reply(**changes):
    fields = dict(batch_id="b", index=1, status="ok", outputs={"value": protocol.encode_array(np.ones(3))})
    return CaseReply(**{**fields, **changes})


def test_a_reply_is_checked_against_its_request():
    good = reply()
    assert CaseReply.from_json(good.to_json()).check("b", 1, CAPS) == good
    for bad, why in [
        (reply(batch_id="other"), "batch"),
        (reply(index=0), "case 0"),
        (reply(status="passed"), "status"),
        (reply(status="setup_error"), "status"),
        (reply(outputs={f"k{i}": None for i in range(5)}), "outputs"),
        (reply(outputs={"value": protocol.encode_array(np.ones(200))}), "over"),
    ]:
        with pytest.raises(ProtocolError, match=why):
            CaseReply.from_json(bad.to_json()).check("b", 1, CAPS)


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[]",
        '{"batch_id": "b"}',
        '{"batch_id": "b", "index": true, "status": "ok", "outputs": {}, "kinds": {}, "error": "", "error_type": "",'
        ' "stdout": "", "stderr": "", "left_behind": false, "staff_note": ""}',  # a bool is not an index
        '{"batch_id": "b", "index": 1, "status": "ok", "outputs": {}, "kinds": {}, "error": "", "error_type": "",'
        ' "stdout": "", "stderr": "", "left_behind": false, "staff_note": "", "extra": 1}',
        "[" * 100_000,
    ],
)
def test_malformed_lines_are_protocol_errors(line):
    with pytest.raises(ProtocolError):
        CaseReply.from_json(line)


def test_a_child_may_not_claim_the_graders_statuses():
    for status in ("grader_error", "timeout", "crash"):
        with pytest.raises(ProtocolError, match="may not"):
            ChildReport(batch_id="b", index=0, status=status).check("b", 0, CAPS)
    assert ChildReport(batch_id="b", index=0, status=Status.SETUP_ERROR.value).check("b", 0, CAPS)


def test_a_batch_request_round_trips_and_refuses_misnumbered_cases():
    case = CaseRequest(
        index=0,
        recipe="call",
        module="m",
        function="f",
        args=[protocol.encode_arg(np.ones(2))],
        class_source=None,
        seed=3,
        timeout=1.0,
        scratch="/x",
    )
    batch = BatchRequest(
        batch_id="b", cases=[case], submission="/s", scratch="/x", inputs="/x/i", limits={}, caps=vars(CAPS)
    )
    assert BatchRequest.from_json(batch.to_json()) == batch
    batch.cases = [case, case]
    with pytest.raises(ProtocolError, match="numbered"):
        BatchRequest.from_json(batch.to_json())


# ----------------------------------------------------------------------------- the safe reader


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "plain").write_bytes(b"data")
    (tmp_path / "big").write_bytes(b"x" * 2000)
    (tmp_path / "secret").write_bytes(b"root only")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "sub").mkdir()
    fd = readback.open_folder(tmp_path)
    yield fd
    os.close(fd)


@pytest.mark.parametrize(
    "name, why",
    [
        ("link", "cannot open"),
        ("fifo", "not a regular"),
        ("sub", "not a regular"),
        ("big", "more than"),
        ("missing", "cannot open"),
        ("../secret", "plain file"),
    ],
)
def test_the_safe_reader_refuses_links_pipes_folders_and_big_files(folder, name, why):
    with pytest.raises(readback.ReadBackError, match=why):
        readback.read_file(folder, name, cap=1000)


def test_the_safe_reader_reads_a_plain_file_and_refuses_a_linked_folder(folder, tmp_path):
    assert readback.read_file(folder, "plain", cap=1000) == b"data"
    (tmp_path / "linked").symlink_to(tmp_path / "sub")
    with pytest.raises(readback.ReadBackError):
        readback.open_folder(tmp_path / "linked")


# ----------------------------------------------------------------------------- the identity lock


@needs(os.geteuid() == 0, "worker identities are claimed only as root")
def test_a_planted_lock_link_is_never_followed(tmp_path):
    locks, victim = tmp_path / "locks", tmp_path / "victim"
    locks.mkdir(mode=0o700)
    victim.write_text("untouched")
    (locks / f"worker-{identity.FALLBACK_ID}.lock").symlink_to(victim)
    with pytest.raises(OSError):  # O_NOFOLLOW: the planted link is refused, never opened
        identity.claim_worker_identity(slots=1, folder=locks)
    assert victim.read_text() == "untouched"


@needs(os.geteuid() == 0, "worker identities are claimed only as root")
def test_a_lock_folder_others_may_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # inside pytest's own folder: a world-writable lock folder, as /tmp or /run/lock are
    with pytest.raises(identity.UnsafeLockFolder):
        identity.claim_worker_identity(slots=1, folder=shared)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        identity.lock_folder(tmp_path / "linked")


def test_caps_reach_the_worker_from_the_config():
    from autograder.config import GraderConfig
    from autograder.sandbox import WarmWorker

    config = GraderConfig(output_count_cap=7, output_file_cap_mb=3, case_output_cap_mb=5)
    worker = WarmWorker(config)
    try:
        assert worker.caps == protocol.Caps(
            output_count=7, output_bytes=3 * 2**20, case_bytes=5 * 2**20, printed_bytes=config.output_cap_kb * 1024
        )
    finally:
        worker.stop()


# ----------------------------------------------------------------------------- the grading process checks every reply

FAKE_WORKER = """
import json, sys
MODE = sys.argv[1]
sys.stdin.readline()
print(json.dumps({"ready": True, "protections": {}}), flush=True)
for line in sys.stdin:
    batch = json.loads(line)
    for case in batch["cases"]:
        reply = {"batch_id": batch["batch_id"], "index": case["index"], "status": "ok", "outputs": {"value": None},
                 "kinds": {"value": "None"}, "error": "", "error_type": "", "stdout": str(case["index"]), "stderr": "",
                 "left_behind": False, "staff_note": ""}
        if case["index"] == 1 and len(batch["cases"]) > 1:
            if MODE == "another batch":
                reply["batch_id"] = "0" * 16
            elif MODE == "status":
                reply["status"] = "passed"
            elif MODE == "twice":
                print(json.dumps({**reply, "index": 0}), flush=True)
        print(json.dumps(reply), flush=True)
"""


@pytest.mark.parametrize("mode", ["another batch", "status", "twice"])
def test_an_unexpected_reply_costs_its_case_only_and_is_flagged(tmp_path, monkeypatch, mode):
    from autograder import sandbox

    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    monkeypatch.setattr(sandbox, "WORKER_SCRIPT", f"{script}")
    monkeypatch.setattr(sandbox.subprocess, "Popen", _with_argument(sandbox.subprocess.Popen, mode))
    worker = sandbox.WarmWorker()
    try:
        outcomes = worker.run_batch([sandbox.Job("call", "m", "f", ())] * 3, None)
    finally:
        worker.stop()
    assert [o.status for o in outcomes] == ["ok", "crash", "ok"]
    assert "refused" in outcomes[1].staff_note and not outcomes[0].staff_note and not outcomes[2].staff_note
    assert outcomes[0].stdout == "0" and outcomes[2].stdout == "0"  # the third ran alone in a fresh worker


def _with_argument(popen, argument):
    """Popen that passes one more argument to the script it starts."""

    def start(command, **options):
        return popen([*command, argument], **options)

    return start


def test_workspaces_of_killed_graders_are_removed_and_live_ones_kept(tmp_path):
    # A grader killed mid-run leaves submission copies and hidden inputs behind: the next one removes them.
    import fcntl

    live, left, old, young = (
        tmp_path / f"{identity.WORKSPACE_PREFIX}{name}" for name in ("live", "left", "old", "young")
    )
    for folder in (live, left, old, young):
        (folder / "batch-0").mkdir(parents=True)
    held = open(live / identity.WORKSPACE_LOCK, "w")
    fcntl.flock(held, fcntl.LOCK_EX)
    (left / identity.WORKSPACE_LOCK).touch()  # its grader died, and the lock with it
    os.utime(old, (0, 0))  # an older grader's, with no lock file, long untouched
    target = tmp_path / "elsewhere"
    (target / "keep.txt").parent.mkdir()
    (target / "keep.txt").write_text("x")
    os.symlink(target, tmp_path / f"{identity.WORKSPACE_PREFIX}link")
    removed = identity.remove_left_workspaces(str(tmp_path))
    assert sorted(removed) == sorted([left.name, old.name])
    assert live.exists() and young.exists() and (target / "keep.txt").exists()
    held.close()
    assert identity.remove_left_workspaces(str(tmp_path)) == [live.name]

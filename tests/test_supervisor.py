"""The supervisor's end reasons, one by one, with small fake runners for student code (no torch, no confinement)."""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from autograder import protocol, supervisor
from autograder.protocol import BatchRequest, CaseRequest, Status
from autograder.supervisor import supervise_batch

LIMITS = {"memory_mb": 2048, "cpu_seconds": 60, "file_mb": 64, "processes": 64, "own_user": False}
CAPS = protocol.Caps(output_count=8, output_bytes=2**20, case_bytes=2 * 2**20, printed_bytes=4096)


@pytest.fixture(autouse=True)
def no_confinement(monkeypatch):
    """These tests are about end reasons: confinement (which refuses to run as root without a worker user) is
    tested in test_confinement.py and through the grader in test_grade.py."""
    real = supervisor.confinement.confine_child
    monkeypatch.setattr(
        supervisor.confinement,
        "confine_child",
        lambda protections, *rest: real(protections, *rest) if protections else None,
    )


class Runner:
    """Runs `behaviour(case, args)` in the child; it returns the outputs (name -> array or None)."""

    def __init__(self, behaviour, prepare_fails=None):
        self.behaviour, self.prepare_fails = behaviour, prepare_fails

    def prepare(self, case, read_input):
        if self.prepare_fails and self.prepare_fails(case):
            raise RuntimeError("cannot prepare")
        return [protocol.decode_arg(spec, {}, 2**20, read_input) for spec in case.args]

    def run(self, case, args, submission):
        values = self.behaviour(case, args)
        return Status.OK, values, {name: "test" for name in values}, "", ""


def run(tmp_path, behaviour, cases=1, timeout=5.0, prepare_fails=None, caps=CAPS, protections=None, send=None):
    """Supervise a batch of `cases` cases, each given its index as an array; the replies."""
    requests = []
    for index in range(cases):
        scratch = tmp_path / f"case-{index}"
        scratch.mkdir()
        args = [protocol.encode_arg(np.array([float(index)]))]
        requests.append(
            CaseRequest(
                index=index,
                recipe="call",
                module="",
                function="",
                args=args,
                class_source=None,
                seed=0,
                timeout=timeout,
                scratch=str(scratch),
            )
        )
    batch = BatchRequest(
        batch_id="b1",
        cases=requests,
        submission=str(tmp_path),
        scratch=str(tmp_path),
        inputs=str(tmp_path),
        limits=LIMITS,
        caps=vars(caps),
    )
    batch = BatchRequest.from_json(batch.to_json())  # as the worker receives it
    return supervise_batch(batch, protections or {}, {}, [], Runner(behaviour, prepare_fails), send)


def value(reply, name="value"):
    return protocol.decode_array(reply.outputs[name], CAPS.output_bytes)


def pid_and_input(case, args):
    return {"value": np.array([os.getpid(), args[0][0]], dtype=np.float64)}


def test_cases_that_return_share_one_child_and_get_their_own_inputs(tmp_path):
    replies = run(tmp_path, pid_and_input, cases=3)
    assert [r.status for r in replies] == ["ok"] * 3 and [r.index for r in replies] == [0, 1, 2]
    pids = {value(r)[0] for r in replies}
    assert len(pids) == 1 and [value(r)[1] for r in replies] == [0.0, 1.0, 2.0]
    assert not any(r.left_behind or r.staff_note for r in replies)


def raises(case, args):
    raise ValueError("wrong")


def test_an_exception_is_the_students(tmp_path):
    (reply,) = run(tmp_path, raises)
    assert reply.status == "exception" and reply.error_type == "ValueError"


def sleeps_in_case_0(case, args):
    if case.index == 0:
        time.sleep(30)
    return pid_and_input(case, args)


def test_a_timeout_costs_its_case_and_the_next_runs_in_a_fresh_child(tmp_path):
    started = time.monotonic()
    replies = run(tmp_path, sleeps_in_case_0, cases=2, timeout=0.5)
    assert [r.status for r in replies] == ["timeout", "ok"] and time.monotonic() - started < 5


def kills_itself_in_case_0(case, args):
    if case.index == 0:
        print("about to die", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return pid_and_input(case, args)


def test_a_crash_says_the_signal_and_keeps_what_was_printed(tmp_path):
    replies = run(tmp_path, kills_itself_in_case_0, cases=2)
    assert replies[0].status == "crash" and "signal 9" in replies[0].error and "about to die" in replies[0].stdout
    assert replies[1].status == "ok"


def leaves_a_process(case, args):
    if case.index == 0 and os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    return pid_and_input(case, args)


def leaves_a_thread(case, args):
    if case.index == 0:
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    return pid_and_input(case, args)


@pytest.mark.parametrize("behaviour", [leaves_a_process, leaves_a_thread])
def test_something_left_running_is_flagged_and_the_next_case_gets_a_fresh_child(tmp_path, behaviour):
    replies = run(tmp_path, behaviour, cases=2)
    assert [r.status for r in replies] == ["ok", "ok"]
    assert replies[0].left_behind and "left running" in replies[0].staff_note and not replies[1].left_behind
    assert value(replies[0])[0] != value(replies[1])[0]  # another child
    assert value(replies[0])[1] == 0.0  # its own output, read while nothing else of it ran


def forged_report(status, index_shift=0):
    def forge(case, args):
        report = protocol.ChildReport(batch_id="b1", index=case.index + index_shift, status=status)
        with open(os.path.join(case.scratch, "report.json"), "w") as handle:
            handle.write(report.to_json())
        os.kill(os.getpid(), signal.SIGSTOP)
        return pid_and_input(case, args)

    return forge


@pytest.mark.parametrize(
    "status, shift",
    [
        ("grader_error", 0),
        ("timeout", 0),
        ("setup_error", 0),
        ("ok", 1),
        ("ok", -1),
    ],
)
def test_a_forged_report_is_a_crash_of_that_case_flagged_for_staff(tmp_path, status, shift):
    replies = run(tmp_path, forged_report(status, shift), cases=1)
    assert replies[0].status == "crash" and replies[0].staff_note


def garbles(case, args):
    with open(os.path.join(case.scratch, "report.json"), "w") as handle:
        handle.write('{"batch_id": "b1", "index": 0, "status": "ok", "outputs": {"value": "../../etc/shadow"}')
    os.kill(os.getpid(), signal.SIGSTOP)


def test_a_garbled_report_is_a_crash_flagged_for_staff(tmp_path):
    (reply,) = run(tmp_path, garbles)
    assert reply.status == "crash" and "refused" in reply.staff_note


def prints_a_lot(case, args):
    print("FIRST")
    for _ in range(2000):
        print("x" * 1000)
    print("LAST", flush=True)
    return pid_and_input(case, args)


def test_too_much_printing_keeps_the_first_and_last_parts_and_never_changes_the_result(tmp_path):
    (reply,) = run(tmp_path, prints_a_lot)
    assert reply.status == "ok" and value(reply)[1] == 0.0
    assert reply.stdout.startswith("FIRST") and reply.stdout.rstrip().endswith("LAST")
    assert "output cut at 4 KiB" in reply.stdout
    assert len(reply.stdout) < 2 * CAPS.printed_bytes


def closes_its_stdout_in_case_0(case, args):
    if case.index == 0:
        print("before closing", flush=True)
        os.close(1)
        os.close(2)
    return pid_and_input(case, args)


def test_a_case_that_closes_its_stdio_costs_nothing_later(tmp_path):
    replies = run(tmp_path, closes_its_stdout_in_case_0, cases=2)
    assert [r.status for r in replies] == ["ok", "ok"] and "before closing" in replies[0].stdout


def many_outputs(case, args):
    return {f"k{index}": np.zeros(1) for index in range(CAPS.output_count + 1)}


def huge_output(case, args):
    return {"value": np.zeros(CAPS.output_bytes // 8 + 1)}


@pytest.mark.parametrize("behaviour", [many_outputs, huge_output])
def test_too_many_or_too_large_outputs_are_unsupported(tmp_path, behaviour):
    (reply,) = run(tmp_path, behaviour)
    assert reply.status == "unsupported" and reply.outputs == {}


def open_descriptors(case, args):
    names = os.listdir("/proc/self/fd")
    return {"value": np.array(sorted(int(name) for name in names), dtype=np.float64)}


def test_the_child_holds_only_its_stdio(tmp_path):
    (reply,) = run(tmp_path, open_descriptors)
    assert value(reply).tolist() == [0, 1, 2, 3]  # 3: the folder listdir opened


def test_a_set_up_failure_before_any_student_code_is_the_graders(tmp_path):
    replies = run(tmp_path, pid_and_input, cases=2, prepare_fails=lambda case: case.index == 0)
    assert replies[0].status == "grader_error" and "cannot prepare" in replies[0].error and replies[1].status == "ok"


def test_a_confinement_that_fails_is_the_graders_on_every_case_of_the_batch(tmp_path):
    # Another user is asked for but the settings name none: confinement fails before any student code, for all.
    replies = run(tmp_path, pid_and_input, cases=3, protections={"other_user": True})
    assert [r.status for r in replies] == ["grader_error"] * 3 and all("KeyError" in r.error for r in replies)


SPOILED = []


def spoils_the_child(case, args):
    SPOILED.append(True)  # in this child's memory only
    return pid_and_input(case, args)


def test_a_set_up_failure_after_student_code_is_retried_in_a_fresh_child(tmp_path):
    replies = run(tmp_path, spoils_the_child, cases=2, prepare_fails=lambda case: bool(SPOILED))
    assert [r.status for r in replies] == ["ok", "ok"] and value(replies[0])[0] != value(replies[1])[0]


def test_outputs_come_back_as_the_float64_arrays_returned(tmp_path):
    (reply,) = run(tmp_path, lambda case, args: {"a": np.arange(6.0).reshape(2, 3), "b": None})
    assert value(reply, "a").tolist() == [[0, 1, 2], [3, 4, 5]] and reply.outputs["b"] is None
    assert json.loads(reply.to_json())["index"] == 0


def slow_in_case_1(case, args):
    if case.index == 1:
        time.sleep(1.0)
    return pid_and_input(case, args)


def test_each_reply_is_sent_as_soon_as_its_case_ends(tmp_path):
    # The grading process's clock runs per reply: a batch's first answer must not wait for the whole batch.
    sent = []
    replies = run(tmp_path, slow_in_case_1, cases=2, send=lambda reply: sent.append((time.monotonic(), reply.index)))
    assert [index for _, index in sent] == [0, 1] and [r.status for r in replies] == ["ok", "ok"]
    assert sent[1][0] - sent[0][0] > 0.8

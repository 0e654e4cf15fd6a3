"""Run one case's student call in a fresh worker process and judge its reply in this process."""
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")
DEFAULT_TIMEOUT = 60.0  # seconds per case; the first torch import alone takes about 1.5 s


@dataclass
class CaseResult:
    """The verdict on one case."""

    number: str
    name: str
    passed: bool
    message: str


def call_in_worker(folder, case, timeout=DEFAULT_TIMEOUT):
    """Run the case's call on the submission in `folder`; return the worker's reply as a dict."""
    job = {"folder": str(folder), "module": case.module, "function": case.function, "args": [_encode(a) for a in case.args], "recipe": case.recipe}
    try:
        done = subprocess.run([sys.executable, "-I", str(WORKER)], input=json.dumps(job), capture_output=True, text=True, timeout=timeout, cwd=folder)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"ok": False, "error": f"the worker stopped without a result (exit status {done.returncode})"}


def run_case(folder, case):
    """Grade one case: a missing file, an error in student code, or the check's verdict."""
    filename = f"{case.module}.py"
    if not (Path(folder) / filename).is_file():
        return CaseResult(case.number, case.name, False, f"{filename} is missing from the submission")
    reply = call_in_worker(folder, case)
    if not reply.get("ok"):
        return CaseResult(case.number, case.name, False, f"{case.function} raised or failed: {reply.get('error')}")
    passed, message = case.check(reply)
    return CaseResult(case.number, case.name, passed, message)


def _encode(arg):
    """Arrays cross to the worker as nested lists; numbers and callable names as they are."""
    return arg.tolist() if hasattr(arg, "tolist") else arg

"""`check()` in a Jupyter notebook: the self-check run in a subprocess, shown as HTML there and as text elsewhere.

    from autograder.notebook import check
    check()     # every problem's public cases
    check(2)    # problem 2's only

The cases run in a separate `python -m autograder check` process (which runs the student's code in
processes of its own), so code that crashes, hangs or exits never takes the kernel with it. That
process writes its results as results.json; they are read back and rendered here, escaped.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import jinja2

from autograder.registry import problem_titles

BUNDLE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding the autograder package
TIMEOUT_SECONDS = 900  # above the grader's own time budget for a whole run (540 s), with room for a slow laptop
STOP_GRACE_SECONDS = 10  # after SIGTERM, the time `check` gets to stop its worker before it is killed
HINT = "(details: check(verbose=True))"
VERDICT_COLOURS = {"pass": "green", "fail": "#b00020", "skip": "gray"}  # skip: an optional task not attempted
STDERR_TAIL = 3000  # characters of the subprocess's error output shown when it failed

PAGE = jinja2.Environment(
    autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
).from_string("""\
<div class="hw9-check" style="font-family: sans-serif; line-height: 1.4">
<p><b>Self-check{% if problem %} of problem {{ problem }}{% endif %}</b> on the public cases, \
in <code>{{ folder }}</code></p>
{% if error %}
<p class="hw9-error" style="color: #b00020"><b>The self-check could not run:</b> {{ error }}</p>
{% if stderr %}<pre style="white-space: pre-wrap">{{ stderr }}</pre>{% endif %}
{% else %}
{% for block in report.problems %}
<h4 style="margin-bottom: 0.2em">Problem {{ block.number }}: {{ block.title }}</h4>
<table class="hw9-cases">
{% for case in block.cases %}
<tr class="hw9-case"><td style="color: {{ verdict_colours[case.verdict] }}"><b>{{ verdicts[case.verdict] }}</b></td>
<td>{{ case.number }}</td><td>{{ case.points }}</td><td style="text-align: left">{{ case.name }}</td></tr>
{% if case.note %}
<tr class="hw9-note"><td></td><td colspan="3" style="text-align: left; color: gray">{{ case.note }}</td></tr>
{% endif %}
{% if case.explanation is not none %}
<tr class="hw9-explanation"><td></td><td colspan="3" style="text-align: left">\
<pre style="white-space: pre-wrap">{{ case.explanation }}</pre></td></tr>
{% elif case.folded %}
<tr><td></td><td colspan="3" style="text-align: left; color: gray">{{ hint }}</td></tr>
{% endif %}
{% endfor %}
</table>
{% endfor %}
<h4 style="margin-bottom: 0.2em">Score</h4>
<table class="hw9-scores">
<tr><th>problem</th><th></th><th>score</th></tr>
{% for row in report.scores %}
<tr class="hw9-problem"><td>{{ row.number }}</td><td style="text-align: left">{{ row.title }}</td>
<td style="color: {{ 'green' if row.full else '#b00020' }}">\
{{ '%g' % row.score }} / {{ '%g' % row.max_score }}</td></tr>
{% endfor %}
<tr><td></td><td style="text-align: left"><b>total</b></td>\
<td><b>{{ '%g' % report.score }} / {{ '%g' % report.max_score }}</b></td></tr>
</table>
<p>{{ report.verdict }}</p>
{% endif %}
</div>
""")


@dataclass
class SelfCheck:
    """What check() returns: the report (or why there is none); Jupyter shows its HTML, a terminal its text."""

    folder: str
    problem: str | None
    report: object = None  # a check_summary.CheckReport when the self-check ran
    exit_status: int | None = None
    error: str = ""  # why the self-check could not run
    stderr: str = ""  # the end of the subprocess's error output, when it failed

    @property
    def passed(self) -> bool:
        return self.report is not None and not self.report.failed

    def _repr_html_(self) -> str:
        from autograder.check_summary import VERDICTS

        return PAGE.render(
            folder=self.folder,
            problem=self.problem,
            report=self.report,
            error=self.error,
            stderr=self.stderr,
            hint=HINT,
            verdicts=VERDICTS,
            verdict_colours=VERDICT_COLOURS,
        )

    def __str__(self) -> str:
        from autograder.check_summary import report_text

        scope = f" of problem {self.problem}" if self.problem else ""
        head = f"Self-check{scope} on the public cases, in {self.folder}"
        if self.report is None:
            return "\n".join([head, f"The self-check could not run: {self.error}", self.stderr]).rstrip()
        return f"{head}\n{report_text(self.report, hint=HINT)}\n\n{self.report.verdict}"

    __repr__ = __str__


def problem_number(problem: int | str | None) -> str | None:
    """`problem` as problem_titles() names it ("2"), None for every problem; ValueError for one that does not exist."""
    if problem is None:
        return None
    if isinstance(problem, bool) or str(problem).strip() not in problem_titles():
        raise ValueError(f"problem must be one of {', '.join(problem_titles())} (or None for all), not {problem!r}")
    return str(problem).strip()


def check(
    problem: int | str | None = None,
    folder: str | Path | None = None,
    verbose: bool = False,
    timeout: float = TIMEOUT_SECONDS,
) -> SelfCheck:
    """Run the public cases of `problem` (1-6; None: all) on the files in `folder` (default: the notebook's folder).

    Never raises for anything the code under test does; only a `problem` that does not exist is a ValueError.
    `verbose` explains every failure, not only the first of each problem.
    """
    number = problem_number(problem)
    folder = str(Path(folder if folder is not None else os.getcwd()).resolve())
    try:
        return run_self_check(folder, number, verbose, timeout)
    except Exception:  # a fault here must not reach the notebook as an exception either
        return SelfCheck(
            folder, number, error="the self-check itself failed", stderr=traceback.format_exc()[-STDERR_TAIL:]
        )


def run_self_check(folder: str, number: str | None, verbose: bool, timeout: float) -> SelfCheck:
    """Run `python -m autograder check` in a subprocess and read back the results it wrote."""
    from autograder.check_summary import build_report
    from autograder.results import Results

    with tempfile.TemporaryDirectory(prefix="hw9-check-") as scratch:
        results_path = Path(scratch) / "results.json"
        command = [
            sys.executable,
            "-m",
            "autograder",
            "check",
            folder,
            "--color",
            "never",
            "--results",
            str(results_path),
        ]
        command += ["--problem", number] if number else []
        status, stderr = run_command(command, timeout)
        tail = stderr.strip()[-STDERR_TAIL:]
        if status is None:
            return SelfCheck(
                folder, number, error=f"it did not finish within {timeout:g} s and was stopped", stderr=tail
            )
        if status not in (0, 1) or not results_path.is_file():
            return SelfCheck(
                folder,
                number,
                exit_status=status,
                stderr=tail,
                error=f"`python -m autograder check` stopped with exit status {status} and no results",
            )
        results = Results(**json.loads(results_path.read_text(encoding="utf-8")))
    report = build_report(results, expand="all" if verbose else "first")
    return SelfCheck(folder, number, report=report, exit_status=status)


def run_command(command: list[str], timeout: float) -> tuple[int | None, str]:
    """(exit status, standard error) of `command` run from BUNDLE_ROOT; (None, ...) when it ran out of time and was
    stopped. It runs in its own process group, so stopping it reaches whatever it started there."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    own_group = (
        {"start_new_session": True}
        if hasattr(os, "setsid")
        else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    )
    with subprocess.Popen(
        command,
        cwd=BUNDLE_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **own_group,
    ) as process:
        try:
            _, stderr = process.communicate(timeout=timeout)
            return process.returncode, stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            stop(process)
            _, stderr = process.communicate()
            return None, stderr.decode("utf-8", "replace")
        except BaseException:  # the kernel was interrupted: the self-check stops with it, not minutes later
            stop(process)
            raise


def stop(process: subprocess.Popen) -> None:
    """SIGTERM first (`check` then stops its worker and removes its folders), then kill the whole group."""
    process.terminate()
    try:
        process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    if hasattr(os, "killpg"):  # POSIX: the whole group
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:
        process.kill()

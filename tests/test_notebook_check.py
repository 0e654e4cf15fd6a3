"""`autograder.notebook.check()`: the notebook's check cells in the students' bundle, escaped HTML, and no crash
of the code under test (or of the self-check itself) ever reaching the calling process."""

import os
import re
import signal

import nbclient
import nbformat
import pytest

from autograder import notebook
from autograder.registry import problem_titles, public_cases
from tests.helpers import ROOT, unpacked_student_bundle

NOTEBOOK = "hand_design_transformers.ipynb"
HOSTILE = "<script>alert('hw9')</script>"
ATTENTION_RAISING = f'def argmax_attention(q, K, V):\n    raise ValueError("{HOSTILE}")\n'


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A freshly built and unpacked students' bundle (hw9/), its attention.py raising an error that holds markup."""
    hw9 = unpacked_student_bundle(tmp_path_factory.mktemp("student"))
    stubs = (hw9 / "attention.py").read_text()
    (hw9 / "attention.py").write_text(f"{stubs}\n\n{ATTENTION_RAISING}")  # problem 3 raises it, problem 4 stays a stub
    return hw9


def check_cells(nb):
    """The template's cells that import and call check(): the first code cell (the imports) and every check(...)
    call."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    calls = [cell for cell in code if re.fullmatch(r"check\(\d*\)", cell.source.strip())]
    return [code[0], *calls]


@pytest.fixture(scope="module")
def executed(bundle):
    """The template's check cells run by a Jupyter kernel in the bundle's folder: (the cells' HTML outputs, in
    order)."""
    nb = nbformat.read(bundle / NOTEBOOK, as_version=4)
    nb.cells = check_cells(nb)
    assert len(nb.cells) >= 3  # the imports, check(2), check()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")
        nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(bundle)}}
        ).execute()
    return [
        [out["data"]["text/html"] for out in cell.outputs if "text/html" in out.get("data", {})]
        for cell in nb.cells[1:]
    ]


def score_rows(html):
    return re.findall(r'<tr class="hw9-problem"><td>(\d)</td>', html)


def test_the_template_calls_check_for_problem_2_and_for_everything():
    nb = nbformat.read(ROOT / "student_template" / NOTEBOOK, as_version=4)
    assert [cell.source.strip() for cell in check_cells(nb)[1:]] == ["check(2)", "check()"]
    assert "from autograder.notebook import check" in check_cells(nb)[0].source


def test_notebook_check_cells_render_one_row_per_problem(executed):
    problem_two, everything = (outputs[0] for outputs in executed)
    assert score_rows(problem_two) == ["2"]
    assert score_rows(everything) == sorted(problem_titles())
    assert "public case(s) failed" in everything


def test_notebook_check_escapes_what_student_code_says(executed):
    everything = executed[1][0]
    assert "&lt;script&gt;" in everything and "<script" not in everything
    assert "ValueError" in everything


def test_notebook_check_explains_the_first_failure_of_each_problem(executed):
    problem_two, everything = (outputs[0] for outputs in executed)
    explanations = re.findall(r'class="hw9-explanation".*?<pre[^>]*>(.*?)</pre>', everything, re.S)
    assert len(explanations) == len(problem_titles())  # the first failure of each problem
    assert sum("NotImplementedError" in text for text in explanations) == len(problem_titles()) - 1  # all stubs but 3's
    assert "NotImplementedError" in problem_two and "check(verbose=True)" in problem_two


def folder_with(tmp_path, attention_source):
    (tmp_path / "attention.py").write_text(attention_source)
    return tmp_path


@pytest.mark.parametrize(
    "body, words",
    [
        ("import os\n    os._exit(3)", "stopped the case"),  # exits the process it runs in
        ("import ctypes\n    ctypes.string_at(0)", "stopped the case"),  # segfaults
        ("raise SystemExit(0)", "SystemExit"),
    ],
)
def test_a_crash_of_student_code_never_reaches_the_caller(tmp_path, body, words):
    folder = folder_with(tmp_path, f"def argmax_attention(q, K, V):\n    {body}\n")
    result = notebook.check(3, folder=folder)  # in this very process: reaching the next line is the point
    assert result.exit_status == 1 and not result.passed and not result.error
    case = result.report.problems[0].cases[0]
    assert case.number == "3.1" and not case.passed and words in case.explanation
    text = str(result)
    assert "Problem 3: Argmax attention" in text and "FAIL" in text and repr(result) == text


def test_check_text_and_html_say_the_same_verdicts(tmp_path):
    result = notebook.check(3, folder=folder_with(tmp_path, ATTENTION_RAISING))
    graded = [case for case in public_cases() if case.problem == "3"]
    html = result._repr_html_()
    assert len(re.findall(r'<tr class="hw9-case">', html)) == len(graded)
    assert str(result).count("FAIL") == html.count("<b>FAIL</b>") == len(graded)
    assert HOSTILE not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("problem", [0, 7, "2a", True, 2.5])
def test_a_problem_that_does_not_exist_is_a_value_error(problem):
    with pytest.raises(ValueError, match="problem must be one of"):
        notebook.check(problem, folder=ROOT / "student_template")


def fake_autograder(tmp_path, main_source):
    """A folder holding an `autograder` package whose `python -m autograder` runs `main_source`."""
    package = tmp_path / "fake" / "autograder"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(main_source)
    return package.parent


@pytest.mark.parametrize(
    "main_source, timeout, says",
    [
        ("import sys\nsys.stderr.write('<b>the grader broke</b>')\nsys.exit(3)\n", 60, "exit status 3"),
        (
            "import sys\nsys.stderr.write('<b>no results written</b>')\nsys.exit(1)\n",
            60,
            "exit status 1 and no results",
        ),
        (
            "import sys, time\nsys.stderr.write('<b>started</b>'); sys.stderr.flush()\ntime.sleep(120)\n",
            2,
            "did not finish within 2 s",
        ),
    ],
)
def test_a_failed_self_check_is_reported_not_raised(tmp_path, monkeypatch, main_source, timeout, says):
    monkeypatch.setattr(notebook, "BUNDLE_ROOT", fake_autograder(tmp_path, main_source))
    result = notebook.check(folder=tmp_path, timeout=timeout)
    assert result.report is None and not result.passed and says in result.error
    html = result._repr_html_()
    assert "could not run" in html and says in html
    assert "&lt;b&gt;" in html and "<b>the grader" not in html and "<b>started" not in html  # its stderr, escaped
    assert says in str(result)


def test_an_unreadable_results_file_is_reported_not_raised(tmp_path, monkeypatch):
    writes_garbage = (
        "import sys\nargs = sys.argv\nopen(args[args.index('--results') + 1], 'w').write('{not json')\nsys.exit(1)\n"
    )
    monkeypatch.setattr(notebook, "BUNDLE_ROOT", fake_autograder(tmp_path, writes_garbage))
    result = notebook.check(folder=tmp_path)
    assert (
        result.report is None and "the self-check itself failed" in result.error and "JSONDecodeError" in result.stderr
    )


def test_check_copies_no_notebook_state_into_the_folder(tmp_path):
    # The results file goes to a temporary folder of its own: nothing is left next to the student's files.
    folder = folder_with(tmp_path, ATTENTION_RAISING)
    before = sorted(path.name for path in folder.iterdir())
    notebook.check(3, folder=folder)
    assert sorted(path.name for path in folder.iterdir()) == before


def test_an_interrupted_kernel_stops_the_self_check_too(tmp_path, monkeypatch):
    # Jupyter's "interrupt" is a KeyboardInterrupt in the kernel: it goes on to the notebook, and the subprocess
    # (in a session of its own, which the interrupt does not reach) is stopped rather than left to finish.
    sleeper = (
        "import os, sys, time\nopen(os.path.join(sys.argv[2], 'pid'), 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\nopen(os.path.join(sys.argv[2], 'finished'), 'w').close()\n"
    )
    monkeypatch.setattr(notebook, "BUNDLE_ROOT", fake_autograder(tmp_path, sleeper))

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 2)
        with pytest.raises(KeyboardInterrupt):
            notebook.check(folder=tmp_path, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid = int((tmp_path / "pid").read_text())
    assert not (tmp_path / "finished").exists()  # stopped, not waited for
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

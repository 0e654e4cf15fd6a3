"""Feedback as Gradescope shows it: outputs rendered as CommonMark keep every array in a code block, and no student text
escapes one."""

import json
import re
import sys
import types
from html import escape

import numpy as np
import pytest
from markdown_it import MarkdownIt

from autograder.checks import expect, show
from autograder.config import GraderConfig
from autograder.frozen import never_reads_the_submission
from autograder.grade import judge_case
from autograder.homework import grader_callables, homework_module
from autograder.registry import Case, public_cases, rng
from autograder.results import fence
from autograder.sandbox import Job, Outcome
from tests.helpers import ROOT

judged_weights = homework_module("cases.problem2").judged_weights

COMMONMARK = MarkdownIt("commonmark")  # Gradescope renders outputs marked "md" as Markdown; CommonMark is its core
PRE_BLOCK = re.compile(r"<pre><code[^>]*>(.*?)</code></pre>", re.S)
PUBLIC = Case("9.1", "a public case", 1.0, build=None, public=True)
HIDDEN = Case("9.2", "a hidden case", 1.0, build=None)
X = np.array([[0.125, -2.5, 3.0], [1e-9, 4.0, -0.0078125]])


def rendered(markdown):
    """(the HTML, the text of each code block, the HTML outside code blocks)."""
    html = COMMONMARK.render(markdown)
    return html, PRE_BLOCK.findall(html), PRE_BLOCK.sub("", html)


def judged(case, returned, expected, stdout="", status="ok", error=""):
    """The results entry of `case` when the student's call returned `returned` (and printed `stdout`)."""
    job = Job("call", "attention", "softmax_attention", (X, 2.0))
    outcome = Outcome(
        status, outputs={"value": returned}, kinds={"value": "numpy.ndarray (float64)"}, stdout=stdout, error=error
    )
    return judge_case(case, (job, expect(expected)), outcome, GraderConfig(), [])


@pytest.mark.parametrize(
    "returned", [X[::-1] * 2, None, X[:1], np.full_like(X, np.nan)], ids=["wrong values", "None", "wrong shape", "nan"]
)
def test_every_array_of_a_failing_public_case_is_in_a_code_block(returned):
    html, blocks, outside = rendered(judged(PUBLIC, returned, X).output)
    nan = returned is not None and np.isnan(returned).all()  # then only what was returned is shown
    assert nan or f"{escape(show(X), quote=False)}\n" in blocks
    if returned is not None:
        assert f"{escape(show(returned), quote=False)}\n" in blocks
    assert "[" not in outside, outside  # no array rows run on in a paragraph


def test_the_expected_value_is_shown_even_when_the_student_returned_none():
    html, blocks, _ = rendered(judged(PUBLIC, None, X).output)
    assert f"{show(X)}\n" in blocks and "got None" in html


def test_a_hidden_case_shows_nothing_of_its_inputs():
    assert judged(HIDDEN, X * 2, X).output == "Failed: wrong value."
    assert judged(HIDDEN, X, X).output == "Passed."


@pytest.mark.parametrize(
    "hostile",
    [
        "```\n</code></pre><script>alert(1)</script>\n```",
        "````````````\n# heading\n````````````",
        "   ```\n~~~\n``` ```` `````",
        "`",
    ],
)
def test_no_student_text_leaves_its_code_block(hostile):
    output = judged(PUBLIC, X, X, stdout=f"printed {hostile}", status="exception", error=f"Exception: {hostile}").output
    html, blocks, outside = rendered(output)
    assert sum(f"{escape(hostile, quote=False)}\n" in block for block in blocks) == 2, (
        blocks
    )  # the traceback and the printout
    assert "<script" not in html and "<h1>" not in html and hostile.splitlines()[0] not in outside


@pytest.mark.parametrize("seed", range(40))
def test_a_fence_holds_any_text_whole(seed):
    g = np.random.default_rng(seed)
    pieces = ["`" * int(n) for n in g.integers(1, 12, 6)] + ["\n", "   ", "~~~", "x", "\n```", "\n    ````"]
    text = "".join(g.choice(pieces, size=int(g.integers(1, 25)))).strip("\n")
    tokens = COMMONMARK.parse(fence(text) + "\nafter")
    assert [token.type for token in tokens][:2] == ["fence", "paragraph_open"]
    assert tokens[0].content == text + "\n"


def test_the_attention_table_of_failing_weights_is_in_a_code_block_with_the_leak_visible():
    html, blocks, outside = rendered(
        judged_weights({"Km": 5 * np.eye(3), "Qm": 5 * np.eye(3), "Vm": np.eye(3)}, "content").message
    )
    leak = 1 / (1 + np.exp(25 / np.sqrt(3)))  # key B's weight for query A: both score 0 but A's own, 25 / sqrt(3)
    table = next(block for block in blocks if block.startswith("query \\ key"))
    assert table.count(f"{leak:.7g}") == 2 and f"{leak:.2g} of its attention leaks" in outside
    assert "[" not in outside.replace("[A, B]", "")


def snippet_call(output):
    """Run the Python call a public case's output shows, with its function replaced by one that returns its
    arguments."""
    code = next(token.content for token in COMMONMARK.parse(output) if token.type == "fence" and token.info == "python")
    module, function = re.search(r"from (\w+) import (\w+)", code).groups()
    fake = types.ModuleType(module)
    setattr(fake, function, lambda *args: args)
    saved = sys.modules.get(module)
    sys.modules[module] = fake
    try:
        namespace = dict(grader_callables())
        exec(code.replace(f"{function}(", "shown = " + f"{function}(", 1), namespace)
    finally:
        if saved is None:
            del sys.modules[module]
        else:
            sys.modules[module] = saved
    return namespace["shown"]


@pytest.mark.parametrize("case", [c for c in public_cases() if never_reads_the_submission(c)], ids=lambda c: c.number)
def test_every_public_case_shows_a_call_that_rebuilds_its_inputs_exactly(case):
    job, check = case.build(None, rng(case.number))
    output = judge_case(case, (job, check), Outcome("ok", outputs={"value": None}), GraderConfig(), []).output
    shown = snippet_call(output)
    assert len(shown) == len(job.args)
    for given, wanted in zip(shown, job.args, strict=True):
        if isinstance(wanted, dict):  # one of the grader's own functions, named
            assert given.__name__ == wanted["callable"] and f"`{wanted['callable']}` is the grader's own" in output
        else:
            assert np.array_equal(np.asarray(given), np.asarray(wanted)) and np.shape(given) == np.shape(wanted)


@pytest.mark.parametrize("golden", ["reference_results.json", "template_results.json"])
def test_golden_outputs_keep_arrays_in_code_blocks(golden):
    tests = json.loads((ROOT / "tests" / "golden" / golden).read_text())["tests"]
    for test in tests:
        _, _, outside = rendered(test["output"])
        assert "[[" not in outside and not re.search(r"\[\s*-?\d*\.\d", outside), (
            test["number"],
            outside,
        )  # shapes may stay

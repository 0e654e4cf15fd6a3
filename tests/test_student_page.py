"""The student's view of one submission: visible tests only, every string escaped, nothing that loads or runs."""

import stat

import pytest

import autograder.student_page as student_page
from autograder.results import Results, to_gradescope_dict
from autograder.results import TestResult as Entry
from autograder.student_page import render_student_page, write_student_page
from tests.test_report import HOSTILE, Page

RESULTS = Results(
    output=f"Summary {HOSTILE}",
    tests=[
        Entry(number="1.1", name="reconstruction loss", score=2, max_score=2, status="passed", output="correct"),
        Entry(
            number="1.2",
            name=f"named {HOSTILE}",
            score=0,
            max_score=3,
            status="failed",
            output=f"your code printed {HOSTILE}",
        ),
        Entry(
            number="1.3",
            name="shown later",
            score=0.5,
            max_score=1,
            status="failed",
            output="later output",
            visibility="after_published",
        ),
        Entry(
            number="0.2",
            name="staff only",
            score=0,
            max_score=0,
            status="failed",
            output="secret traceback",
            visibility="hidden",
        ),
    ],
)


def test_hidden_tests_are_left_out_and_later_ones_say_when_they_show():
    page = Page(render_student_page("sub_1", "Ada", to_gradescope_dict(RESULTS)))
    text = page.all_text
    assert "staff only" not in text and "secret traceback" not in text
    assert "1.1 reconstruction loss (passed) 2 / 2" in text and "1.3 shown later (failed) 0.5 / 1" in text
    assert "shown to the student once grades are published" in text
    assert "Autograder score: 2.5 / 6" in text


def test_student_strings_are_escaped_and_nothing_loads():
    html = render_student_page(HOSTILE, HOSTILE, to_gradescope_dict(RESULTS))
    assert (
        "<script" not in html and html.count("&lt;script&gt;") == 6
    )  # title, heading, students, output, name, test output
    page = Page(html)
    assert page.tags <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "p",
        "strong",
        "pre",
        "section",
        "span",
        "a",
        "div",
        "code",
    }
    assert page.links == ["../report.html"]


def test_the_page_is_written_readable_by_everyone(tmp_path):
    path = write_student_page(tmp_path, "sub_1", "Ada", to_gradescope_dict(RESULTS))
    assert path == tmp_path / "index.html" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "reconstruction loss" in path.read_text() and not list(tmp_path.glob(".*"))


MARKDOWN = (
    "Expected:\n```\n[[1.0, 2.0],\n [3.0, 4.0]]\n```\n\n| key | weight |\n|---|---|\n| 0 | 0.5 |\n\n"
    "<img src=x onerror=alert(1)> ![pixel](http://127.0.0.1/p.png) [click](javascript:alert(1)) <http://127.0.0.1/>"
)


def markdown_page():
    results = Results(
        tests=[Entry(number="2.1", name="weights", score=0, max_score=1, status="failed", output=MARKDOWN)]
    )
    return render_student_page("sub_1", "Ada", to_gradescope_dict(results))


def test_outputs_render_as_commonmark_with_nothing_live():
    pytest.importorskip("markdown_it", reason="markdown-it-py is pinned in requirements-dev.txt")
    html = markdown_page()
    page = Page(html)
    assert "<pre><code>[[1.0, 2.0],\n [3.0, 4.0]]\n</code></pre>" in html  # the array keeps its lines
    assert {"table", "th", "td"} <= page.tags and "img" not in page.tags and page.links == ["../report.html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "![pixel](http://127.0.0.1/p.png)" in page.all_text
    assert "rendered as CommonMark" in page.all_text


def test_without_markdown_it_outputs_show_as_escaped_source(monkeypatch):
    monkeypatch.setattr(student_page, "markdown_renderer", lambda: None)
    html = markdown_page()
    page = Page(html)
    assert "table" not in page.tags and "img" not in page.tags and page.links == ["../report.html"]
    assert "<pre>Expected:\n```\n[[1.0, 2.0]" in html and "&lt;img src=x" in html
    assert "markdown-it-py is not installed" in page.all_text


def test_an_optional_task_left_out_shows_as_not_attempted():
    left_out = Entry(
        number="2.14", name="optional (not attempted)", score=0, max_score=0, status=None, output="Not attempted"
    )
    text = Page(render_student_page("sub_1", "Ada", to_gradescope_dict(Results(tests=[left_out])))).all_text
    assert "2.14 optional (not attempted) (not attempted) 0 / 0" in text and "(failed)" not in text

"""The class report: aggregation from hand-written summary.json files, and a real regrade rendered in headless
chromium."""

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from autograder.registry import all_cases, problem_points, problem_titles
from autograder.report import (
    diagnosed_mistakes,
    flagged_submissions,
    histogram,
    most_failed,
    pass_rates,
    read_summaries,
    write_report,
)
from tests.corpus import make_submission
from tests.helpers import ROOT
from tests.optional_tools import require

HOSTILE = "<script>alert(1)</script>"
SCALING = "your output equals attention without the 1/sqrt(d_k) scaling"


def write_summary(
    out,
    name,
    total=60.0,
    problems=None,
    failed=None,
    diagnoses=None,
    students="",
    flags="",
    max_total=60.0,
    behaviour=None,
    no_attempt=False,
    notes=(),
):
    """A summary.json as regrade writes it: the CSV row plus "details"."""
    problems = problems or {p: float(points) for p, points in problem_points().items()}
    row = {
        "submission": name,
        "students": students,
        "emails": "",
        "sids": "",
        "total": total,
        **{f"problem {p}": problems.get(p, 0.0) for p in problem_points()},
        "flags": flags,
        "seconds": 1.0,
        "details": {
            "failed": failed or {},
            "diagnoses": diagnoses or {},
            "behaviour": behaviour or {},
            "max_total": max_total,
            "no_attempt": no_attempt,
            "notes": list(notes),
        },
    }
    (out / name).mkdir(parents=True)
    (out / name / "summary.json").write_text(json.dumps(row))
    return name


class Page(HTMLParser):
    """What the tests look at in a page: its tags, text and links, and each svg.histogram with its bars and labels."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.text, self.links, self.histograms, self.current, self.label = set(), [], [], {}, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "svg" and "histogram" in attrs.get("class", "").split():
            self.current = self.histograms[attrs["data-problem"]] = {"bars": 0, "count": [], "tick": [], "axis": []}
        elif tag == "rect" and self.current is not None:
            self.current["bars"] += 1
        elif tag == "text" and self.current is not None:
            self.label = attrs.get("class")
        elif tag == "a":
            self.links.append(attrs.get("href"))

    def handle_endtag(self, tag):
        if tag == "svg":
            self.current = None

    def handle_data(self, data):
        if self.lasttag != "style":
            self.text.append(data)
        if self.current is not None and self.label in self.current:
            self.current[self.label].append(data.strip())
            self.label = None

    @property
    def all_text(self):
        """The text as one line, one space between elements and none before punctuation."""
        return re.sub(r" ([.,:;])", r"\1", " ".join(" ".join(self.text).split()))


def report(out, names):
    write_report(out, names)
    return (out / "report.html").read_text()


# ---- aggregation, from hand-written summaries ---------------------------------------------------


@pytest.mark.parametrize(
    "scores, top, counts",
    [
        ([0, 0, 10, 10, 10], 10, [2, 0, 0, 0, 0, 0, 0, 0, 0, 3]),  # zero and full marks land in the end bins
        ([0.5, 0.99, 1.0, 9.5], 10, [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]),  # a bin is [low, high): 1.0 starts the second
        ([0.25, 2.5, 4.75, 5], 5, [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]),  # 5 points: bins of 0.5
        ([], 20, [0] * 10),  # nobody
    ],
)
def test_histogram_bins(scores, top, counts):
    bins = histogram(scores, top)
    assert [count for _, _, count in bins] == counts
    assert bins[0][0] == 0 and bins[-1][1] == pytest.approx(top)


def test_histograms_in_the_page_have_a_bar_per_bin_and_the_counts(tmp_path):
    top = problem_points()["3"]
    names = [
        write_summary(tmp_path, f"s{i}", problems={"3": score}) for i, score in enumerate([top, top, top, 0, top / 2])
    ]
    page = Page(report(tmp_path, names))
    assert sorted(page.histograms) == sorted(problem_points())
    assert all(h["bars"] == 10 for h in page.histograms.values())
    problem3 = page.histograms["3"]
    assert problem3["count"] == [
        "1",
        "1",
        "3",
    ]  # one at 0, one at half marks, three at full marks; empty bins say nothing
    assert problem3["tick"] == [f"{top * tenth / 10:g}" for tenth in range(11)]
    assert problem3["axis"] == [f"points (out of {top:g})", "submissions"]


def test_most_failed_cases_come_first_with_their_commonest_category(tmp_path):
    names = [
        write_summary(tmp_path, "a", failed={"4.8": "timeout", "3.1": "wrong value", "1.1": "exception"}),
        write_summary(tmp_path, "b", failed={"4.8": "timeout", "3.1": "wrong shape"}),
        write_summary(tmp_path, "c", failed={"4.8": "wrong value", "1.1": "exception"}),
    ]
    rows = most_failed(read_summaries(tmp_path, names), {"4.8": "attention scale for d = 16"})
    # 4.8 by three; 1.1 and 3.1 by two each (ties in case order); a tie of categories goes alphabetically
    assert rows == [
        ("4.8", "attention scale for d = 16", 3, "timeout"),
        ("1.1", "", 2, "exception"),
        ("3.1", "", 2, "wrong shape"),
    ]
    text = Page(report(tmp_path, names)).all_text
    assert "4.8 attention scale for d = 16 3 of 3 timeout" in text


def test_diagnoses_are_grouped_by_their_words_and_counted_by_submission(tmp_path):
    names = [
        write_summary(tmp_path, "a", diagnoses={"4.1": SCALING, "4.2": SCALING}),
        write_summary(tmp_path, "b", diagnoses={"4.2": SCALING, "1.7": "you solved for lam = 0"}),
        write_summary(tmp_path, "c", diagnoses={"4.1": SCALING}),
        write_summary(tmp_path, "d"),
    ]
    assert diagnosed_mistakes(read_summaries(tmp_path, names)) == [
        (SCALING, 3, ["4.1", "4.2"]),
        ("you solved for lam = 0", 1, ["1.7"]),
    ]
    text = Page(report(tmp_path, names)).all_text
    assert f"3 submissions {SCALING} 4.1, 4.2" in text and "1 submission you solved for lam = 0 1.7" in text


def test_timeouts_crashes_memory_grader_errors_and_leftovers_are_flagged(tmp_path):
    names = [
        write_summary(tmp_path, "slow", failed={"4.8": "timeout", "4.6": "timeout", "4.1": "wrong value"}),
        write_summary(tmp_path, "greedy", failed={"5.9": "memory limit", "3.1": "crash"}),
        write_summary(tmp_path, "wrong", failed={"1.1": "wrong value", "3.2": "exception"}),  # wrong, not flagged
        write_summary(tmp_path, "broken", total=0.0, max_total=0.0),  # the grader failed: no case graded
        write_summary(tmp_path, "daemon", behaviour={"4.8": "left a process or thread running after it returned"}),
    ]
    flagged = {summary["submission"]: flags for summary, flags in flagged_submissions(read_summaries(tmp_path, names))}
    assert flagged == {
        "slow": {"timeout": ["4.6", "4.8"]},
        "greedy": {"crash": ["3.1"], "memory limit": ["5.9"]},
        "broken": {"grader error": ["the whole run"]},
        "daemon": {"left a process or thread running after it returned": ["4.8"]},
    }
    assert "slow timeout: 4.6, 4.8" in Page(report(tmp_path, names)).all_text


def test_no_attempt_is_counted_apart_from_every_statistic(tmp_path):
    names = [
        write_summary(tmp_path, "a", total=40.0, failed={"1.1": "wrong value"}),
        write_summary(tmp_path, "b", total=20.0),
        write_summary(
            tmp_path, "template", total=0.0, failed={"1.1": "exception", "1.2": "exception"}, no_attempt=True
        ),
        write_summary(tmp_path, "empty", total=0.0, failed={"1.2": "missing file"}, no_attempt=True),
    ]
    page = Page(report(tmp_path, names))
    text = page.all_text
    assert "4 submissions. 2 submissions with no attempt" in text and "mean 30 / 60, median 30 / 60" in text
    assert "1.1 reconstruction" in text and "1 of 2 wrong value" in text  # the template's exceptions are not counted
    assert "exception" not in text.split("Cases failed most often")[1].split("Pass rate")[0]
    assert {"template/index.html", "empty/index.html"} <= set(page.links)  # still listed with the others


def test_every_case_has_a_pass_rate(tmp_path):
    names = [
        write_summary(tmp_path, "a", failed={"1.1": "wrong value", "4.8": "timeout"}),
        write_summary(tmp_path, "b", failed={"1.1": "exception"}),
        write_summary(tmp_path, "c"),
        write_summary(tmp_path, "broken", total=0.0, max_total=0.0),
    ]  # graded nothing: left out
    cases = [case for case in all_cases() if case.weight > 0]
    rows = {
        number: (passed, graded)
        for number, _, passed, graded in pass_rates(read_summaries(tmp_path, names), all_cases())
    }
    assert len(rows) == len(cases) and rows["1.1"] == (1, 3) and rows["4.8"] == (2, 3) and rows["3.1"] == (3, 3)
    text = Page(report(tmp_path, names)).all_text.split("Pass rate of every case")[1]
    assert "1 of 3 33%" in text and "2 of 3 67%" in text and text.count("3 of 3 100%") == len(cases) - 2


def test_syntax_errors_and_invalid_logs_are_flagged(tmp_path):
    names = [write_summary(tmp_path, "broken", notes=["syntax error in attention.py", "invalid submission_log.json"])]
    flagged = flagged_submissions(read_summaries(tmp_path, names))
    assert flagged[0][1] == {"syntax error in attention.py": [], "invalid submission_log.json": []}
    assert "broken syntax error in attention.py; invalid submission_log.json" in Page(report(tmp_path, names)).all_text


def test_header_counts_and_averages(tmp_path):
    names = [
        write_summary(tmp_path, name, total=total)
        for name, total in [("a", 60.0), ("b", 30.0), ("c", 0.0), ("d", 10.0)]
    ]
    assert "4 submissions. Total: mean 25 / 60, median 20 / 60." in Page(report(tmp_path, names)).all_text


def test_student_strings_are_escaped_and_nothing_is_fetched(tmp_path):
    folder = 'evil"><img src=x onerror=alert(1)>'
    names = [
        write_summary(tmp_path, folder, students=HOSTILE, failed={"4.8": "timeout"}),
        write_summary(tmp_path, "plain", students="Ada Lovelace"),
    ]
    text = report(tmp_path, names)
    assert "<script" not in text and "<img" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Page(text)
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
        "br",
        "div",
        "figure",
        "figcaption",
        "svg",
        "rect",
        "text",
        "line",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "a",
        "span",
    }  # nothing that loads or runs
    assert HOSTILE in page.all_text  # shown to the reader as text
    assert (
        "plain/index.html" in page.links
        and "evil%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/index.html" in page.links
    )
    assert all(link.endswith("/index.html") and ":" not in link for link in page.links)
    for outside in ("http://", "https://", "url(", "@import"):
        assert outside not in text


def test_missing_summaries_are_left_out_and_none_writes_nothing(tmp_path):
    write_report(tmp_path, ["never_graded"])
    assert not (tmp_path / "report.html").exists()
    names = [write_summary(tmp_path, "a")]
    assert "1 submission." in Page(report(tmp_path, names + ["never_graded"])).all_text


# ---- a real regrade, rendered by a real browser -----------------------------------------------

METADATA = f"""full_marks:
  :submitters:
  - :name: Ada Lovelace
    :email: ada@example.edu
template:
  :submitters:
  - :name: "{HOSTILE}"
    :email: mallory@example.edu
syntax_error:
  :submitters:
  - :name: Alan Turing
hangs_once:
  :submitters:
  - :name: Grace Hopper
unscaled_a:
  :submitters:
  - :name: Edsger Dijkstra
unscaled_b:
  :submitters:
  - :name: Barbara Liskov
"""


def browser_command():
    """Debian's chromium, headless, with no network: in a fresh network namespace when we may make one."""
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    require(chromium, "chromium is not installed: run ./setup.sh as root (it installs Debian's chromium for this test)")
    isolated = (
        shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    )
    return (["unshare", "-n"] if isolated else []) + [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]


def browse(page, profile, *options):
    done = subprocess.run(
        [*browser_command(), f"--user-data-dir={profile}", *options, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture()
def graded_class(tmp_path):
    """A small export (full marks, the template, a syntax error, one case that hangs, a mistake made twice) regraded
    into tmp_path/out."""
    from autograder.regrade import regrade

    export = tmp_path / "export"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "reference", export / "full_marks", ignore=skip)
    shutil.copytree(ROOT / "student_template", export / "template", symlinks=False, ignore=skip)
    shutil.copytree(make_submission("syntax_error", tmp_path / "made"), export / "syntax_error")
    shutil.copytree(ROOT / "reference", export / "hangs_once", ignore=skip)
    attention = export / "hangs_once" / "attention.py"
    attention.write_text(
        attention.read_text().replace(
            "    return math.sqrt(d)", "    while d == 16:  # case 4.8 times out\n        pass\n    return math.sqrt(d)"
        )
    )
    for name in (
        "unscaled_a",
        "unscaled_b",
    ):  # the same catalogued mistake twice: softmax attention without 1/sqrt(d_k)
        shutil.copytree(ROOT / "reference", export / name, ignore=skip)
        attention = export / name / "attention.py"
        attention.write_text(attention.read_text().replace("Q @ K.T / math.sqrt(d)", "Q @ K.T"))
    (export / "submission_metadata.yml").write_text(METADATA)
    out = tmp_path / "out"
    assert regrade(export, out, jobs=2) == (6, 0)
    return out


def test_report_of_a_real_regrade_renders_in_headless_chromium(graded_class, tmp_path):
    report_file = graded_class / "report.html"
    summaries = {
        s["submission"]: s
        for s in read_summaries(graded_class, ["full_marks", "template", "syntax_error", "hangs_once", "unscaled_a"])
    }
    assert summaries["unscaled_a"]["details"]["diagnoses"] == {"4.1": "attention without the 1/sqrt(d_k) scaling"}
    assert summaries["full_marks"]["total"] == sum(problem_points().values()) and summaries["template"]["total"] == 0
    # 4.9 calls attention_scale too: once it timed out in 4.8, it is not run again (a timeout at once)
    assert summaries["hangs_once"]["details"]["failed"] == {"4.8": "timeout", "4.9": "timeout"}

    screenshot = tmp_path / "report.png"
    browse(report_file, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1200,2000")
    from PIL import Image  # matplotlib's dependency, in requirements-dev.txt through it

    with Image.open(screenshot) as image:
        assert image.size == (1200, 2000)
        grey = image.convert("L").resize((120, 200))
        inked = sum(grey.histogram()[:200])  # pixels darker than the page's white
        assert inked > 0.02 * 120 * 200, "the screenshot is almost blank"

    page = Page(browse(report_file, tmp_path / "profile-dom", "--dump-dom"))
    text = page.all_text
    assert "6 submissions" in text and "median" in text
    assert "2 submissions attention without the 1/sqrt(d_k) scaling 4.1" in text  # the diagnosed mistake, counted
    assert all(title in text for title in problem_titles().values())
    assert "hangs_once Grace Hopper timeout: 4.8" in text  # the flagged timeout, with its case
    assert HOSTILE in text  # rendered as text, never as an element
    assert sorted(page.histograms) == sorted(problem_points()) and all(
        h["bars"] == 10 for h in page.histograms.values()
    )
    assert {"full_marks/index.html", "template/index.html", "syntax_error/index.html", "hangs_once/index.html"} <= set(
        page.links
    )
    assert all((graded_class / link).is_file() for link in page.links)
    assert "5 submissions with no attempt" not in text and "1 submission with no attempt" in text  # the template
    assert "syntax_error Alan Turing syntax error in attention.py" in text
    assert "Pass rate of every case" in text and "4.8 " in text.split("Pass rate of every case")[1]


def test_a_students_page_renders_in_headless_chromium(graded_class, tmp_path):
    page_file = graded_class / "hangs_once" / "index.html"
    assert (
        page_file.stat().st_mode & 0o777 == 0o644
        and (graded_class / "hangs_once" / "results.json").stat().st_mode & 0o777 == 0o600
    )
    screenshot = tmp_path / "page.png"
    browse(page_file, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1000,1400")
    from PIL import Image

    with Image.open(screenshot) as image:
        grey = image.convert("L").resize((100, 140))
        assert sum(grey.histogram()[:200]) > 0.02 * 100 * 140, "the screenshot is almost blank"
    page = Page(browse(page_file, tmp_path / "profile-dom", "--dump-dom"))
    results = json.loads((graded_class / "hangs_once" / "results.json").read_text())
    shown = [test for test in results["tests"] if test["visibility"] != "hidden"]
    text = page.all_text
    assert (
        "Grace Hopper" in text
        and f"Autograder score: {results['score']:g} / {sum(problem_points().values()):g}" in text
    )
    assert all(f"{test['number']} {test['name']}" in text for test in shown)
    assert "4.8 attention scale for d = 16 (failed) 0 / 0.5 attention_scale did not finish within" in text
    assert page.links == ["../report.html"]
    template = Page((graded_class / "template" / "index.html").read_text()).all_text
    assert HOSTILE in template  # the student's name, as text

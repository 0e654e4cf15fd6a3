"""DIR/<submission>/index.html: what the student sees on Gradescope, one self-contained page (inline CSS, no script).

Outputs are Markdown, as Gradescope reads them: rendered as CommonMark (with tables) by markdown-it-py when it is
installed (requirements-dev.txt, so in every checkout), raw HTML, links and images shown as text; without it, shown
as their Markdown source."""

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment
from markupsafe import Markup

if TYPE_CHECKING:  # markdown-it-py is optional (requirements-dev.txt): only the type is needed here
    from markdown_it import MarkdownIt
from autograder.homework import manifest

PAGE_MODE = 0o644  # the page holds only what the student is shown: readable by the TA who ran regrade
SHOWN_LATER = {
    "after_due_date": "shown to the student after the due date",
    "after_published": "shown to the student once grades are published",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 950px; color: #222; line-height: 1.4; }
.score { font-size: 1.2em; }
.test { border: 1px solid #ccc; border-radius: 4px; margin: 0.8em 0; }
.test h2 { font-size: 1em; margin: 0; padding: 0.4em 0.7em; background: #f2f2f2; display: flex; \
justify-content: space-between; }
.test.failed h2 { background: #fde8e8; }
.test.passed h2 { background: #e6f4ea; }
.later { color: #666; font-style: italic; padding: 0 0.7em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.4em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
.markdown { padding: 0 0.7em; }
.markdown pre { background: #f6f6f6; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; padding: 0.5em 0.7em; font-size: 0.88em; }
.none { color: #666; font-style: italic; }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}: {{ submission }}</title>
<style>{{ style }}</style>
</head>
<body>
<p><a href="../report.html">Class report</a></p>
<h1>{{ title }}: {{ submission }}</h1>
<p>{{ students or "No student named in the export." }}</p>
<p class="score"><strong>Autograder score: {{ score }} / {{ max_score }}</strong></p>
<p class="none">What the student sees on Gradescope: tests marked hidden are left out; {{ how_outputs_show }}.</p>
{% if output %}<h2>Autograder output</h2>
<div class="output">{{ output }}</div>{% endif %}
{% for test in tests %}<section class="test {{ test.status }}">
<h2><span>{{ test.number }} {{ test.name }} ({{ test.status }})</span>\
<span>{{ test.score }} / {{ test.max_score }}</span></h2>
{% if test.later %}<p class="later">{{ test.later }}</p>{% endif %}
{% if test.output %}{{ test.output }}{% endif %}
</section>
{% else %}<p class="none">No test is shown to the student.</p>
{% endfor %}
</body>
</html>
"""

PAGE = Environment(autoescape=True).from_string(TEMPLATE)


@cache
def markdown_renderer() -> "MarkdownIt | None":
    """markdown-it-py's CommonMark parser with tables, raw HTML escaped, links and images left as text; None without
    it."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return None
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable(["image", "link", "autolink"])


def rendered(markdown: str) -> Markup:
    """One output as safe HTML: rendered Markdown, or its escaped source in a <pre> without markdown-it-py."""
    renderer = markdown_renderer()
    if renderer is None:
        return Markup("<pre>%s</pre>") % markdown
    return Markup('<div class="markdown">') + Markup(renderer.render(markdown)) + Markup("</div>")


def points(value: float | str) -> str:
    return f"{round(float(value), 2):g}"


def test_status(test: dict) -> str:
    """ "passed" or "failed"; "not attempted" for an entry without a status (an optional task the student left out)."""
    if "status" not in test:
        return "not attempted"
    return "passed" if test["status"] == "passed" else "failed"


def shown_tests(results: dict) -> list:
    """The tests of a results.json dict that the student sees, each with its scores as text and when it shows."""
    shown = []
    for test in results.get("tests", []):
        if test.get("visibility", "visible") == "hidden":
            continue
        shown.append(
            {
                "number": str(test.get("number", "")),
                "name": str(test.get("name", "")),
                "status": test_status(test),
                "score": points(test.get("score", 0)),
                "max_score": points(test.get("max_score", 0)),
                "output": rendered(str(test.get("output", ""))) if test.get("output") else "",
                "later": SHOWN_LATER.get(test.get("visibility"), ""),
            }
        )
    return shown


def render_student_page(submission: str, students: str, results: dict) -> str:
    """The page of one submission from its results.json dict (as Gradescope reads it); every string is escaped."""
    max_score = sum(float(test.get("max_score", 0)) for test in results.get("tests", []))
    return PAGE.render(
        style=STYLE,
        title=manifest().title,
        submission=submission,
        students=students,
        score=points(results.get("score", 0)),
        max_score=points(max_score),
        output=rendered(str(results.get("output", ""))) if results.get("output") else "",
        tests=shown_tests(results),
        how_outputs_show=(
            "outputs are rendered as CommonMark, as Gradescope renders Markdown"
            if markdown_renderer()
            else "outputs are shown as the Markdown source Gradescope renders (markdown-it-py is not installed)"
        ),
    )


def write_student_page(folder: Path, submission: str, students: str, results: dict) -> Path:
    """folder/index.html, written through a temporary file and a rename, mode 0644."""
    path = Path(folder) / "index.html"
    temporary = path.with_name(".index.html.tmp")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PAGE_MODE)
    with os.fdopen(handle, "w", encoding="utf-8") as writer:
        os.fchmod(writer.fileno(), PAGE_MODE)  # whatever the umask
        writer.write(render_student_page(submission, students, results))
    os.replace(temporary, path)
    return path

"""The class report, DIR/report.html: one self-contained page (inline CSS and SVG, no script) from every summary.json.

Submissions with no attempt (an empty upload, the template untouched) are counted apart: they are left out of the
means, the histograms and the failure statistics. Each submission links to DIR/<name>/index.html, the student's view."""

import json
import statistics
from collections import Counter, defaultdict
from html import escape
from pathlib import Path
from urllib.parse import quote

from autograder import checks
from autograder.homework import manifest
from autograder.registry import all_cases, problem_points, problem_titles

FLAGGED = (checks.TIMEOUT, checks.CRASH, checks.MEMORY, checks.GRADER_ERROR)
BINS = 10  # bars per histogram
MOST_FAILED_SHOWN = 15  # rows of the most-failed table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.headline { font-size: 1.15em; }
.histograms { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; }
figcaption { font-size: 0.9em; max-width: 340px; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.flagged td { background: #fff3e0; }
.none { color: #666; font-style: italic; }
svg text { font-family: system-ui, sans-serif; font-size: 10px; fill: #222; }
svg rect.bar { fill: #4a78b5; }
svg line { stroke: #222; }
"""


def read_summaries(out_dir: str | Path, names: list[str]) -> list[dict]:
    """Every submission's summary.json (the CSV row plus "details"), in the order of `names`; missing ones are left
    out."""
    paths = [Path(out_dir) / name / "summary.json" for name in names]
    return [json.loads(path.read_text()) for path in paths if path.exists()]


def details(summary: dict) -> dict:
    """A summary's "details", with defaults for a summary written before they existed."""
    found = summary.get("details") or {}
    return {
        "failed": found.get("failed", {}),
        "diagnoses": found.get("diagnoses", {}),
        "behaviour": found.get("behaviour", {}),
        "max_total": found.get("max_total"),
        "no_attempt": bool(found.get("no_attempt")),
        "notes": found.get("notes", []),
    }


def attempted(summaries: list[dict]) -> list[dict]:
    """The summaries that count in the class statistics: all but those with no attempt."""
    return [s for s in summaries if not details(s)["no_attempt"]]


def points(value: float | str) -> str:
    """A score as a reader wants it: at most two decimals, no trailing zeros."""
    return f"{round(float(value), 2):g}"


def case_order(number: str) -> tuple[int, ...]:
    """Sort key of a case number such as "4.10"."""
    return tuple(int(part) for part in str(number).split(".") if part.isdigit())


def max_total(summaries: list[dict]) -> float:
    """The most a submission can score: the largest graded maximum, or the sum of the problems' points."""
    graded = [details(s)["max_total"] for s in summaries if details(s)["max_total"]]
    return max(graded) if graded else sum(problem_points().values())


def histogram(scores: list[float], top: float, bins: int = BINS) -> list[tuple[float, float, int]]:
    """[(low, high, count)] over [0, top] in `bins` equal bins; the last bin includes `top` itself."""
    width = top / bins
    counts = [0] * bins
    for score in scores:
        counts[min(max(int(score / width + 1e-9), 0), bins - 1)] += 1
    return [(i * width, (i + 1) * width, count) for i, count in enumerate(counts)]


def most_failed(summaries: list[dict], case_names: dict[str, str]) -> list[tuple[str, str, int, str]]:
    """[(case number, case name, submissions that failed it, most common category)], most failed first."""
    failures = defaultdict(Counter)
    for summary in summaries:
        for number, category in details(summary)["failed"].items():
            failures[number][category] += 1
    rows = []
    for number, categories in failures.items():
        commonest = min(categories, key=lambda category: (-categories[category], category))
        rows.append((number, case_names.get(number, ""), sum(categories.values()), commonest))
    return sorted(rows, key=lambda row: (-row[2], case_order(row[0])))


def pass_rates(summaries: list[dict], cases: list) -> list[tuple[str, str, int, int]]:
    """[(case number, case name, submissions that passed it, submissions graded)] for every case worth points, in order.

    Only submissions the grader could grade count (a run that graded nothing records no failed case)."""
    graded = [s for s in summaries if details(s)["max_total"]]
    rows = []
    for case in sorted(cases, key=lambda case: case_order(case.number)):
        if case.weight > 0:
            failed = sum(1 for s in graded if case.number in details(s)["failed"])
            rows.append((case.number, case.name, len(graded) - failed, len(graded)))
    return rows


def diagnosed_mistakes(summaries: list[dict]) -> list[tuple[str, int, list[str]]]:
    """[(diagnosis, submissions that made it, the cases that found it)], most common first."""
    who, where = defaultdict(set), defaultdict(set)
    for summary in summaries:
        for number, diagnosis in details(summary)["diagnoses"].items():
            who[diagnosis].add(summary["submission"])
            where[diagnosis].add(number)
    rows = [(diagnosis, len(who[diagnosis]), sorted(where[diagnosis], key=case_order)) for diagnosis in who]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def flags_of(summary: dict) -> dict[str, list[str]]:
    """flagged category -> the case numbers that ended in it; a run that graded no case is a grader error."""
    found = defaultdict(list)
    for number, category in details(summary)["failed"].items():
        if category in FLAGGED:
            found[category].append(number)
    if details(summary)["max_total"] == 0:
        found[checks.GRADER_ERROR].append("the whole run")
    for number, behaviour in details(summary)["behaviour"].items():
        found[behaviour].append(number)
    flags = {category: sorted(numbers, key=case_order) for category, numbers in found.items() if numbers}
    return {
        **flags,
        **{note: [] for note in details(summary)["notes"]},
    }  # syntax errors, an invalid log: no case number


def flagged_submissions(summaries: list[dict]) -> list[tuple[dict, dict[str, list[str]]]]:
    """[(summary, its flags)] for every submission with a timeout, crash, memory limit, grader error, process left
    running, syntax error or invalid log."""
    return [(summary, flags_of(summary)) for summary in summaries if flags_of(summary)]


def class_statistics(summaries: list[dict]) -> dict:
    """Number of submissions, of those with no attempt, mean and median total of the others (None when none), and the
    maximum."""
    totals = [float(s["total"]) for s in attempted(summaries)]
    return {
        "count": len(summaries),
        "no_attempt": len(summaries) - len(totals),
        "mean": statistics.fmean(totals) if totals else None,
        "median": statistics.median(totals) if totals else None,
        "max": max_total(summaries),
    }


def page_link(name: str) -> str:
    """The relative link to a submission's page (the folder name quoted, so it stays a relative path)."""
    return f"{quote(str(name), safe='')}/index.html"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_header(stats: dict) -> str:
    apart = (
        f" {plural(stats['no_attempt'], 'submission')} with no attempt (empty, or the template untouched) "
        "left out of every statistic below."
        if stats["no_attempt"]
        else ""
    )
    if stats["mean"] is None:
        totals = "No submission was attempted."
    else:
        totals = (
            f"Total: mean {points(stats['mean'])} / {points(stats['max'])}, "
            f"median {points(stats['median'])} / {points(stats['max'])}."
        )
    return (
        f"<h1>{escape(manifest().title)}: class report</h1>\n"
        f'<p class="headline"><strong>{plural(stats["count"], "submission")}</strong>.'
        f"{apart} {totals}</p>"
    )


def render_histogram(problem: str, scores: list[float]) -> str:
    """One problem's histogram as an inline <svg>: a <rect> per bin, its count above it, the bin edges below."""
    top = problem_points()[problem]
    bins = histogram(scores, top)
    left, bottom, bar, height = 40, 170, 28, 130  # plot origin, bar width and the tallest bar, in pixels
    tallest = max(count for _, _, count in bins) or 1
    parts = [
        f'<svg class="histogram" data-problem="{problem}" width="{left + bar * BINS + 20}" height="215" role="img">'
        f"<title>Problem {problem}: scores of {len(scores)} submissions</title>"
    ]
    for i, (low, _, count) in enumerate(bins):
        h = height * count / tallest
        x = left + i * bar
        parts.append(
            f'<rect class="bar" x="{x + 2}" y="{bottom - h:.1f}" width="{bar - 4}" height="{h:.1f}">'
            f"<title>{count}</title></rect>"
        )
        if count:
            parts.append(
                f'<text class="count" x="{x + bar / 2}" y="{bottom - h - 3:.1f}" text-anchor="middle">{count}</text>'
            )
        parts.append(f'<text class="tick" x="{x}" y="{bottom + 13}" text-anchor="middle">{points(low)}</text>')
    parts.append(
        f'<text class="tick" x="{left + bar * BINS}" y="{bottom + 13}" text-anchor="middle">{points(top)}</text>'
    )
    parts.append(
        f'<line x1="{left}" y1="{bottom}" x2="{left + bar * BINS}" y2="{bottom}"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{bottom - height}"/>'
    )
    parts.append(
        f'<text class="axis" x="{left + bar * BINS / 2}" y="{bottom + 32}" text-anchor="middle">'
        f"points (out of {top:g})</text>"
    )
    parts.append(
        f'<text class="axis" x="12" y="{bottom - height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {bottom - height / 2})">submissions</text>'
    )
    parts.append("</svg>")
    full = sum(1 for score in scores if score >= top - 1e-9)
    caption = (
        f"Problem {problem}: {escape(problem_titles()[problem])}<br>"
        f"mean {points(statistics.fmean(scores)) if scores else '-'}, full marks: {full}"
    )
    return f"<figure>{''.join(parts)}<figcaption>{caption}</figcaption></figure>"


def render_histograms(summaries: list[dict]) -> str:
    figures = [
        render_histogram(p, [float(s.get(f"problem {p}", 0)) for s in summaries])
        for p in sorted(problem_titles(), key=int)
    ]
    return '<h2>Scores per problem</h2>\n<div class="histograms">' + "\n".join(figures) + "</div>"


def render_table(headers: list[str], rows: list[str], empty: str) -> str:
    """A plain table of `rows`, each a finished <tr> element; `empty` is said instead when there are none."""
    if not rows:
        return f'<p class="none">{empty}</p>'
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "\n".join(rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def render_most_failed(summaries: list[dict], case_names: dict[str, str]) -> str:
    failed = most_failed(summaries, case_names)
    rows = [
        f"<tr><td>{escape(number)}</td><td>{escape(name)}</td>"
        f'<td class="number">{count} of {len(summaries)}</td><td>{escape(category)}</td></tr>'
        for number, name, count, category in failed[:MOST_FAILED_SHOWN]
    ]
    shown = (
        f"<p>The {MOST_FAILED_SHOWN} most failed of the {len(failed)} cases that someone failed.</p>\n"
        if len(failed) > MOST_FAILED_SHOWN
        else ""
    )
    return (
        "<h2>Cases failed most often</h2>\n"
        + shown
        + render_table(["case", "name", "failed by", "most common reason"], rows, "No case was failed.")
    )


def render_pass_rates(summaries: list[dict]) -> str:
    rows = [
        f'<tr><td>{escape(number)}</td><td>{escape(name)}</td><td class="number">{passed} of {graded}</td>'
        f'<td class="number">{round(100 * passed / graded) if graded else 0}%</td></tr>'
        for number, name, passed, graded in pass_rates(summaries, all_cases())
    ]
    return "<h2>Pass rate of every case</h2>\n" + render_table(
        ["case", "name", "passed by", "pass rate"], rows, "No case."
    )


def render_diagnoses(summaries: list[dict], case_names: dict[str, str]) -> str:
    rows = []
    for diagnosis, count, numbers in diagnosed_mistakes(summaries):
        cases = ", ".join(f'<span title="{escape(case_names.get(n, ""))}">{escape(n)}</span>' for n in numbers)
        rows.append(
            f'<tr><td class="number">{plural(count, "submission")}</td>'
            f"<td>{escape(diagnosis)}</td><td>{cases}</td></tr>"
        )
    return "<h2>Diagnosed mistakes</h2>\n" + render_table(
        ["how many", "mistake", "found by cases"], rows, "No catalogued mistake was recognised."
    )


def render_flags(summaries: list[dict]) -> str:
    rows = []
    for summary, flags in flagged_submissions(summaries):
        said = "; ".join(
            escape(f"{category}: {', '.join(numbers)}" if numbers else category) for category, numbers in flags.items()
        )
        rows.append(
            f'<tr><td><a href="{escape(page_link(summary["submission"]))}">{escape(summary["submission"])}</a></td>'
            f"<td>{escape(summary.get('students', ''))}</td><td>{said}</td></tr>"
        )
    return (
        "<h2>Flagged submissions</h2>\n"
        "<p>Timeouts, crashes, memory limits, grader errors and cases that left a process or thread running, "
        "with the cases they happened in; Python files that do not parse and invalid logs.</p>\n"
        + render_table(
            ["submission", "students", "flags"],
            rows,
            "No timeout, crash, memory limit, grader error, process left running, syntax error or invalid log.",
        )
    )


def render_submissions(summaries: list[dict]) -> str:
    problems, top = sorted(problem_titles(), key=int), problem_points()
    headers = (
        ["submission", "students", "submitted", "lateness", "total"]
        + [f"P{p} ({top[p]:g})" for p in problems]
        + ["attempt", "flags"]
    )
    rows = []
    for s in summaries:
        scores = "".join(f'<td class="number">{points(s.get(f"problem {p}", 0))}</td>' for p in problems)
        flagged = ' class="flagged"' if flags_of(s) else ""
        rows.append(
            f'<tr{flagged}><td><a href="{escape(page_link(s["submission"]))}">{escape(s["submission"])}</a></td>'
            f"<td>{escape(s.get('students', ''))}</td><td>{escape(s.get('submitted_at', ''))}</td>"
            f"<td>{escape(s.get('lateness', ''))}</td>"
            f'<td class="number">{points(s["total"])}</td>{scores}'
            f"<td>{escape(s.get('attempt', ''))}</td><td>{escape(s.get('flags', ''))}</td></tr>"
        )
    return (
        "<h2>All submissions</h2>\n"
        "<p>Each submission links to the page its students see on Gradescope (hidden tests left out); "
        "the submission time and lateness are the export's.</p>\n" + render_table(headers, rows, "No submission.")
    )


def render_report(summaries: list[dict]) -> str:
    """The whole page as a string."""
    case_names = {c.number: c.name for c in all_cases()}
    counted = attempted(summaries)
    sections = [
        render_header(class_statistics(summaries)),
        render_histograms(counted),
        render_most_failed(counted, case_names),
        render_pass_rates(counted),
        render_diagnoses(counted, case_names),
        render_flags(summaries),
        render_submissions(summaries),
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(manifest().title)}: class report</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(out_dir: str | Path, names: list[str], summaries: list[dict] | None = None) -> None:
    """DIR/report.html from the given summaries, or DIR/<name>/summary.json of every name; nothing is written when there
    is none."""
    summaries = read_summaries(out_dir, names) if summaries is None else summaries
    if summaries:
        (Path(out_dir) / "report.html").write_text(render_report(summaries), encoding="utf-8")

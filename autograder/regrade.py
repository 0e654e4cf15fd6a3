"""`python -m autograder regrade EXPORT --jobs N --out DIR`: grade a whole class's submissions.

EXPORT is Gradescope's "Export Submissions" (a folder or its zip: one folder per submission and
`submission_metadata.yml` naming the students) or a plain folder of submission folders. Each
submission gets DIR/<submission>/results.json and summary.json; DIR/grades.csv has a row per
submission and DIR/report.html is the class report (autograder/report.py). A submission already
graded is skipped, so an interrupted run resumes where it stopped. Jobs share nothing but the
queue: each is a process of its own with its own warm worker.
"""
import csv
import json
import multiprocessing
import queue
import re
import shutil
import sys
import time
import traceback
import zipfile
from collections import Counter
from pathlib import Path

from autograder.cases import PROBLEM_POINTS, all_cases
from autograder.grade import grade, problem_scores
from autograder.report import FLAGGED, write_report
from autograder.results import grader_failure, write_results
from autograder.sandbox import WarmWorker

METADATA = "submission_metadata.yml"


def unpack_export(export, out):
    """The export as a folder: itself, or its zip extracted under out/_export (no member may escape it)."""
    export = Path(export)
    if export.is_dir():
        return export
    target = Path(out) / "_export"
    with zipfile.ZipFile(export) as archive:
        for member in archive.infolist():
            path = (target / member.filename).resolve()
            if target.resolve() not in path.parents and path != target.resolve():
                raise ValueError(f"the zip member {member.filename!r} would land outside {target}")
        archive.extractall(target)
    folders = [p for p in target.iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 and not (target / METADATA).exists() and (folders[0] / METADATA).exists() else target


def read_submitters(folder):
    """submission folder name -> [{"name", "email", "sid"}], from Gradescope's metadata file.

    The file is YAML with Ruby-style keys (`:submitters:`, `:name:`); only these few keys are
    needed, so it is read line by line rather than with a YAML library.
    """
    path = Path(folder) / METADATA
    if not path.exists():
        return {}
    people, current = {}, None
    for line in path.read_text(errors="replace").splitlines():
        top = re.match(r"^(\S[^:]*):\s*$", line)
        if top:
            current = top.group(1).strip("'\"")
            people[current] = []
            continue
        field = re.match(r"^\s*-?\s*:(name|email|sid):\s*(.*)$", line)
        if field and current is not None:
            key, value = field.group(1), field.group(2).strip().strip("'\"")
            if line.lstrip().startswith("-") or not people[current] or key in people[current][-1]:
                people[current].append({})
            people[current][-1][key] = value
    return people


def submissions_in(folder):
    """(name, folder) of every submission: the metadata's folders, or every subfolder."""
    folder = Path(folder)
    named = read_submitters(folder)
    names = sorted(named) if named else sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    return [(name, folder / name) for name in names if (folder / name).is_dir()]


def summarise(name, results, people):
    """The CSV row of one graded submission."""
    flagged = Counter(t.category for t in results.tests if t.status == "failed" and t.category in FLAGGED)
    flagged.update("left a process running" for t in results.tests if t.behaviour)
    scores = problem_scores(results.tests)
    return {
        "submission": name,
        "students": "; ".join(p.get("name", "") for p in people),
        "emails": "; ".join(p.get("email", "") for p in people),
        "sids": "; ".join(p.get("sid", "") for p in people),
        "total": results.score,
        **{f"problem {p}": scores.get(p, (0, 0))[0] for p in sorted(PROBLEM_POINTS)},
        "flags": ", ".join(f"{flag} x{count}" for flag, count in flagged.items()),
        "seconds": round(results.execution_time, 2),
    }


def case_details(results):
    """What the class report needs beyond the CSV row: each failed case's category, diagnosis and odd behaviour."""
    return {
        "failed": {t.number: t.category for t in results.tests if t.status == "failed" and t.max_score > 0},
        "diagnoses": {t.number: t.diagnosis for t in results.tests if t.diagnosis},
        "behaviour": {t.number: t.behaviour for t in results.tests if t.behaviour},
        "max_total": results.max_score,
    }


def grade_one(name, folder, out, worker, people):
    """Grade one submission into out/<name>/; a failure of the grader still leaves a results file."""
    target = Path(out) / name
    try:
        results = grade(folder, worker=worker)
    except Exception:
        results = grader_failure(traceback.format_exc())
    write_results(results, target / "results.json")
    row = summarise(name, results, people)
    (target / "summary.json").write_text(json.dumps({**row, "details": case_details(results)}))


class Progress:
    """A one-line progress bar with an estimate of the time left, on stderr (advanced by the main process only)."""

    def __init__(self, total, already):
        self.total, self.done, self.started, self.already = total, already, time.monotonic(), already

    def advance(self):
        self.done += 1
        fresh = self.done - self.already
        left = (time.monotonic() - self.started) / fresh * (self.total - self.done) if fresh else 0
        filled = int(30 * self.done / max(self.total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}  ETA {left:5.0f} s")
        sys.stderr.flush()


def job_slot(work, done, out, people):
    """One job slot, in its own process (no lock shared with the others): a warm worker, then submissions until the queue says stop."""
    with WarmWorker() as worker:
        for name, path in iter(work.get, None):
            grade_one(name, path, out, worker, people.get(name, []))
            done.put(name)


def regrade(export, out, jobs=1):
    """Grade every submission of an export not graded yet; write grades.csv; return (graded now, skipped)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folder = unpack_export(export, out)
    people = read_submitters(folder)
    everything = submissions_in(folder)
    todo = [(name, path) for name, path in everything if not (out / name / "summary.json").exists()]
    progress = Progress(len(everything), len(everything) - len(todo))
    all_cases()  # import the cases once, before the jobs fork
    context = multiprocessing.get_context("fork")  # this process never imports torch or student code: forking it is cheap
    work, done = context.Queue(), context.Queue()
    slots = max(1, min(jobs, len(todo)))
    for item in todo + [None] * slots:
        work.put(item)
    processes = [context.Process(target=job_slot, args=(work, done, out, people), daemon=True) for _ in range(slots)]
    for process in processes:
        process.start()
    while any(process.is_alive() for process in processes) or not done.empty():
        try:
            done.get(timeout=0.2)
            progress.advance()
        except queue.Empty:
            pass
    for name, path in todo:  # a job slot that died took its submission with it: grade that one here
        if not (out / name / "summary.json").exists():
            with WarmWorker() as worker:
                grade_one(name, path, out, worker, people.get(name, []))
            progress.advance()
    sys.stderr.write("\n")
    write_csv(out, [name for name, _ in everything])
    write_report(out, [name for name, _ in everything])
    if (out / "_export").exists():
        shutil.rmtree(out / "_export")
    return len(todo), len(everything) - len(todo)


def write_csv(out, names):
    """grades.csv from every submission's summary.json (so a resumed run lists them all)."""
    rows = [json.loads((out / name / "summary.json").read_text()) for name in names if (out / name / "summary.json").exists()]
    rows = [{key: value for key, value in row.items() if key != "details"} for row in rows]
    if not rows:
        return
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

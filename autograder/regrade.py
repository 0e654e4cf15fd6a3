"""`python -m autograder regrade EXPORT --jobs N --out DIR [--force] [--due TIME]`: grade a whole class's submissions.

EXPORT is Gradescope's "Export Submissions" (a folder or its zip: one folder per submission and
`submission_metadata.yml` naming the students) or a plain folder of submission folders; it is read
as untrusted data (autograder/export.py). Each submission gets DIR/<safe name>/results.json,
summary.json and index.html (the student's view); DIR/grades.csv has a row per submission (with the
export's submission time and lateness, and whether anything was attempted) and DIR/report.html is
the class report.

Resuming: DIR/.regrade-state.json, written only by this process, remembers each graded submission's
content hash (its files, links not followed) and the grader's version (a hash of autograder/ and
reference/). A submission is skipped only when both still match and its results.json is there;
nothing a submission contains is ever taken as proof of grading. --force regrades everything. One
submission's failure (an unreadable folder, a grader crash, a bad name) costs that submission only:
it gets a results.json saying the grader could not grade it and its row in grades.csv.
"""

import csv
import json
import multiprocessing
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from types import FrameType

from autograder import PROJECT_ROOT, checks
from autograder.attempt import Attempt, inspect_upload
from autograder.export import (
    METADATA,
    Entry,
    ExportError,
    Limits,
    SubmissionTooLarge,
    check_apart,
    content_hash,
    export_root,
    list_submissions,
    output_folder,
    printable,
    read_metadata,
    read_regular_file,
    unpack_zip,
)
from autograder.grade import grade, problem_scores
from autograder.homework import HOMEWORK, REFERENCE
from autograder.lateness import lateness_text
from autograder.registry import all_cases, problem_titles
from autograder.report import FLAGGED, write_report
from autograder.results import Results, grader_failure, to_gradescope_dict, write_results
from autograder.sandbox import WarmWorker
from autograder.student_page import write_student_page

STATE = ".regrade-state.json"
NOTES = "regrade-notes.txt"
STATE_CAP = 256 << 20
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP: a cell starting with these may run as a spreadsheet formula

__all__ = ["regrade", "ExportError", "METADATA"]


# ---------------------------------------------------------------- rows


def submission_notes(results: Results, attempt: Attempt | None) -> list[str]:
    """What the report flags about the files themselves: Python files that do not parse, a log handed in but invalid."""
    notes = [f"syntax error in {name}" for name in (attempt.syntax_errors if attempt else [])]
    log_handed_in = attempt is None or attempt.has_log  # the grader says "invalid" of a missing log too
    if log_handed_in and any(t.category == checks.INVALID_LOG for t in results.tests):
        notes.append("invalid submission_log.json")
    return notes


def attempt_status(results: Results, attempt: Attempt | None) -> str:
    """The attempt column: "no attempt" for an empty upload or the untouched template scoring nothing, else "attempted";
    "" when the files could not be read or nothing was graded."""
    if attempt is None or results.max_score == 0:
        return ""
    return "no attempt" if not attempt.attempted and results.score == 0 else "attempted"


def export_fields(entry: Entry) -> dict:
    """The row's cells that come from the export's metadata, not from grading: refreshed on every run."""
    return {
        "students": "; ".join(p.get("name", "") for p in entry.people),
        "emails": "; ".join(p.get("email", "") for p in entry.people),
        "sids": "; ".join(p.get("sid", "") for p in entry.people),
        "submitted_at": entry.submitted_at,
        "lateness": entry.lateness,
    }


def summarise(entry: Entry, results: Results, attempt: Attempt | None = None) -> dict:
    """The CSV row of one graded submission (student text already printable)."""
    flagged = Counter(t.category for t in results.tests if t.status == "failed" and t.category in FLAGGED)
    flagged.update("left a process running" for t in results.tests if t.behaviour)
    if results.max_score == 0:  # the grader's failure notice only: no case was graded
        flagged["could not be graded"] += 1
    flagged.update(submission_notes(results, attempt))
    scores = problem_scores(results.tests)
    fields = export_fields(entry)
    return {
        "submission": entry.output,
        "folder": entry.name,
        **{key: fields[key] for key in ("students", "emails", "sids")},
        "total": results.score,
        **{f"problem {p}": scores.get(p, (0, 0))[0] for p in sorted(problem_titles())},
        "flags": ", ".join(f"{flag} x{count}" for flag, count in flagged.items()),
        "seconds": round(results.execution_time, 2),
        "submitted_at": fields["submitted_at"],
        "lateness": fields["lateness"],
        "attempt": attempt_status(results, attempt),
    }


def case_details(results: Results, attempt: Attempt | None = None) -> dict:
    """What the class report needs beyond the CSV row: each failed case's category, diagnosis and odd behaviour,
    whether anything was attempted and what is wrong with the files themselves."""
    return {
        "no_attempt": attempt_status(results, attempt) == "no attempt",
        "notes": submission_notes(results, attempt),
        "failed": {t.number: t.category for t in results.tests if t.status == "failed" and t.max_score > 0},
        "diagnoses": {t.number: t.diagnosis for t in results.tests if t.diagnosis},
        "behaviour": {t.number: t.behaviour for t in results.tests if t.behaviour},
        "max_total": results.max_score,
    }


def record(entry: Entry, results: Results, out: str | Path, attempt: Attempt | None = None) -> dict:
    """Write out/<entry.output>/results.json, summary.json and index.html (the student's view); return the summary."""
    summary = {**summarise(entry, results, attempt), "details": case_details(results, attempt)}
    target = output_folder(out, entry.output)
    write_results(results, target / "results.json")
    write_atomically(target / "summary.json", json.dumps(summary))
    write_student_page(target, entry.output, summary["students"], to_gradescope_dict(results))
    return summary


def could_not_grade(entry: Entry, out: str | Path, reason: str) -> dict:
    """The results of a submission the grader could not grade, written if its folder allows; the summary either way."""
    results = grader_failure(f"regrade could not grade export entry {entry.name!r}: {reason}")
    try:
        return record(entry, results, out)
    except Exception:  # even the output folder is unusable: the row still goes into grades.csv
        return {**summarise(entry, results), "details": case_details(results)}


def grade_one(entry: Entry, out: str | Path, worker: WarmWorker | None) -> dict:
    """Grade one submission into out/<entry.output>/; whatever fails, a summary comes back."""
    if entry.problem:
        return could_not_grade(entry, out, entry.problem)
    try:
        results = grade(entry.path, worker=worker)
    except Exception:
        results = grader_failure(traceback.format_exc())
    try:
        attempt = inspect_upload(entry.path)
    except Exception:  # the files could not be read again: nothing is said about the attempt
        attempt = None
    try:
        return record(entry, results, out, attempt)
    except Exception:
        return could_not_grade(entry, out, traceback.format_exc(limit=3))


# ---------------------------------------------------------------- state


def write_atomically(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as writer:
            writer.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_state(out: str | Path, notes: list[str]) -> dict:
    """output name -> {"content", "grader", "summary"} from out/.regrade-state.json ({} when absent or unusable)."""
    path = Path(out) / STATE
    if not os.path.lexists(path):
        return {}
    try:
        state = json.loads(read_regular_file(path, STATE_CAP))
        graded = state["submissions"]
        if not isinstance(graded, dict):
            raise ValueError("no table of submissions")
        return {
            name: item
            for name, item in graded.items()
            if isinstance(item, dict) and isinstance(item.get("summary"), dict)
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        notes.append(f"{STATE} could not be read ({printable(error)[:200]}); everything is graded again")
        return {}


def save_state(out: str | Path, graded: dict) -> None:
    write_atomically(Path(out) / STATE, json.dumps({"format": 1, "submissions": graded}))


def grader_version() -> str:
    """A hash of the grader's own sources and the reference: changing either regrades every submission."""
    folders = [PROJECT_ROOT / "autograder", HOMEWORK, REFERENCE]  # the engine, the homework's cases, its reference
    parts = [
        content_hash(folder, skip={"__pycache__"}, max_entries=10**6) if folder.is_dir() else "absent"
        for folder in folders
    ]
    return "-".join(part[:16] for part in parts)


# ---------------------------------------------------------------- the run


class Progress:
    """A one-line progress bar on stderr (advanced by the main process only): done/total, the submission being graded
    and for how long, and an estimate of the time left ("unknown" until one is graded, or while a submission runs
    past the estimate)."""

    def __init__(self, total: int, already: int):
        self.total, self.done, self.already = total, already, already
        self.started = self.last_done = self.last_shown = time.monotonic()
        self.running = {}  # index -> (printable name, when it started)

    def start(self, index: int, name: str) -> None:
        self.running[index] = (printable(name)[:60], time.monotonic())
        self.show()

    def advance(self, index: int | None = None) -> None:
        self.running.pop(index, None)
        self.done += 1
        self.last_done = time.monotonic()
        self.show()

    def tick(self) -> None:
        """Refresh the line about once a second, so that the time of the running submission moves."""
        if time.monotonic() - self.last_shown >= 1:
            self.show()

    def show(self) -> None:
        self.last_shown = time.monotonic()
        sys.stderr.write("\r" + self.line(self.last_shown) + "\x1b[K")
        sys.stderr.flush()

    def line(self, now: float) -> str:
        """The progress line at time `now` (time.monotonic())."""
        filled = int(30 * self.done / max(self.total, 1))
        text = f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
        if self.running:
            name, since = min(self.running.values(), key=lambda item: item[1])
            more = f" and {len(self.running) - 1} more" if len(self.running) > 1 else ""
            text += f"  grading {name} ({now - since:.0f} s){more}"
        return f"{text}  ETA {self.eta(now)}"

    def eta(self, now: float) -> str:
        fresh = self.done - self.already
        if self.done >= self.total:
            return "0 s"
        if not fresh:
            return "unknown"
        left = (self.last_done - self.started) / fresh * (self.total - self.done) - (now - self.last_done)
        return f"{left:.0f} s" if left >= 1 else "unknown"


def job_slot(work: Queue, done: Queue, out: str | Path) -> None:
    """One job slot, in its own process (sharing no lock): a warm worker, then submissions until told to stop.

    Ctrl-C is the main process's to handle: it ends the slots with SIGTERM, which unwinds the grading under way, so
    that its worker is killed and its folders (the submission's copy, hidden inputs) are removed (stop_slots).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, leave_slot)
    with WarmWorker() as worker:
        for index, entry in iter(work.get, None):
            done.put(("started", index, entry.output))
            done.put(("graded", index, grade_one(entry, out, worker)))


def leave_slot(signum: int, frame: FrameType | None) -> None:
    """SIGTERM in a job slot: unwind once (a second signal must not cut the clean-up short)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def stop_slots(processes: Sequence[BaseProcess], seconds: float = 30.0) -> None:
    """End the job slots (their clean-up included) and wait for them; a slot still there after `seconds` is killed."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + seconds
    for process in processes:
        process.join(max(deadline - time.monotonic(), 0))
        if process.is_alive():
            process.kill()
            process.join()


@contextmanager
def unpacked(export: str | Path, out: str | Path, notes: list[str], limits: Limits) -> Iterator[Path]:
    """The export as a folder: itself, or its zip unpacked into a fresh hidden folder of out (removed afterwards)."""
    export = Path(export)
    if export.is_dir():
        yield export_root(export)
        return
    for stale in Path(out).glob(".unpacked-*"):  # left by a run that was killed
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    target = Path(tempfile.mkdtemp(prefix=".unpacked-", dir=out))
    try:
        unpack_zip(export, target, notes, limits)
        yield export_root(target)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def regrade(
    export: str | Path,
    out: str | Path,
    jobs: int = 1,
    force: bool = False,
    limits: Limits = Limits(),
    due: datetime | None = None,
) -> tuple[int, int]:
    """Grade every submission of an export not graded yet (all with `force`); write grades.csv and report.html.

    `due` (an aware datetime) gives each submission whose metadata states no lateness one computed from its time.

    Returns (graded now, skipped as already graded). Raises ExportError when the export cannot be used at all.
    """
    out = Path(out)
    check_apart(export, out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    with unpacked(export, out, notes, limits) as folder:
        times = {}
        entries = list_submissions(folder, read_metadata(folder, notes, limits, times), notes, times)
        for entry in entries:
            if due is not None and not entry.lateness:
                entry.lateness = lateness_text(entry.submitted_at, due)
        version, state = grader_version(), ({} if force else load_state(out, notes))
        graded, todo = {}, []
        for index, entry in enumerate(entries):
            fingerprint = fingerprint_of(entry, version, limits)
            known = state.get(entry.output, {})
            if not entry.problem and known.get("fingerprint") == fingerprint and usable(known, entry, out):
                graded[entry.output] = {**known, "summary": {**known["summary"], **export_fields(entry)}}
            else:
                todo.append((index, entry, fingerprint))
        skipped = len(graded)
        run_jobs(todo, out, jobs, graded, Progress(len(entries), skipped))
    summaries = [graded[entry.output]["summary"] for entry in entries if entry.output in graded]
    write_csv(out, summaries)
    write_report(out, [s["submission"] for s in summaries], summaries)
    write_notes(out, notes)
    return len(entries) - skipped, skipped


def fingerprint_of(entry: Entry, version: str, limits: Limits) -> str | None:
    """The grader's version and the submission's content hash; an unreadable folder becomes the entry's problem."""
    if entry.problem:
        return None
    try:
        return f"{version}:{content_hash(entry.path, max_entries=limits.entries_per_submission)}"
    except (OSError, SubmissionTooLarge) as error:
        entry.problem = f"its folder could not be read: {printable(error)[:300]}"
        return None


def usable(known: dict, entry: Entry, out: str | Path) -> bool:
    """A remembered grade is reused only when it is for this output folder and its results.json and page are still
    there."""
    summary, folder = known["summary"], Path(out) / entry.output
    paths = [folder / "results.json", folder / "index.html"]
    return (
        summary.get("submission") == entry.output
        and isinstance(summary.get("details"), dict)
        and all(not path.is_symlink() and path.is_file() for path in paths)
    )


def take(done: Queue, keep: Callable[[int, dict], None], progress: Progress) -> None:
    """Take the slots' next message, if one comes soon: a submission started, or its summary."""
    try:
        kind, index, what = done.get(timeout=0.2)
    except queue.Empty:
        progress.tick()
        return
    if kind == "started":
        progress.start(index, what)
    else:
        keep(index, what)


def run_jobs(
    todo: list[tuple[int, Entry, str | None]], out: str | Path, jobs: int, graded: dict, progress: Progress
) -> None:
    """Grade `todo` in `jobs` forked slots; each summary lands in `graded` (and the state file) as it arrives."""
    fingerprints = {index: (entry, fingerprint) for index, entry, fingerprint in todo}

    def keep(index, summary):
        entry, fingerprint = fingerprints.pop(index)
        if not summary["details"]["max_total"]:  # the grader failed on it: try again next time
            fingerprint = None
        graded[entry.output] = {"fingerprint": fingerprint, "summary": summary}
        if fingerprint:  # only what was really graded is remembered as graded
            save_state(out, {name: item for name, item in graded.items() if item.get("fingerprint")})
        progress.advance(index)

    gradable = [(index, entry) for index, entry, _ in todo if not entry.problem]
    for index, entry, _ in todo:
        if entry.problem:
            keep(index, could_not_grade(entry, out, entry.problem))
    if gradable:
        all_cases()  # import the cases once, before the jobs fork
        context = multiprocessing.get_context("fork")  # no torch or student code here: forking is cheap
        work, done = context.Queue(), context.Queue()
        slots = max(1, min(jobs, len(gradable)))
        for item in gradable + [None] * slots:
            work.put(item)
        processes = [context.Process(target=job_slot, args=(work, done, out), daemon=True) for _ in range(slots)]
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the slots are born ignoring Ctrl-C (job_slot)
        try:
            for process in processes:
                process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        try:
            while any(process.is_alive() for process in processes) or not done.empty():
                take(done, keep, progress)
        except KeyboardInterrupt:  # Ctrl-C: the slots stop and clean up; what they finished is still kept
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut that short
            try:
                stop_slots(processes)
                while not done.empty():
                    take(done, keep, progress)
                sys.stderr.write("\n")
            finally:
                signal.signal(signal.SIGINT, previous)
            raise
    for index in list(fingerprints):  # a job slot that died took its submission with it: grade that one here
        entry, _ = fingerprints[index]
        try:
            with WarmWorker() as worker:
                summary = grade_one(entry, out, worker)
        except Exception:
            summary = could_not_grade(entry, out, traceback.format_exc())
        keep(index, summary)
    sys.stderr.write("\n")


# ---------------------------------------------------------------- class files


def neutralised(cell: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula (OWASP's CSV injection advice); numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def write_csv(out: str | Path, summaries: list[dict]) -> None:
    """grades.csv: one row per submission, every text cell neutralised and quoted, numbers left bare."""
    rows = [{key: neutralised(value) for key, value in s.items() if key != "details"} for s in summaries]
    if not rows:
        return
    fields = list(dict.fromkeys(key for row in rows for key in row))
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=out)
    with os.fdopen(handle, "w", newline="", encoding="utf-8") as writer:
        table = csv.DictWriter(writer, fieldnames=fields, restval="", quoting=csv.QUOTE_NONNUMERIC)
        table.writeheader()
        table.writerows(rows)
    os.replace(temporary, Path(out) / "grades.csv")


def write_notes(out: str | Path, notes: list[str]) -> None:
    """What was refused or odd in the export, for the TA: on stderr and in out/regrade-notes.txt."""
    path = Path(out) / NOTES
    if not notes:
        if path.is_file() and not path.is_symlink():
            path.unlink()
        return
    text = "\n".join(printable(note) for note in notes) + "\n"
    sys.stderr.write(f"regrade notes ({len(notes)}), also in {path}:\n{text}")
    write_atomically(path, text)

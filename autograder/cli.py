"""Command line of the autograder: `python -m autograder {grade,check} ...` (spec, section 6)."""

import argparse
import os
import shlex
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import NoReturn

from autograder.homework import STUDENT_BUNDLE, manifest
from autograder.registry import problem_titles
from autograder.results import Results


def use_colour(choice: str) -> bool:
    """--color auto: colour on a terminal, unless NO_COLOR is set or TERM is dumb (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def print_report(results: Results, expand: str = "none", colour: bool = False) -> None:
    """One line per case, then points per problem. expand: "none", "first" (first failure of each problem) or "all"."""
    from autograder.check_summary import build_report, report_text

    print(report_text(build_report(results, expand), colour))


class GradingStopped(Exception):
    """The grader was told to stop (SIGTERM) before it finished."""


def stop_grading(signum: int, frame: FrameType | None) -> NoReturn:
    raise GradingStopped("the grader was stopped by the time limit (SIGTERM) before it finished")


def grade_command(folder: str | Path, results_path: str | Path) -> int:
    """Grade with every case, write results.json (even when the grader fails), print a summary; exit 0."""
    from autograder.grade import grade, grader_errors
    from autograder.results import grader_failure, printable, write_results

    signal.signal(signal.SIGTERM, stop_grading)  # run_autograder's time limit: stop the worker, write results.json
    try:
        results = grade(folder)
    except Exception:
        details = traceback.format_exc()
        write_results(grader_failure(details), results_path)
        print(f"The grader failed; results.json says so (its hidden entry 0.2 holds this):\n{details}", file=sys.stderr)
        return 0
    write_results(results, results_path)
    print_report(results, colour=use_colour("auto"))
    for details, numbers in grader_errors(results).items():  # the student sees "contact course staff"; staff see why
        cases = f"case{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"
        print(
            f"\ngrader error in {cases} (the student is told to contact course staff; results.json keeps this in its "
            f"hidden entries):\n{printable(details)}",
            file=sys.stderr,
        )
    staff = next((test for test in results.tests if test.number == "0.1"), None)
    if staff is not None:
        print(f"\nIsolation (this part is for course staff):\n{printable(staff.output)}")
    print(f"\nwrote {results_path}")
    return 0


def check_command(
    folder: str | Path,
    verbose: bool = False,
    colour_choice: str = "auto",
    problem: str | None = None,
    results_path: str | Path | None = None,
) -> int:
    """A student's self-check: the public cases only (of one problem, or all), the first failure of each problem
    explained; with `results_path`, also their results.json. Exit 1 when a public case fails."""
    from autograder.check_summary import build_report, report_text
    from autograder.grade import grade
    from autograder.registry import public_cases
    from autograder.results import write_results

    signal.signal(signal.SIGTERM, stop_grading)  # the notebook's time limit: stop the worker, remove its folders
    cases = None if problem is None else [case for case in public_cases() if case.problem == problem]
    try:
        results = grade(folder, public_only=True, cases=cases)
    except GradingStopped as stopped:
        print(f"check: {stopped}", file=sys.stderr)
        return 3
    if results_path:
        write_results(results, results_path)
    print(f"Self-check of {folder} on the public cases{'' if problem is None else f' of problem {problem}'}")
    if not hasattr(os, "geteuid") or os.geteuid() != 0:  # Windows has no geteuid
        print(
            "(isolation is process-only here: your code runs as you, in separate processes with time limits, "
            "and memory limits on Linux)"
        )
    report = build_report(results, expand="all" if verbose else "first")
    print(report_text(report, colour=use_colour(colour_choice)))
    print(f"\n{report.verdict}")
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description=f"Autograder for {manifest().title} (Gradescope-style)."
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    check_parser = verbs.add_parser(
        "check", help="self-check a submission on the public tests (exit status 1 if one fails)"
    )
    check_parser.add_argument(
        "folder", nargs="?", default=".", metavar="DIR", help="the submission folder (default: the current folder)"
    )
    check_parser.add_argument(
        "--verbose", "-v", action="store_true", help="explain every failure, not only the first of each problem"
    )
    check_parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the output (auto: on a terminal, unless NO_COLOR is set)",
    )
    check_parser.add_argument(
        "--problem",
        choices=sorted(problem_titles()),
        metavar="N",
        help=f"run only problem N's public cases (N: {', '.join(problem_titles())})",
    )
    check_parser.add_argument(
        "--results",
        metavar="FILE",
        help="also write the results of the public cases to FILE (Gradescope's results.json format)",
    )
    if STUDENT_BUNDLE:  # the students' bundle has the public cases only: nothing to grade for real, nothing to build
        return parser
    grade_parser = verbs.add_parser(
        "grade", help="grade a submission folder with every test; write a Gradescope results.json"
    )
    grade_parser.add_argument(
        "folder", metavar="DIR", help="the submission folder (files at its top level or in one folder inside it)"
    )
    grade_parser.add_argument(
        "--results",
        default="results.json",
        metavar="FILE",
        help="where to write results.json (default: ./results.json)",
    )
    build_parser_ = verbs.add_parser(
        "build", help="build a bundle: `build gradescope OUT.zip` for Gradescope, `build student OUT.zip` for students"
    )
    build_parser_.add_argument("kind", choices=["gradescope", "student"], help="which bundle")
    build_parser_.add_argument("out", metavar="OUT.zip", help="where to write the zip")
    regrade_parser = verbs.add_parser(
        "regrade",
        help="grade every submission of a Gradescope export (folder or zip) or a folder of submission folders",
    )
    regrade_parser.add_argument("export", metavar="EXPORT")
    regrade_parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="submissions graded at once (default 1)"
    )
    regrade_parser.add_argument(
        "--out", required=True, metavar="DIR", help="where results.json per submission and grades.csv go"
    )
    regrade_parser.add_argument(
        "--force", action="store_true", help="grade every submission again, even those graded before"
    )
    regrade_parser.add_argument(
        "--due",
        metavar="TIME",
        help="the due date with its UTC offset, e.g. '2026-10-29 23:59 -07:00': "
        "grades.csv's lateness of each submission whose metadata states none",
    )
    validate_parser = verbs.add_parser(
        "validate", help="check the hidden suite: reference full marks, template zero, mutants caught"
    )
    validate_parser.add_argument("--all", action="store_true", help="grade every mutant, not a sample")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb == "grade":
        return grade_command(args.folder, args.results)
    if args.verb == "check":
        return check_command(args.folder, args.verbose, args.color, args.problem, args.results)
    if args.verb == "regrade":
        from autograder.lateness import parse_time
        from autograder.regrade import ExportError, regrade

        due = parse_time(args.due) if args.due else None
        if args.due and due is None:
            print(
                f"regrade: --due {args.due!r} is not a time with its UTC offset, such as '2026-10-29 23:59 -07:00'",
                file=sys.stderr,
            )
            return 2
        try:
            graded, skipped = regrade(args.export, args.out, args.jobs, force=args.force, due=due)
        except ExportError as error:
            print(f"regrade: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            command = shlex.join(
                [os.path.basename(sys.executable), "-m", "autograder", *(sys.argv[1:] if argv is None else argv)]
            )
            print(
                f"\nregrade interrupted: the submissions graded so far are kept in {args.out} and will not be graded "
                f"again; to resume, run the same command:\n  {command}",
                file=sys.stderr,
            )
            return 130
        print(f"graded {graded}, skipped {skipped} already graded; wrote {args.out}/grades.csv")
        return 0
    if args.verb == "validate":
        from autograder.validate import validate

        return validate(everything=args.all)
    if args.verb == "build":
        from autograder.build import build_gradescope, build_student

        if args.kind == "student":
            print(
                f"wrote {build_student(args.out)}: the starter files, the public cases and `python -m autograder check`"
            )
        else:
            print(f"wrote {build_gradescope(args.out)}: upload it as the autograder of the Gradescope assignment")
        return 0
    parser.print_help()
    return 2

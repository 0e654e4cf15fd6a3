"""Command line of the autograder: `python -m autograder {check,grade} ...`."""
import argparse
import sys

from autograder.submission import SubmissionNotFound, locate


def check(folder):
    """Run the public cases on a submission folder, print a summary, return the exit status."""
    from autograder.public_cases import public_cases
    from autograder.runner import run_case

    try:
        root = locate(folder)
    except SubmissionNotFound as error:
        print(f"error: {error}")
        return 2
    print(f"Checking {root} on the public cases")
    results = [run_case(root, case) for case in public_cases()]
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        print(f"  {mark} {result.number:>4} {result.name}" + ("" if result.passed else f"\n         {result.message}"))
    passed = sum(r.passed for r in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    print("The hidden tests on Gradescope check more cases than these.")
    return 0 if passed == len(results) else 1


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m autograder", description="Autograder for EECS 182 Homework 9 (Gradescope-style).")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    check_parser = verbs.add_parser("check", help="self-check a submission on the public cases (exit 1 if one fails)")
    check_parser.add_argument("folder", nargs="?", default=".", metavar="DIR", help="the submission folder (default: the current folder)")
    grade_parser = verbs.add_parser("grade", help="grade a submission with every test and write results.json (not yet available)")
    grade_parser.add_argument("folder", metavar="DIR")
    grade_parser.add_argument("--results", default="results.json", metavar="FILE")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb == "check":
        return check(args.folder)
    if args.verb == "grade":
        print("grade: the full grader (hidden tests, results.json) is not built yet; use `check` for the public cases", file=sys.stderr)
        return 2
    parser.print_help()
    return 0
